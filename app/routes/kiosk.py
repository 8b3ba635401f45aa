"""A write-a-thon's kiosk: the campaign's form on a shared computer, for one supporter after
another (storage/events.py). `/kiosk/{token}` makes letters on the event's day until staff end it;
the form, preview and edit steps are the supporter's own (app/routes/supporter.py), told through
`request.state.kiosk` to stay under the link and to count for the event.

Nothing typed stays in the browser for the next person: every answer is `no-store`, the form
and its fields ask for no autocomplete, values travel in POST bodies only, and nobody's letters
wait on a thank-you page. The preview's "Print my letters" records the pack and answers its PDF:
kiosk.js shows it in a frame of the preview and opens the print dialog; without JavaScript it
downloads. "Next person" then answers with a redirect (303) to the empty form, and kiosk.js
replaces the preview in the history, so that Back shows nobody's letters.
"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from app.campaign import Recipient
from app.errors import busy_response
from app.forms import form_token_signed, new_form_token
from app.i18n import ui_language
from app.render import Busy
from app.routes import supporter
from app.security import CONTENT_SECURITY_POLICY
from app.storage.events import KIOSK_TOKEN, event_day, kiosk_event, state
from app.storage.letters import record_pack_once
from app.storage.staff import utc_now
from app.supporter import Supporter
from app.variants import decode as decode_variants
from app.variants import pick as pick_variants

NO_STORE = {"Cache-Control": "no-store"}
# The pack is shown in a frame of the kiosk's own preview page, to be printed from there.
PACK_POLICY = CONTENT_SECURITY_POLICY.replace("frame-ancestors 'none'", "frame-ancestors 'self'")
INLINE = "inline"
"""What kiosk.js posts as `show`: the PDF for its frame, not a download."""

router = APIRouter(prefix="/kiosk/{token}", include_in_schema=False)
Now = Annotated[datetime, Depends(utc_now)]


def _closed(request: Request, token: str, now: datetime) -> Response | None:
    """None when the link makes letters now: the journey then stays under it. Else the page
    that says why not, and nothing is made: 404 for a link of no event, 410 for an event whose
    day is not today (EVENT_TIME_ZONE), or that staff ended."""
    with request.app.state.reader() as session:
        event = kiosk_event(session, token)
    if event is None:
        return supporter._not_found(request)
    if state(event, event_day(now, request.app.state.settings.event_zone)) != "open":
        lang = ui_language(request)
        return supporter._page(request, lang, "kiosk_closed.html", status=410, private=True)
    request.state.kiosk = event
    return None


@router.get("", response_class=HTMLResponse, name="kiosk_form")
def kiosk_form(request: Request, token: str, now: Now) -> Response:
    """The empty form, for the next person."""
    refusal = _closed(request, token, now)
    if refusal is not None:
        return refusal
    with request.app.state.reader() as session:
        return supporter.campaign_page(request, session)


async def _step(request: Request, token: str, now: datetime, step) -> Response:  # type: ignore[no-untyped-def]
    await request.form()  # the body first, on the loop, as the supporter's steps read it
    refusal = await run_in_threadpool(_closed, request, token, now)
    if refusal is not None:
        return refusal
    return await step(request)


@router.post("/preview", response_class=HTMLResponse)
async def preview(request: Request, token: str, now: Now) -> Response:
    return await _step(request, token, now, supporter.preview)


@router.post("/edit", response_class=HTMLResponse)
async def edit(request: Request, token: str, now: Now) -> Response:
    return await _step(request, token, now, supporter.edit)


@dataclass(frozen=True)
class _Pack:
    """A pack recorded for the event, to render: nothing of it is kept."""

    supporter: Supporter
    recipients: list[Recipient]
    variants: dict[str, int]
    today: date


@router.post("/letters")
async def print_letters(request: Request, token: str, now: Now) -> Response:
    """Records the pack under the event, once (its token was minted with the preview, so
    posting again prints it again and counts nothing), and answers its PDF: shown for printing
    when kiosk.js asks (`show=inline`), else a download."""
    data = await request.form()
    pack = await run_in_threadpool(_record, request, token, now, data)
    if not isinstance(pack, _Pack):
        return pack
    budget = request.app.state.settings.render_budget_s
    try:
        pdf = await request.app.state.metrics.counted(
            request.app.state.packs.make_pack(
                budget, pack.supporter, pack.recipients, pack.today, pack.variants
            )
        )
    except Busy as error:
        # "Try again" posts the values from the page, not from the frame: a download.
        fields = [(name, str(value)) for name, value in data.multi_items() if name != "show"]
        return busy_response(request, error, (f"{request.url.path}?{request.url.query}", fields))
    disposition = INLINE if data.get("show") == INLINE else "attachment"
    filename = f"appeal-letters-{pack.today.isoformat()}.pdf"
    headers = {
        "Content-Disposition": f'{disposition}; filename="{filename}"',
        "Content-Security-Policy": PACK_POLICY,
        "X-Frame-Options": "SAMEORIGIN",
        **NO_STORE,
    }
    return Response(pdf, media_type="application/pdf", headers=headers)


def _record(request: Request, token: str, now: datetime, data: FormData) -> _Pack | Response:
    refusal = _closed(request, token, now)
    if refusal is not None:
        return refusal
    outcome = supporter._checked_form(request, data)
    if isinstance(outcome, HTMLResponse):
        return outcome
    form, checked, _ = outcome
    person = checked.supporter
    assert person is not None
    secret = request.app.state.settings.secret_key
    pack_token = data.get("token", "")
    if not isinstance(pack_token, str) or not form_token_signed(secret, pack_token):
        pack_token = new_form_token(secret)
    campaign = request.app.state.campaign
    variants = decode_variants(form.variants, campaign) or pick_variants(campaign)
    today = date.today()
    with request.app.state.sessionmaker.begin() as session:
        record_pack_once(
            session,
            pack_token,
            checked.recipients,
            person.language,
            person.country,
            today,
            event_id=request.state.kiosk.id,
        )
    return _Pack(person, list(checked.recipients), dict(variants), today)


@router.post("/next")
def next_person(request: Request, token: str) -> Response:
    """Done: on to an empty form, by a redirect, so that no page of this person's stays the
    one shown."""
    if not KIOSK_TOKEN.match(token):
        return supporter._not_found(request)
    empty = f"{request.url_for('kiosk_form', token=token)}?lang={ui_language(request)}"
    return RedirectResponse(empty, status_code=303, headers=NO_STORE)
