"""Steering the campaign: open, pause or close it, pause one official, record that an official
was checked, record replies, post and delete case updates. Every change is written to the audit
log in the same transaction as the change itself, and every text staff give is stored as
plain_text() makes it."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal
from urllib.parse import urlsplit

from sqlalchemy import DateTime, String, cast, delete, func, null, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.campaign import Campaign, Recipient
from app.rich_text import first_line, plain_text
from app.storage.models import (
    AuditEntry,
    CampaignState,
    CaseUpdate,
    OfficialCheck,
    OfficialPause,
    Reply,
)

State = Literal["open", "paused", "closed"]
STATES: tuple[State, ...] = ("open", "paused", "closed")
UI_LANGUAGES = ("en", "ru", "kk")
SOURCE_PROBLEM = "source: give a web address starting with http:// or https://, or none"
NOTE_LIMIT = 2000


class OperationError(ValueError):
    """A staff action that cannot be done; the message says why."""


@dataclass(frozen=True)
class Status:
    state: State
    message: dict[str, str]

    @property
    def is_open(self) -> bool:
        return self.state == "open"

    def message_in(self, lang: str) -> str:
        """The message in the UI language, else in English, else in any language given."""
        return in_language(self.message, lang)


def in_language(texts: dict[str, str], lang: str) -> str:
    """A text staff gave per UI language: in `lang`, else English, else any given."""
    return texts.get(lang) or texts.get("en") or next(iter(texts.values()), "")


def _per_language(texts: dict[str, str]) -> dict[str, str]:
    """Texts staff gave per UI language, cleaned, the empty ones left out."""
    cleaned = {lang: plain_text(text or "") for lang, text in texts.items()}
    return {lang: text for lang, text in cleaned.items() if text}


def now() -> datetime:
    return datetime.now(UTC)


def audit(session: Session, actor: str, action: str, detail: str = "") -> None:
    session.add(AuditEntry(at=now(), actor=actor, action=action, detail=detail))


@dataclass(frozen=True)
class PackConditions:
    """What every pack asks before it is made: the campaign's state, the officials staff paused
    (id -> reason) and the day of each official's latest recorded check (id -> day, UTC)."""

    status: Status
    paused: dict[str, str]
    checked: dict[str, date]

    def last_checked(self, recipient: Recipient) -> date:
        """recipients.yaml's `verified`, or the latest check staff recorded if later."""
        recorded = self.checked.get(recipient.id)
        return max(recipient.verified, recorded) if recorded else recipient.verified

    def unverified(self, campaign: Campaign, today: date, stale_after_days: int) -> dict[str, date]:
        """Officials last checked longer ago than STALE_AFTER_DAYS -> the day they were."""
        days = {r.id: self.last_checked(r) for r in campaign.recipients}
        return {rid: day for rid, day in days.items() if (today - day).days > stale_after_days}

    def held(
        self, campaign: Campaign, today: date, stale_after_days: int, mode: str
    ) -> dict[str, date]:
        """The unverified officials that take no letters: all of them under
        UNVERIFIED_OFFICIALS=hold, none under warn."""
        return self.unverified(campaign, today, stale_after_days) if mode == "hold" else {}


def read_pack_conditions(session: Session) -> PackConditions:
    """The campaign's state, the paused officials and the latest checks in one query: every pack
    asks all three, and one round trip costs the web process less CPU than two
    (benchmarks/README.md). Nothing is cached, so a change on one instance holds on all at once."""
    no_text, no_time = cast(null(), String), cast(null(), DateTime(timezone=True))
    rows = session.execute(
        union_all(  # not UNION: PostgreSQL has no equality for json
            select(CampaignState.state, CampaignState.message, no_text, no_text, no_time).where(
                CampaignState.id == 1
            ),
            select(no_text, null(), OfficialPause.recipient_id, OfficialPause.reason, no_time),
            select(
                no_text,
                null(),
                OfficialCheck.recipient_id,
                no_text,
                func.max(OfficialCheck.checked_at),
            ).group_by(OfficialCheck.recipient_id),
        )
    ).all()
    status = Status("open", {})
    paused: dict[str, str] = {}
    checked: dict[str, date] = {}
    for state, message, recipient_id, reason, checked_at in rows:
        if recipient_id is None:
            status = Status(state, dict(message or {}))
        elif checked_at is not None:
            checked[recipient_id] = _utc(checked_at).date()
        else:
            paused[recipient_id] = reason
    return PackConditions(status, paused, checked)


def _utc(moment: datetime) -> datetime:
    """SQLite gives back the UTC moments it stores without their time zone."""
    return moment.astimezone(UTC) if moment.tzinfo else moment


def set_state(session: Session, state: str, message: dict[str, str], actor: str) -> Status:
    if state not in STATES:
        raise OperationError(f"state must be one of {', '.join(STATES)}")
    message = _per_language(message)
    unknown = set(message) - set(UI_LANGUAGES)
    if unknown:
        raise OperationError(f"message languages must be among {', '.join(UI_LANGUAGES)}")
    _put(session, CampaignState, {"id": 1}, state=state, message=message, changed_at=now())
    audit(
        session, actor, f"campaign {state}", message.get("en") or next(iter(message.values()), "")
    )
    return Status(state, message)  # type: ignore[arg-type]


def _put(
    session: Session, model: type, key: dict, *, keep: tuple[str, ...] = (), **values: object
) -> None:
    """Inserts the row, or updates it where it is (but for the columns in `keep`), in one
    statement: two first changes posted at once would otherwise both insert, and on PostgreSQL
    the second would fail on the primary key."""
    make = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = make(model).values(**key, **values)
    changed = {name: value for name, value in values.items() if name not in keep}
    session.execute(statement.on_conflict_do_update(index_elements=list(key), set_=changed))
    session.expire_all()  # a row this session loaded before is read again


def pause_official(
    session: Session, campaign: Campaign, recipient_id: str, reason: str, actor: str
):
    if campaign.recipient(recipient_id) is None:
        raise OperationError(f"no official {recipient_id!r} in this campaign")
    reason = plain_text(reason)
    if not reason:
        raise OperationError("say why the official is paused: --reason TEXT")
    pause = {"recipient_id": recipient_id}
    _put(session, OfficialPause, pause, reason=reason, paused_at=now(), keep=("paused_at",))
    audit(session, actor, "official paused", f"{recipient_id}: {reason}")


def resume_official(session: Session, campaign: Campaign, recipient_id: str, actor: str) -> None:
    if campaign.recipient(recipient_id) is None:
        raise OperationError(f"no official {recipient_id!r} in this campaign")
    session.execute(delete(OfficialPause).where(OfficialPause.recipient_id == recipient_id))
    audit(session, actor, "official resumed", recipient_id)


def source_address(source: str) -> str | None:
    """The address of a check's source, cleaned: an http(s) address with a host, or None when
    staff gave none; anything else is refused (OperationError naming the field)."""
    source = plain_text(source).strip()
    if not source:
        return None
    parts = urlsplit(source)
    try:
        parts.port  # noqa: B018 (ValueError for a port that is not a number)
    except ValueError:
        raise OperationError(SOURCE_PROBLEM) from None
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or len(source) > NOTE_LIMIT
        or any(char.isspace() for char in source)
    ):
        raise OperationError(SOURCE_PROBLEM)
    return source


def record_check(
    session: Session,
    campaign: Campaign,
    recipient_id: str,
    source: str,
    note: str,
    actor: str,
) -> OfficialCheck:
    """Staff checked who holds the office, and its address, and recipients.yaml is still right:
    the official counts as checked from now on, on every instance (read_pack_conditions)."""
    if campaign.recipient(recipient_id) is None:
        raise OperationError(f"no official {recipient_id!r} in this campaign")
    source_url = source_address(source)
    note = plain_text(note).strip()
    if len(note) > NOTE_LIMIT:
        raise OperationError(f"note: keep it under {NOTE_LIMIT:,} characters")
    check = OfficialCheck(
        recipient_id=recipient_id, checked_at=now(), actor=actor, source_url=source_url, note=note
    )
    session.add(check)
    detail = [recipient_id, f"source {source_url}" if source_url else "no source given"]
    if note:
        detail.append(first_line(note))
    audit(session, actor, "official checked", "; ".join(detail))
    return check


def add_reply(
    session: Session,
    campaign: Campaign,
    recipient_id: str,
    received_on: date,
    summary: str,
    actor: str,
) -> None:
    if campaign.recipient(recipient_id) is None:
        raise OperationError(f"no official {recipient_id!r} in this campaign")
    summary = plain_text(summary)
    if not summary:
        raise OperationError("the reply needs a short summary")
    session.add(
        Reply(
            recipient_id=recipient_id,
            received_on=received_on,
            summary=summary,
            created_at=now(),
        )
    )
    audit(session, actor, "reply recorded", f"{recipient_id}, {received_on.isoformat()}")


def replies(session: Session) -> list[Reply]:
    return list(session.scalars(select(Reply).order_by(Reply.received_on.desc(), Reply.id.desc())))


def add_update(session: Session, posted_on: date, text: dict[str, str], actor: str) -> None:
    text = _per_language(text)
    if not text:
        raise OperationError("the update needs a text in at least one language")
    if set(text) - set(UI_LANGUAGES):
        raise OperationError(f"update languages must be among {', '.join(UI_LANGUAGES)}")
    update = CaseUpdate(posted_on=posted_on, text=text, created_at=now())
    session.add(update)
    session.flush()  # its id, for the audit log and `letter-campaign update delete`
    audit(session, actor, "case update posted", f"#{update.id} of {posted_on.isoformat()}")


def delete_update(session: Session, update_id: int, actor: str) -> bool:
    """For an update posted in error; returns whether there was one. The audit log keeps its
    date and the start of its English (or first) text."""
    update = session.get(CaseUpdate, update_id)
    if update is None:
        return False
    if not session.execute(delete(CaseUpdate).where(CaseUpdate.id == update_id)).rowcount:
        return False  # deleted meanwhile, by a request that read it too
    start = first_line(in_language(update.text, "en"))
    detail = f"#{update_id} of {update.posted_on.isoformat()}: {start}"
    audit(session, actor, "case update deleted", detail)
    return True


def updates(session: Session, limit: int | None = 50) -> list[CaseUpdate]:
    return list(
        session.scalars(
            select(CaseUpdate)
            .order_by(CaseUpdate.posted_on.desc(), CaseUpdate.id.desc())
            .limit(limit)
        )
    )


def audit_log(session: Session, limit: int = 200) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
        )
    )


class PausedRecipient(ValueError):
    """A request named an official staff have paused; the reason says why."""

    def __init__(self, recipient_id: str, reason: str) -> None:
        super().__init__(f"official {recipient_id!r} is paused: {reason}")
        self.recipient_id, self.reason = recipient_id, reason


class UnverifiedRecipient(ValueError):
    """A request named an official held until staff check who holds the office
    (UNVERIFIED_OFFICIALS=hold); `last_checked` is the day they last did."""

    def __init__(self, recipient_id: str, last_checked: date) -> None:
        super().__init__(
            f"letters to {recipient_id!r} wait until the campaign checks who holds the office "
            f"(last checked on {last_checked.isoformat()})"
        )
        self.recipient_id, self.last_checked = recipient_id, last_checked


def choose_writable(
    paused: Mapping[str, str],
    campaign: Campaign,
    ids: list[str],
    held: Mapping[str, date] | None = None,
) -> list[Recipient]:
    """The officials a request names, or every official neither paused nor held when it names
    none.

    `paused` and `held` are read from the database on every request (read_pack_conditions()), so a
    pause or a check made on any instance holds at once."""
    held = held or {}

    def refuse(recipient_id: str) -> Exception:
        if recipient_id in paused:
            return PausedRecipient(recipient_id, paused[recipient_id])
        return UnverifiedRecipient(recipient_id, held[recipient_id])

    chosen = campaign.choose(ids)
    if not ids:
        chosen = [r for r in chosen if r.id not in paused and r.id not in held]
        if not chosen:
            raise refuse(campaign.recipients[0].id)
    for recipient in chosen:
        if recipient.id in paused or recipient.id in held:
            raise refuse(recipient.id)
    return chosen


@dataclass(frozen=True)
class StaffView:
    """What the dashboard shows of the campaign's steering."""

    status: Status
    paused: dict[str, str]
    stale: list[Recipient]
    last_checked: dict[str, date]
    replies_by_official: dict[str, list[Reply]]
    updates: list[CaseUpdate]
    audit: list[AuditEntry]


def staff_view(
    session: Session, campaign: Campaign, today: date, stale_after_days: int
) -> StaffView:
    by_official: dict[str, list[Reply]] = {r.id: [] for r in campaign.recipients}
    for reply in replies(session):
        by_official.setdefault(reply.recipient_id, []).append(reply)
    found = read_pack_conditions(session)
    unverified = found.unverified(campaign, today, stale_after_days)
    return StaffView(
        status=found.status,
        paused=found.paused,
        stale=[r for r in campaign.recipients if r.id in unverified],
        last_checked={r.id: found.last_checked(r) for r in campaign.recipients},
        replies_by_official=by_official,
        updates=updates(session),
        audit=audit_log(session),
    )
