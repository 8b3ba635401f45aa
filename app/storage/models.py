"""Database tables. They hold counts, never a supporter's name, address, message or signature."""

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Letter(Base):
    """One generated letter: which official, in which language, from which country, on which day.

    `token_hash` is the SHA-256 of the random token given to the supporter's browser for the
    "I have posted them" link; the token itself is not kept.
    """

    __tablename__ = "letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), index=True)
    recipient_id: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(2))
    country: Mapped[str] = mapped_column(String(2))
    generated_on: Mapped[date] = mapped_column(Date)
    sent_on: Mapped[date | None] = mapped_column(Date, default=None)
    # Written at a write-a-thon's kiosk (app/routes/kiosk.py); the index holds only those.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"), default=None)

    __table_args__ = (
        Index(
            "ix_letters_event_id",
            "event_id",
            sqlite_where=text("event_id IS NOT NULL"),
            postgresql_where=text("event_id IS NOT NULL"),
        ),
    )


class LetterTotal(Base):
    """Running totals of online letters per official, letter language and country, written in the
    same transaction as the letter rows they count, so the public counter and the dashboard read a
    few hundred rows however many millions of letters there are."""

    __tablename__ = "letter_totals"

    recipient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    language: Mapped[str] = mapped_column(String(2), primary_key=True)
    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    generated: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)


class LetterDay(Base):
    """Letters generated and confirmed posted per day and official (posted on the day of the
    confirmation), kept like LetterTotal: the chart and the CSV export read these rows."""

    __tablename__ = "letter_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    recipient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    generated: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)


class EmbedCount(Base):
    """Packs and letters made through the form framed on an allowed site (EMBED_ORIGINS), per
    origin the snippet names: the origin only, nothing about the visitor. Written in the same
    transaction as the letter rows (app/storage/letters.py)."""

    __tablename__ = "embed_counts"

    origin: Mapped[str] = mapped_column(String(255), primary_key=True)
    packs: Mapped[int] = mapped_column(Integer, default=0)
    generated: Mapped[int] = mapped_column(Integer, default=0)


class Event(Base):
    """A write-a-thon: supporters write one after another on a shared computer through the
    kiosk link, which works on `held_on` (in EVENT_TIME_ZONE) until staff end it.

    The kiosk token is kept as it is, not hashed: staff open the link from the steering page
    whenever they need it, and it makes letters only on the event's day."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    held_on: Mapped[date] = mapped_column(Date)
    place: Mapped[str] = mapped_column(String(200))
    kiosk_token: Mapped[str] = mapped_column(String(64), unique=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # What was written here, kept like LetterTotal in the letters' transactions (storage/counts.py).
    packs: Mapped[int] = mapped_column(Integer, default=0)
    generated: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)


class OfflineLetters(Base):
    """Letters collected on paper at an event, entered by staff."""

    __tablename__ = "offline_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient_id: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    collected_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    role: Mapped[str] = mapped_column(String(16), default="organiser", server_default="organiser")
    # The second factor (app/storage/staff.py; migration 0007 says how the secret is protected).
    totp_secret: Mapped[str | None] = mapped_column(String(64), default=None)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, default=None)
    login_failures: Mapped[list["LoginFailure"]] = relationship(viewonly=True)


class LoginFailure(Base):
    """A wrong password given for a staff account, kept a day to slow guessing (storage/staff.py).

    `client` is a keyed hash (HMAC with SECRET_KEY) of the client's address or of its device
    cookie; the address itself is not kept.
    """

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_staff_id_failed_at", "staff_id", "failed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    client: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class RecoveryCode(Base):
    """One of the ten codes printed at enrolment, for staff without their authenticator:
    Argon2-hashed like passwords, and good for one login (`used_at`)."""

    __tablename__ = "staff_recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class StaffSession(Base):
    """A logged-in staff member. Deleting the row logs out: an old cookie then opens nothing."""

    __tablename__ = "staff_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CampaignState(Base):
    """Whether supporters may write now: `open`, `paused` or `closed`, with a public message per
    UI language. One row; read on every request so that every instance sees a change at once."""

    __tablename__ = "campaign_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(10))
    message: Mapped[dict] = mapped_column(JSON, default=dict)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OfficialPause(Base):
    """An official no letters go to for now (left office, moved, the family asked)."""

    __tablename__ = "official_pauses"

    recipient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    paused_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OfficialCheck(Base):
    """Staff checked who holds an office, and its address, and found recipients.yaml right: the
    official counts as checked from `checked_at` (UTC) on, as if `verified` said that day."""

    __tablename__ = "official_checks"
    __table_args__ = (
        Index("ix_official_checks_recipient_id_checked_at", "recipient_id", "checked_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient_id: Mapped[str] = mapped_column(String(64))
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(254))
    source_url: Mapped[str | None] = mapped_column(Text, default=None)
    note: Mapped[str] = mapped_column(Text, default="")


class Reply(Base):
    """An official's answer, as staff summarise it."""

    __tablename__ = "replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient_id: Mapped[str] = mapped_column(String(64), index=True)
    received_on: Mapped[date] = mapped_column(Date)
    summary: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CaseUpdate(Base):
    """News of the case for the campaign page and the Atom feed; text per UI language."""

    __tablename__ = "case_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    posted_on: Mapped[date] = mapped_column(Date, index=True)
    text: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """Who did what, when: every staff action that changes the campaign."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
