"""Recording generated letters and their posting, as anonymous rows that can only count."""

import hashlib
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, and_, func, insert, select, text, update
from sqlalchemy.orm import Session

from app.campaign import Recipient
from app.storage.counts import add_to_counts, add_to_embed_count, add_to_event
from app.storage.models import Letter


class UnknownToken(LookupError):
    """No letters were generated under this token."""


@dataclass(frozen=True)
class PostedCount:
    letters: int
    sent: int


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _insert(
    session: Session,
    hashed: str,
    recipients: Sequence[Recipient],
    language: str,
    country: str,
    today: date,
    embed_origin: str | None = None,
    event_id: int | None = None,
) -> None:
    session.execute(
        insert(Letter),
        [
            {
                "token_hash": hashed,
                "recipient_id": recipient.id,
                "language": language,
                "country": country,
                "generated_on": today,
                "event_id": event_id,
            }
            for recipient in recipients
        ],
    )
    counted = [(recipient.id, language, country, today) for recipient in recipients]
    add_to_counts(session, counted, "generated")
    if event_id is not None:
        add_to_event(session, event_id, packs=1, generated=len(recipients))
    if embed_origin is not None:
        add_to_embed_count(session, embed_origin, len(recipients))


def record_pack(
    session: Session,
    recipients: Sequence[Recipient],
    language: str,
    country: str,
    today: date,
    embed_origin: str | None = None,
) -> str:
    """One row per letter, all or none; returns the token the supporter keeps to say "posted".
    `embed_origin`: made through the form framed on that site, counted for it too."""
    token = new_token()
    hashed = token_hash(token)
    _insert(session, hashed, recipients, language, country, today, embed_origin)
    return token


def record_pack_once(
    session: Session,
    token: str,
    recipients: Sequence[Recipient],
    language: str,
    country: str,
    today: date,
    embed_origin: str | None = None,
    event_id: int | None = None,
) -> list[str]:
    """Like record_pack, under a token minted before the supporter said "create my letters".

    The web form can keep nothing between requests, so a reload of the thank-you page, a double
    click or the back button posts the same confirmation again; with the token fixed in advance
    the second post finds the letters already counted. Returns the ids of the token's officials.
    `event_id`: made at that write-a-thon's kiosk (app/routes/kiosk.py).
    """
    hashed = token_hash(token)
    if session.get_bind().dialect.name == "postgresql":
        # Two posts at the same moment: the second waits here, then finds the first's rows.
        key = int(hashed[:15], 16)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    existing = session.scalars(
        select(Letter.recipient_id).where(Letter.token_hash == hashed).order_by(Letter.id)
    ).all()
    if existing:
        return list(existing)
    _insert(session, hashed, recipients, language, country, today, embed_origin, event_id)
    return [recipient.id for recipient in recipients]


def _mark_posted(session: Session, letters: ColumnElement[bool], today: date) -> int:
    """Mark `letters` posted today. A letter already marked keeps its first date, so marking it
    twice, or from two requests at once, counts once: the update only touches rows still
    unsent, and the running counts grow by exactly the rows it returns, in the same
    transaction. Returns how many were marked."""
    statement = (
        update(Letter)
        .where(letters, Letter.sent_on.is_(None))
        .values(sent_on=today)
        .returning(Letter.recipient_id, Letter.language, Letter.country, Letter.event_id)
        .execution_options(synchronize_session=False)
    )
    changed = session.execute(statement).all()
    posted = [(rid, lang, country, today) for rid, lang, country, _ in changed]
    add_to_counts(session, posted, "sent")
    at_events = Counter(event_id for *_, event_id in changed if event_id is not None)
    for event_id, sent in sorted(at_events.items()):
        add_to_event(session, event_id, sent=sent)
    return len(changed)


def confirm_posted(
    session: Session, token: str, today: date, recipient_ids: Sequence[str] | None = None
) -> PostedCount:
    """A supporter says their letters (or some of them) are posted."""
    letters = Letter.token_hash == token_hash(token)
    if recipient_ids is not None:
        letters = and_(letters, Letter.recipient_id.in_(list(recipient_ids)))
    _mark_posted(session, letters, today)
    return posted_count(session, token)


def post_event_letters(session: Session, event_id: int, today: date) -> int:
    """Staff took the letters written at a write-a-thon to the post office: every one not yet
    posted is posted today. Returns how many that was."""
    return _mark_posted(session, Letter.event_id == event_id, today)


def posted_count(session: Session, token: str) -> PostedCount:
    letters, sent = session.execute(
        select(func.count(), func.count(Letter.sent_on)).where(
            Letter.token_hash == token_hash(token)
        )
    ).one()
    if not letters:
        raise UnknownToken(token)
    return PostedCount(letters=letters, sent=sent)


def letters_of(session: Session, token: str) -> list[tuple[str, date | None]]:
    """(official, posted on) for each letter of a download, for the private "posted" page."""
    rows = session.execute(
        select(Letter.recipient_id, Letter.sent_on)
        .where(Letter.token_hash == token_hash(token))
        .order_by(Letter.id)
    ).all()
    if not rows:
        raise UnknownToken(token)
    return [(recipient_id, sent_on) for recipient_id, sent_on in rows]
