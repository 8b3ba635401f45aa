"""Write-a-thons: staff create an event (name, day, place) on the steering page, and its kiosk
link lets one supporter after another write on a shared computer there.

The link works on the event's day, the calendar day in EVENT_TIME_ZONE (UTC unless set), until
staff end it: a link found on a photo of the laptop the next week makes nothing. Creating an
event, ending it and posting its letters go to the audit log in the same transaction.
"""

import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.rich_text import plain_text
from app.storage.letters import post_event_letters
from app.storage.models import Event
from app.storage.operations import OperationError, audit

TEXT_LIMIT = 200
KIOSK_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")
EventState = Literal["upcoming", "open", "ended", "past"]


def event_day(moment: datetime, zone: ZoneInfo) -> date:
    """The calendar day at `moment` where the events take place."""
    return moment.astimezone(zone).date()


def state(event: Event, today: date) -> EventState:
    """`open`: the kiosk link makes letters now; `ended`: staff ended it; `upcoming`, `past`:
    not its day."""
    if event.ended_at is not None:
        return "ended"
    if event.held_on > today:
        return "upcoming"
    return "open" if event.held_on == today else "past"


def _one_line(value: str, field: str) -> str:
    text = " ".join(plain_text(value).split())
    if not text:
        raise OperationError(f"{field}: give the event's {field}")
    if len(text) > TEXT_LIMIT:
        raise OperationError(f"{field}: at most {TEXT_LIMIT} characters")
    return text


def create_event(
    session: Session, name: str, held_on: date, place: str, today: date, actor: str, now: datetime
) -> Event:
    """A new event with a fresh kiosk link; not on a day already gone, when the link would never
    work."""
    if held_on < today:
        raise OperationError(f"date: the event's day cannot be before today ({today.isoformat()})")
    event = Event(
        name=_one_line(name, "name"),
        held_on=held_on,
        place=_one_line(place, "place"),
        kiosk_token=secrets.token_urlsafe(24),
        created_at=now,
    )
    session.add(event)
    session.flush()  # its id, for the audit log
    detail = f"#{event.id} {event.name}, {held_on.isoformat()}, {event.place}"
    audit(session, actor, "event created", detail)
    return event


def end_event(session: Session, event_id: int, actor: str, now: datetime) -> bool:
    """Its kiosk link makes no more letters; returns whether there was such an event. Ending it
    again changes nothing."""
    event = session.get(Event, event_id, with_for_update=True)
    if event is None:
        return False
    if event.ended_at is None:
        event.ended_at = now
        audit(session, actor, "event ended", f"#{event.id} {event.name}")
    return True


def post_letters(session: Session, event_id: int, today: date, actor: str) -> int | None:
    """Every letter written at the event and not yet posted is posted today, counted once even
    while a supporter confirms some of them; None when there is no such event."""
    event = session.get(Event, event_id)
    if event is None:
        return None
    posted = post_event_letters(session, event_id, today)
    audit(session, actor, "event letters posted", f"#{event.id} {event.name}: {posted} letters")
    return posted


def kiosk_event(session: Session, token: str) -> Event | None:
    """The event whose kiosk link holds `token`, open or not."""
    if not KIOSK_TOKEN.match(token):
        return None
    return session.scalar(select(Event).where(Event.kiosk_token == token))


@dataclass(frozen=True)
class EventView:
    """An event as the staff pages list it, with its running counts (`event.packs`,
    `event.generated`, `event.sent`)."""

    event: Event
    state: EventState


def events_with_counts(session: Session, today: date) -> list[EventView]:
    """Every event, the latest day first."""
    found = session.scalars(select(Event).order_by(Event.held_on.desc(), Event.id.desc()))
    return [EventView(event, state(event, today)) for event in found]
