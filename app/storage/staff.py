"""Staff accounts, their passwords, login sessions and CSRF tokens.

All of it lives in the database, never in process memory: a session opened on one instance is
valid on every other one behind the load balancer, and failed logins slow guessing on all of them.
Nothing here knows about supporters.

Guessing is slowed per account and client, and per account across all clients. A client is its
address (an IPv6 /64) or, for a browser that logged in to this account before, its device cookie;
either is stored only as a keyed hash (HMAC with SECRET_KEY). Each client gets a few free tries,
then a lock that doubles, so a stranger locks out only themselves. All clients together get a
budget of failures per hour and per day; once it is spent, only browsers holding the account's
device cookie may try, so a crowd of strangers cannot lock the owner out either.
"""

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, Signer, TimestampSigner
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from app.ratelimit import client_address
from app.storage.models import LoginFailure, RecoveryCode, Staff, StaffSession

MIN_PASSWORD_LENGTH = 12
LOGIN_FORM_MAX_AGE = 3600
# Per client: free tries, then a lock doubling from 30 s to an hour. One client alone gets at
# most 11 tries in an hour and 34 in a day.
FREE_ATTEMPTS = 5
FIRST_LOCK = timedelta(seconds=30)
LONGEST_LOCK = timedelta(hours=1)
# Per account, all clients together: above what one client can do alone, so that one stranger
# cannot close the account to new browsers; at most 60 guesses a day, however many clients.
ACCOUNT_CEILINGS = ((timedelta(hours=1), 20), (timedelta(days=1), 60))
FAILURE_MEMORY = timedelta(days=1)
DEVICE_MAX_AGE = 90 * 24 * 3600

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_EMAIL = re.compile(
    r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+\.[^@\s\x00-\x1f\x7f-\x9f]+$"
)
_hasher = PasswordHasher()
_dummy_hash: str | None = None
# Each role may do what the one before it may, and more: `viewer` reads the numbers and the
# export, `organiser` also steers the campaign, `admin` also manages staff accounts.
ROLES = ("viewer", "organiser", "admin")
DEFAULT_ROLE = "organiser"


class StaffError(ValueError):
    """An account could not be created or changed; the message says why."""


class LoginRefused(Exception):
    """Wrong email or password. One message for both, so the form does not reveal who is staff."""


class LoginLocked(LoginRefused):
    """Too many failed logins from this client, or for this account from new browsers: they may
    try again at `until`."""

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


def add_staff(
    db: Session, email: str, password: str, now: datetime, role: str = DEFAULT_ROLE
) -> Staff:
    email = normalise_email(email)
    check_role(role)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if db.scalar(select(Staff.id).where(Staff.email == email)) is not None:
        raise StaffError(f"{email} already has an account")
    staff = Staff(email=email, password_hash=_hasher.hash(password), created_at=now, role=role)
    db.add(staff)
    db.flush()
    return staff


def remove_staff(db: Session, email: str) -> bool:
    """Delete the account and its sessions; paper-letter entries it made stay, unattributed."""
    staff_id = db.scalar(select(Staff.id).where(Staff.email == normalise_email(email)))
    if staff_id is None:
        return False
    db.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))
    db.execute(delete(LoginFailure).where(LoginFailure.staff_id == staff_id))
    db.execute(delete(RecoveryCode).where(RecoveryCode.staff_id == staff_id))
    db.execute(delete(Staff).where(Staff.id == staff_id))
    return True


# --- roles --------------------------------------------------------------------------------------


class LastAdmin(StaffError):
    """The change would leave no account that may manage staff accounts."""


def may(role: str, needed: str) -> bool:
    """Whether an account of `role` may do what `needed` may. A role this version does not know
    (a row edited by hand) may do nothing."""
    if role not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise StaffError(f"the role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def set_role(db: Session, staff: Staff, role: str) -> str:
    """Give the account `role`; returns the role it had. Refuses to take the role of the last
    admin away. The admins' rows are locked first (on PostgreSQL), so two admins demoting each
    other at once cannot both succeed."""
    check_role(role)
    before = staff.role
    if before == "admin" and role != "admin":
        admins = db.scalars(select(Staff.id).where(Staff.role == "admin").with_for_update()).all()
        if list(admins) == [staff.id]:
            raise LastAdmin(
                f"{staff.email} is the only admin: make another account admin first, "
                "so that someone can still manage staff accounts"
            )
    staff.role = role
    db.flush()
    return before


def find_staff(db: Session, email: str) -> Staff | None:
    return db.scalar(select(Staff).where(Staff.email == normalise_email(email)))


def unlock_staff(db: Session, email: str) -> bool:
    """Forget the account's failed logins: every client's lock and the account's spent budget.
    For staff on a new browser while strangers keep the budget spent."""
    staff_id = db.scalar(select(Staff.id).where(Staff.email == normalise_email(email)))
    if staff_id is None:
        return False
    db.execute(delete(LoginFailure).where(LoginFailure.staff_id == staff_id))
    return True


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
    fields = [
        staff.email,
        staff.role,
        f"created {as_utc(staff.created_at):%Y-%m-%d}",
        f"{sessions} sessions",
    ]
    if staff.totp_secret is not None:
        fields.append("second factor")
    failures = [f for f in staff.login_failures if as_utc(f.failed_at) > now - FAILURE_MEMORY]
    if failures:
        fields.append(f"{len(failures)} failed logins in 24 h")
    locks = [
        until
        for client in {f.client for f in failures}
        if (until := client_locked_until(failures, client)) and until > now
    ]
    if locks:
        fields.append(f"locked until {max(locks):%Y-%m-%d %H:%M} UTC for {len(locks)} clients")
    closed = new_clients_refused_until(failures, now)
    if closed:
        fields.append(f"new browsers refused until {closed:%Y-%m-%d %H:%M} UTC")
    return "\t".join(fields)


# --- logging in ---------------------------------------------------------------------------------


def lock_period(failures: int) -> timedelta:
    """No lock for the first few mistakes, then a lock that doubles with each further one."""
    if failures < FREE_ATTEMPTS:
        return timedelta(0)
    return min(FIRST_LOCK * 2 ** min(failures - FREE_ATTEMPTS, 16), LONGEST_LOCK)


def client_locked_until(failures: Iterable[LoginFailure], client: str) -> datetime | None:
    """When this client may try again after its recent failures, if it is locked at all."""
    times = sorted(as_utc(f.failed_at) for f in failures if f.client == client)
    lock = lock_period(len(times))
    return times[-1] + lock if lock else None


def new_clients_refused_until(failures: Iterable[LoginFailure], now: datetime) -> datetime | None:
    """While the account's budget of failures is spent, when it opens again: once enough of the
    counted failures have left their window."""
    times = sorted(as_utc(f.failed_at) for f in failures)
    closed = [
        recent[-ceiling] + window
        for window, ceiling in ACCOUNT_CEILINGS
        if len(recent := [t for t in times if t > now - window]) >= ceiling
    ]
    return max(closed, default=None)


def _address_key(secret: str, address: str) -> str:
    """The keyed hash a client's address is known by, counted as the rate limits count it
    (IPv6 per /64)."""
    return _keyed(secret, f"address {client_address(address)}")


def _keyed(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def authenticate(
    db: Session,
    email: str,
    password: str,
    now: datetime,
    *,
    secret: str,
    address: str,
    device: str | None = None,
) -> Staff:
    """The staff member whose password this is, or LoginRefused / LoginLocked.

    `address` is the client's, `device` its device cookie if it sent one. A locked client, or a
    new browser while the account's budget is spent, is refused without its password being
    checked; the same hashing work is done all the same, so that neither an unknown address nor
    a lock shows in the time the answer takes. The try is counted as a failure before the
    check (and forgotten if it succeeds), with the account's row locked meanwhile, so that
    concurrent guesses see each other. The caller commits either way.

    For an account with a second factor a right password forgets only its own try: the
    client's earlier failures, wrong codes among them, stay counted until its code is right
    (check_second_factor), so that typing the password again does not reset the throttle.
    """
    try:
        email = normalise_email(email)
    except StaffError:
        raise LoginRefused() from None
    db.execute(delete(LoginFailure).where(LoginFailure.failed_at <= now - FAILURE_MEMORY))
    staff = db.scalar(select(Staff).where(Staff.email == email).with_for_update())
    client, refused_until, attempt = "", None, None
    if staff is not None:
        client, refused_until, attempt = _count_try(db, staff, now, secret, address, device)
    # End the transaction before the deliberately slow hash check: on SQLite it holds the
    # database's write lock, and supporters' downloads should not wait for a login.
    db.commit()
    if staff is None:
        _verify(_dummy(), password)  # the same work as for a real account: no timing tell
        raise LoginRefused()
    if refused_until is not None:
        _verify(_dummy(), password)
        raise LoginLocked(refused_until)
    if not _verify(staff.password_hash, password):
        raise LoginRefused()
    if staff.totp_secret is None:
        _forget_failures(db, staff.id, client)
    elif attempt is not None:
        db.execute(delete(LoginFailure).where(LoginFailure.id == attempt.id))
    if _hasher.check_needs_rehash(staff.password_hash):
        db.execute(
            update(Staff).where(Staff.id == staff.id).values(password_hash=_hasher.hash(password))
        )
    return staff


def _count_try(
    db: Session, staff: Staff, now: datetime, secret: str, address: str, device: str | None
) -> tuple[str, datetime | None, LoginFailure | None]:
    """A try at the account, a password or a code alike: the client's key; if the client is
    refused, until when; if not, the failure the try is counted as before its check."""
    known = _device_nonce(secret, device, staff, now)
    client = _keyed(secret, f"device {known}") if known else _address_key(secret, address)
    failures = db.scalars(
        select(LoginFailure).where(
            LoginFailure.staff_id == staff.id, LoginFailure.failed_at > now - FAILURE_MEMORY
        )
    ).all()
    locks = [client_locked_until(failures, client)]
    if not known:
        locks.append(new_clients_refused_until(failures, now))
    refused_until = max((t for t in locks if t and t > now), default=None)
    if refused_until is not None:
        return client, refused_until, None
    attempt = LoginFailure(staff_id=staff.id, client=client, failed_at=now)
    db.add(attempt)
    return client, None, attempt


def _forget_failures(db: Session, staff_id: int, client: str) -> None:
    db.execute(
        delete(LoginFailure).where(LoginFailure.staff_id == staff_id, LoginFailure.client == client)
    )


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


# --- device cookies: browsers that logged in to an account before ------------------------------


def _device_signer(secret: str) -> Signer:
    return Signer(secret, salt="letter-campaign.staff-device")


def new_device_cookie(staff: Staff, secret: str, now: datetime) -> str:
    """Given at each login: the browser may try this account while strangers have spent its
    budget of failures."""
    value = f"{staff.id}.{int(now.timestamp())}.{secrets.token_urlsafe(16)}"
    return _device_signer(secret).sign(value).decode()


def _device_nonce(secret: str, cookie: str | None, staff: Staff, now: datetime) -> str | None:
    """The random part of a device cookie that we gave for this account in the last
    DEVICE_MAX_AGE seconds."""
    try:
        value = _device_signer(secret).unsign(cookie or "").decode()
        staff_id, issued, nonce = value.split(".", 2)
        age = now.timestamp() - int(issued)
    except (BadSignature, ValueError):
        return None
    if staff_id != str(staff.id) or age > DEVICE_MAX_AGE:
        return None
    return nonce


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


# --- the second factor: time-based one-time passwords (RFC 6238) and recovery codes ------------

# Steps of 30 seconds either side of the server's that a code may be for: a phone's clock a
# little off, or a code typed as it changed.
TOTP_DRIFT = 1
RECOVERY_CODES = 10
RECOVERY_CODE_LENGTH = 10
_RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # nothing to misread: no 0, o, 1, l, i
_SIX_DIGITS = re.compile(r"^[0-9]{6}$")
SECOND_STEP_MAX_AGE = 300


def second_factor_required(role: str, require_totp: str) -> bool:
    """Whether REQUIRE_TOTP (`admin`, `organiser`, `all` or `none`) makes an account of this
    role log in with a second factor: `organiser` means organisers and admins."""
    if require_totp == "all":
        return True
    if require_totp == "organiser":
        return role in ("organiser", "admin")
    return require_totp == "admin" and role == "admin"


def enrol_second_factor(db: Session, staff: Staff, issuer: str) -> tuple[str, list[str]]:
    """A new TOTP secret and RECOVERY_CODES new recovery codes for the account, replacing any
    it had. Returns the otpauth:// URI for an authenticator app and the codes as staff type
    them: both are shown this once, and the codes are kept only as Argon2 hashes, like
    passwords, since they need nothing but the database to check (a hash keyed with
    SECRET_KEY would need the server's key wherever `letter-campaign staff totp` runs, and
    would break at every change of the key)."""
    secret = pyotp.random_base32()  # 160 bits, as RFC 4226 recommends
    staff.totp_secret, staff.totp_last_step = secret, None
    db.execute(delete(RecoveryCode).where(RecoveryCode.staff_id == staff.id))
    codes = [
        "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        for _ in range(RECOVERY_CODES)
    ]
    db.add_all(RecoveryCode(staff_id=staff.id, code_hash=_hasher.hash(code)) for code in codes)
    db.flush()
    totp = pyotp.TOTP(secret)
    uri = totp.provisioning_uri(name=staff.email, issuer_name=issuer.replace(":", " ").strip())
    return uri, [f"{code[:5]}-{code[5:]}" for code in codes]


def remove_second_factor(db: Session, staff: Staff) -> bool:
    """The account logs in with its password alone again (unless REQUIRE_TOTP says otherwise);
    False if it had no second factor."""
    if staff.totp_secret is None:
        return False
    staff.totp_secret, staff.totp_last_step = None, None
    db.execute(delete(RecoveryCode).where(RecoveryCode.staff_id == staff.id))
    db.flush()
    return True


def check_second_factor(
    db: Session,
    staff_id: int,
    code: str,
    now: datetime,
    *,
    secret: str,
    address: str,
    device: str | None = None,
) -> Staff:
    """The staff member whose password was right (`staff_id`, from the second step's signed
    token), if `code` is their six-digit code or one of their unused recovery codes; else
    LoginRefused / LoginLocked.

    A code is a try like a password: counted as a failure before its check, against the same
    locks and budget, and the client's failures are forgotten only when it is right. A code
    opens one login: its step must be later than the last one used, and a recovery code is
    marked used, each by an update that only one of two concurrent logins can make. The
    caller commits either way.
    """
    db.execute(delete(LoginFailure).where(LoginFailure.failed_at <= now - FAILURE_MEMORY))
    staff = db.scalar(select(Staff).where(Staff.id == staff_id).with_for_update())
    if staff is None or staff.totp_secret is None:
        raise LoginRefused()  # removed, or its second factor removed, since the password
    client, refused_until, _ = _count_try(db, staff, now, secret, address, device)
    if refused_until is not None:
        raise LoginLocked(refused_until)
    typed = "".join(code.split()).replace("-", "").lower()
    if _SIX_DIGITS.match(typed):
        right = _use_totp_code(db, staff, typed, now)
    elif len(typed) == RECOVERY_CODE_LENGTH and set(typed) <= set(_RECOVERY_ALPHABET):
        right = _use_recovery_code(db, staff.id, typed, now)
    else:
        right = False
    if not right:
        raise LoginRefused()
    _forget_failures(db, staff.id, client)
    return staff


def _use_totp_code(db: Session, staff: Staff, code: str, now: datetime) -> bool:
    """Whether `code` is the account's code for a step around `now` that is later than the
    last one used; if so, that step is used up."""
    totp = pyotp.TOTP(staff.totp_secret or "")
    current = totp.timecode(now)
    for step in range(current - TOTP_DRIFT, current + TOTP_DRIFT + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            later = or_(Staff.totp_last_step.is_(None), Staff.totp_last_step < step)
            used = db.execute(
                update(Staff).where(Staff.id == staff.id, later).values(totp_last_step=step)
            )
            return used.rowcount == 1
    return False


def _use_recovery_code(db: Session, staff_id: int, code: str, now: datetime) -> bool:
    """Whether `code` is one of the account's unused recovery codes; if so, it is used up."""
    unused = db.execute(
        select(RecoveryCode.id, RecoveryCode.code_hash).where(
            RecoveryCode.staff_id == staff_id, RecoveryCode.used_at.is_(None)
        )
    ).all()
    # End the transaction before the slow hash checks, as for a password.
    db.commit()
    for row_id, code_hash in unused:
        if _verify(code_hash, code):
            used = db.execute(
                update(RecoveryCode)
                .where(RecoveryCode.id == row_id, RecoveryCode.used_at.is_(None))
                .values(used_at=now)
            )
            return used.rowcount == 1
    return False


def _second_step_signer(secret: str) -> Signer:
    return Signer(secret, salt="letter-campaign.second-step")


def new_second_step_token(staff: Staff, secret: str, now: datetime) -> str:
    """Given for a right password to an account with a second factor: says "the password of
    staff N was right" for SECOND_STEP_MAX_AGE seconds, and opens nothing but the code form."""
    value = f"{staff.id}.{int(now.timestamp())}.{secrets.token_urlsafe(16)}"
    return _second_step_signer(secret).sign(value).decode()


def second_step_staff_id(
    secret: str, cookie: str | None, submitted: str, now: datetime
) -> int | None:
    """The account whose password was right, if the code form carries the same token as the
    cookie and we signed it less than SECOND_STEP_MAX_AGE seconds ago."""
    if not cookie or not submitted or not secrets.compare_digest(cookie, submitted):
        return None
    try:
        value = _second_step_signer(secret).unsign(cookie).decode()
        staff_id, issued, _ = value.split(".", 2)
        age = now.timestamp() - int(issued)
        return int(staff_id) if 0 <= age <= SECOND_STEP_MAX_AGE else None
    except (BadSignature, ValueError):
        return None
