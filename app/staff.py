"""Staff accounts, their passwords, login sessions and CSRF tokens.

All of it lives in the database, never in process memory: a session opened on one instance is
valid on every other one behind the load balancer, and a lock set after failed logins holds on all
of them. Nothing here knows about supporters.
"""

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, Signer, TimestampSigner
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app.models import Staff, StaffSession

MIN_PASSWORD_LENGTH = 12
FREE_ATTEMPTS = 5
FIRST_LOCK = timedelta(seconds=30)
LONGEST_LOCK = timedelta(hours=1)
LOGIN_FORM_MAX_AGE = 3600

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_EMAIL = re.compile(
    r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+\.[^@\s\x00-\x1f\x7f-\x9f]+$"
)
_hasher = PasswordHasher()
_dummy_hash: str | None = None


class StaffError(ValueError):
    """An account could not be created or changed; the message says why."""


class LoginRefused(Exception):
    """Wrong email or password. One message for both, so the form does not reveal who is staff."""


class LoginLocked(LoginRefused):
    """Too many failed logins for this account: it opens again at `until`."""

    def __init__(self, until: datetime) -> None:
        super().__init__(until)
        self.until = until


def utc_now() -> datetime:
    """The clock, as a FastAPI dependency, so tests move time instead of sleeping."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored here is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def has_control_characters(text: str) -> bool:
    return _CONTROL.search(text) is not None


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise StaffError(f"{email!r} is not an email address")
    return email


# --- accounts -----------------------------------------------------------------------------------


def add_staff(db: Session, email: str, password: str, now: datetime) -> Staff:
    email = normalise_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if db.scalar(select(Staff.id).where(Staff.email == email)) is not None:
        raise StaffError(f"{email} already has an account")
    staff = Staff(
        email=email, password_hash=_hasher.hash(password), failed_logins=0, created_at=now
    )
    db.add(staff)
    db.flush()
    return staff


def remove_staff(db: Session, email: str) -> bool:
    """Delete the account and its sessions; paper-letter entries it made stay, unattributed."""
    staff_id = db.scalar(select(Staff.id).where(Staff.email == normalise_email(email)))
    if staff_id is None:
        return False
    db.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))
    db.execute(delete(Staff).where(Staff.id == staff_id))
    return True


def unlock_staff(db: Session, email: str) -> bool:
    """Lift a lock after failed logins. A lock is answered like any wrong login, so a stranger
    guessing can keep an account locked; staff then ask whoever runs the service."""
    done = db.execute(
        update(Staff)
        .where(Staff.email == normalise_email(email))
        .values(failed_logins=0, locked_until=None)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def list_staff(db: Session, now: datetime) -> list[tuple[Staff, int]]:
    """Every account with its number of live sessions, by email."""
    open_sessions = (
        select(func.count())
        .where(StaffSession.staff_id == Staff.id, StaffSession.expires_at > now)
        .correlate(Staff)
        .scalar_subquery()
    )
    return [
        (staff, count)
        for staff, count in db.execute(select(Staff, open_sessions).order_by(Staff.email))
    ]


def describe(staff: Staff, sessions: int, now: datetime) -> str:
    """One line of `letter-campaign staff list`: tab-separated, for people and for cut(1)."""
    fields = [staff.email, f"created {as_utc(staff.created_at):%Y-%m-%d}", f"{sessions} sessions"]
    if staff.locked_until is not None and as_utc(staff.locked_until) > now:
        fields.append(f"locked until {as_utc(staff.locked_until):%Y-%m-%d %H:%M} UTC")
    return "\t".join(fields)


# --- logging in ---------------------------------------------------------------------------------


def lock_period(failures: int) -> timedelta:
    """No lock for the first few mistakes, then a lock that doubles with each further one."""
    if failures < FREE_ATTEMPTS:
        return timedelta(0)
    return min(FIRST_LOCK * 2 ** min(failures - FREE_ATTEMPTS, 16), LONGEST_LOCK)


def authenticate(db: Session, email: str, password: str, now: datetime) -> Staff:
    """The staff member whose password this is, or LoginRefused / LoginLocked.

    A locked account is refused without its password being checked, so guessing stops while it
    is locked; the same hashing work is done all the same, so that neither an unknown address
    nor a lock shows in the time the answer takes. The caller commits either way: the failure
    counter is part of the answer.
    """
    try:
        email = normalise_email(email)
    except StaffError:
        raise LoginRefused() from None
    staff = db.scalar(select(Staff).where(Staff.email == email))
    # End the read before the deliberately slow hash check: on SQLite a transaction holds the
    # database's write lock, and supporters' downloads should not wait for a login.
    db.commit()
    if staff is None:
        _verify(_dummy(), password)  # the same work as for a real account: no timing tell
        raise LoginRefused()
    if staff.locked_until is not None and as_utc(staff.locked_until) > now:
        _verify(_dummy(), password)
        raise LoginLocked(as_utc(staff.locked_until))
    if _verify(staff.password_hash, password):
        values: dict = {"failed_logins": 0, "locked_until": None}
        if _hasher.check_needs_rehash(staff.password_hash):
            values["password_hash"] = _hasher.hash(password)
        db.execute(update(Staff).where(Staff.id == staff.id).values(**values))
        return staff
    failures = db.scalar(
        update(Staff)
        .where(Staff.id == staff.id)
        .values(failed_logins=Staff.failed_logins + 1)
        .returning(Staff.failed_logins)
    )
    lock = lock_period(failures or 0)
    if lock:
        db.execute(update(Staff).where(Staff.id == staff.id).values(locked_until=now + lock))
        raise LoginLocked(now + lock)
    raise LoginRefused()


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hash


# --- sessions -----------------------------------------------------------------------------------


def _id_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _session_signer(secret: str) -> Signer:
    return Signer(secret, salt="letter-campaign.staff-session")


def open_session(
    db: Session, staff: Staff, now: datetime, max_age: int, secret: str, previous: str | None
) -> str:
    """A fresh session for a staff member who just logged in; returns the cookie value.

    The session the browser had before, if any, is closed: a session id planted before login
    opens nothing after it. Expired sessions of everyone are swept away at the same time.
    """
    if previous:
        close_session(db, previous, secret)
    db.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    db.add(
        StaffSession(
            id_hash=_id_hash(token),
            staff_id=staff.id,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=now + timedelta(seconds=max_age),
        )
    )
    return _session_signer(secret).sign(token).decode()


def _token_of(cookie: str, secret: str) -> str | None:
    try:
        return _session_signer(secret).unsign(cookie).decode()
    except BadSignature:
        return None


def find_session(
    db: Session, cookie: str | None, secret: str, now: datetime
) -> StaffSession | None:
    """The live session this cookie names; an expired one opens nothing (the next login sweeps
    it away)."""
    token = _token_of(cookie, secret) if cookie else None
    if token is None:
        return None
    row = db.get(StaffSession, _id_hash(token))
    if row is None or as_utc(row.expires_at) <= now:
        return None
    return row


def close_session(db: Session, cookie: str, secret: str) -> None:
    token = _token_of(cookie, secret)
    if token is not None:
        db.execute(delete(StaffSession).where(StaffSession.id_hash == _id_hash(token)))


def csrf_matches(row: StaffSession, submitted: str) -> bool:
    return bool(submitted) and secrets.compare_digest(row.csrf_token, submitted)


# --- the login form's CSRF token: no session exists yet, so a signed double-submit token --------


def _login_signer(secret: str) -> TimestampSigner:
    return TimestampSigner(secret, salt="letter-campaign.login-form")


def new_login_token(secret: str) -> str:
    return _login_signer(secret).sign(secrets.token_urlsafe(16)).decode()


def login_token_matches(secret: str, cookie: str | None, submitted: str) -> bool:
    """The form carries the same token as the cookie, and we signed it not long ago."""
    if not cookie or not submitted or not secrets.compare_digest(cookie, submitted):
        return False
    try:
        _login_signer(secret).unsign(submitted, max_age=LOGIN_FORM_MAX_AGE)
    except BadSignature:
        return False
    return True
