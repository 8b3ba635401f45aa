"""Staff steering the campaign from the steering page: open, pause or close it with a public
message, pause and resume one official, record that an official was checked, record an
official's reply, post and delete a case update, create a write-a-thon and end its kiosk link,
and post the letters written there.

Each form carries the session's CSRF token and needs an organiser or admin; each change and its
audit entry are one transaction (storage/operations.py), so what staff see on any instance is what
every supporter gets.
"""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from app.routes.dashboard import DB, NO_STORE, Now, OrganiserForm, _render
from app.storage.events import create_event, end_event, event_day, post_letters
from app.storage.models import Staff, StaffSession
from app.storage.operations import (
    OperationError,
    add_reply,
    add_update,
    delete_update,
    pause_official,
    record_check,
    resume_official,
    set_state,
)

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Form()]
STATE_OF_ACTION = {"open": "open", "pause": "paused", "close": "closed"}


def _actor(db: Session, row: StaffSession) -> str:
    return db.get(Staff, row.staff_id).email  # type: ignore[union-attr]


def _done(db: Session, anchor: str) -> Response:
    db.commit()
    return RedirectResponse(f"/dashboard/steering#{anchor}", 303, headers=NO_STORE)


def _not_done(request: Request, db: Session, problem: str, anchor: str) -> Response:
    db.rollback()
    context = {"problem": problem, "anchor": anchor}
    return _render(request, "staff/not_done.html", context, status=422)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise OperationError("give the date as YYYY-MM-DD") from None


@router.post("/dashboard/campaign-state")
def change_state(
    request: Request,
    row: OrganiserForm,
    db: DB,
    action: Text = "",
    message_en: Text = "",
    message_ru: Text = "",
    message_kk: Text = "",
) -> Response:
    message = {"en": message_en, "ru": message_ru, "kk": message_kk}
    try:
        if action not in STATE_OF_ACTION:
            raise OperationError("choose open, pause or close")
        set_state(db, STATE_OF_ACTION[action], message, _actor(db, row))
    except OperationError as exc:
        return _not_done(request, db, str(exc), "campaign-state")
    return _done(db, "campaign-state")


@router.post("/dashboard/officials/{recipient_id}/pause")
def pause(
    request: Request, recipient_id: str, row: OrganiserForm, db: DB, reason: Text = ""
) -> Response:
    campaign = request.app.state.campaign
    try:
        pause_official(db, campaign, recipient_id, reason, _actor(db, row))
    except OperationError as exc:
        return _not_done(request, db, str(exc).replace(": --reason TEXT", ""), "officials-state")
    return _done(db, "officials-state")


@router.post("/dashboard/officials/{recipient_id}/resume")
def resume(request: Request, recipient_id: str, row: OrganiserForm, db: DB) -> Response:
    try:
        resume_official(db, request.app.state.campaign, recipient_id, _actor(db, row))
    except OperationError as exc:
        return _not_done(request, db, str(exc), "officials-state")
    return _done(db, "officials-state")


@router.post("/dashboard/officials/{recipient_id}/verify")
def verify(
    request: Request,
    recipient_id: str,
    row: OrganiserForm,
    db: DB,
    source_url: Text = "",
    note: Text = "",
) -> Response:
    """Staff checked who holds the office and its address, and recipients.yaml is right."""
    campaign = request.app.state.campaign
    try:
        record_check(db, campaign, recipient_id, source_url, note, _actor(db, row))
    except OperationError as exc:
        return _not_done(request, db, str(exc), "officials-state")
    return _done(db, "officials-state")


@router.post("/dashboard/replies")
def record_reply(
    request: Request,
    row: OrganiserForm,
    db: DB,
    official: Text = "",
    received_on: Text = "",
    summary: Text = "",
) -> Response:
    try:
        day = _day(received_on)
        if day > date.today():
            raise OperationError("the reply cannot have come after today")
        if len(summary) > 2000:
            raise OperationError("keep the summary under 2,000 characters")
        add_reply(db, request.app.state.campaign, official, day, summary, _actor(db, row))
    except OperationError as exc:
        return _not_done(request, db, str(exc), "replies")
    return _done(db, "replies")


@router.post("/dashboard/updates")
def post_update(
    request: Request,
    row: OrganiserForm,
    db: DB,
    posted_on: Text = "",
    text_en: Text = "",
    text_ru: Text = "",
    text_kk: Text = "",
) -> Response:
    texts = {"en": text_en, "ru": text_ru, "kk": text_kk}
    try:
        if any(len(text) > 5000 for text in texts.values()):
            raise OperationError("keep each text under 5,000 characters")
        add_update(db, _day(posted_on), texts, _actor(db, row))
    except OperationError as exc:
        return _not_done(request, db, str(exc), "updates")
    return _done(db, "updates")


@router.post("/dashboard/updates/{update_id}/delete")
def remove_update(update_id: int, row: OrganiserForm, db: DB) -> Response:
    if not delete_update(db, update_id, _actor(db, row)):
        raise HTTPException(404, "no such case update")
    return _done(db, "updates")


@router.post("/dashboard/events")
def add_event(
    request: Request,
    row: OrganiserForm,
    db: DB,
    now: Now,
    name: Text = "",
    held_on: Text = "",
    place: Text = "",
) -> Response:
    """A write-a-thon, and its kiosk link for the day."""
    today = event_day(now, request.app.state.settings.event_zone)
    try:
        create_event(db, name, _day(held_on), place, today, _actor(db, row), now)
    except OperationError as exc:
        return _not_done(request, db, str(exc), "events")
    return _done(db, "events")


@router.post("/dashboard/events/{event_id}/end")
def end_kiosk(event_id: int, row: OrganiserForm, db: DB, now: Now) -> Response:
    """The kiosk link makes no more letters, on its day or after."""
    if not end_event(db, event_id, _actor(db, row), now):
        raise HTTPException(404, "no such event")
    return _done(db, "events")


@router.post("/dashboard/events/{event_id}/posted")
def post_event(event_id: int, row: OrganiserForm, db: DB) -> Response:
    """Staff took the event's letters to the post office: posted today, as a supporter's
    confirmation would be."""
    if post_letters(db, event_id, date.today(), _actor(db, row)) is None:
        raise HTTPException(404, "no such event")
    return _done(db, "events")
