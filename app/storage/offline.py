"""Paper letters: letters collected at events and entered by staff as a number per official.

They carry no supporter data at all, only how many letters, to whom, on which day, and a note
about the event.
"""

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.campaign import Campaign
from app.rich_text import plain_text
from app.storage.models import OfflineLetters, Staff
from app.storage.operations import audit

MAX_COUNT = 100_000
MAX_NOTE = 500
EARLIEST = date(2018, 1, 1)  # the report this campaign comes from was published in 2018


class InvalidEntry(ValueError):
    """The form was filled in wrongly; `errors` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {error}" for field, error in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class PaperEntry:
    id: int
    recipient_id: str
    count: int
    collected_on: date
    note: str
    entered_by: str | None


def parse_entry(
    campaign: Campaign, recipient_id: str, count: str, collected_on: str, note: str, today: date
) -> tuple[str, int, date, str]:
    """The form's four fields checked together, so every mistake is reported at once."""
    errors: dict[str, str] = {}
    if campaign.recipient(recipient_id) is None:
        errors["official"] = "choose one of the campaign's officials"
    count = count.strip()
    number = int(count) if count.isdecimal() and len(count) <= 9 else 0
    if not 1 <= number <= MAX_COUNT:
        errors["number"] = f"a whole number from 1 to {MAX_COUNT:,}"
    day = today
    try:
        day = date.fromisoformat(collected_on.strip())
    except ValueError:
        errors["date"] = "a date as YYYY-MM-DD"
    else:
        if not EARLIEST <= day <= today:
            errors["date"] = f"between {EARLIEST.isoformat()} and today"
    note = plain_text(note)
    if len(note) > MAX_NOTE:
        errors["note"] = f"at most {MAX_NOTE} characters"
    if errors:
        raise InvalidEntry(errors)
    return recipient_id, number, day, note


def record_paper_letters(
    db: Session,
    recipient_id: str,
    count: int,
    collected_on: date,
    note: str,
    staff_id: int,
    now: datetime,
    actor: str,
) -> None:
    """The entry, and a line in the audit log in the same transaction."""
    db.add(
        OfflineLetters(
            recipient_id=recipient_id,
            count=count,
            collected_on=collected_on,
            note=note,
            created_by=staff_id,
            created_at=now,
        )
    )
    audit(db, actor, "paper letters recorded", f"{count} to {recipient_id}, {collected_on}")


def delete_paper_letters(db: Session, entry_id: int, actor: str) -> bool:
    """For an entry made in error; returns whether there was one."""
    entry = db.get(OfflineLetters, entry_id)
    if entry is None:
        return False
    if not db.execute(delete(OfflineLetters).where(OfflineLetters.id == entry_id)).rowcount:
        return False  # deleted meanwhile, by a request that read it too
    detail = f"{entry.count} to {entry.recipient_id}, {entry.collected_on}"
    audit(db, actor, "paper letters deleted", detail)
    return True


def paper_entries(db: Session, limit: int) -> list[PaperEntry]:
    """The latest entries, newest event first."""
    rows = db.execute(
        select(OfflineLetters, Staff.email)
        .outerjoin(Staff, Staff.id == OfflineLetters.created_by)
        .order_by(OfflineLetters.collected_on.desc(), OfflineLetters.id.desc())
        .limit(limit)
    )
    return [
        PaperEntry(e.id, e.recipient_id, e.count, e.collected_on, e.note, email)
        for e, email in rows
    ]
