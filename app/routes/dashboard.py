"""Staff pages: login and logout, the dashboard's numbers, the steering page, paper letters, and
the CSV export.

Nothing here answers without a live staff session: pages redirect to /login, the export answers
401, and neither says anything about the counts. Each page and form also checks the account's
role, read from the database on every request (storage/staff.py): a role that may not answers 403.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from babel import Locale
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from app.campaign import LANGUAGE_NAMES
from app.chart import daily_chart
from app.export import csv_chunks
from app.routes.embed import snippet
from app.storage.counts import by_embed_origin, dashboard_figures, stream_daily_rows
from app.storage.db import get_session
from app.storage.events import event_day, events_with_counts
from app.storage.models import Staff, StaffSession
from app.storage.offline import (
    InvalidEntry,
    delete_paper_letters,
    paper_entries,
    parse_entry,
    record_paper_letters,
)
from app.storage.operations import read_pack_conditions, staff_view
from app.storage.staff import (
    DEVICE_MAX_AGE,
    LOGIN_FORM_MAX_AGE,
    SECOND_STEP_MAX_AGE,
    LoginRefused,
    authenticate,
    close_session,
    csrf_matches,
    find_session,
    has_control_characters,
    login_token_matches,
    may,
    new_device_cookie,
    new_login_token,
    new_second_step_token,
    open_session,
    second_factor_required,
    utc_now,
)

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
templates = Jinja2Templates(directory=TEMPLATES_DIR)
SESSION_COOKIE = "staff_session"
LOGIN_COOKIE = "staff_login_form"
DEVICE_COOKIE = "staff_device"
# The letters-per-day chart's ranges: a query parameter, so a plain link chooses one.
CHART_RANGES: dict[str, int | None] = {"7": 7, "30": 30, "all": None}
DEFAULT_CHART_RANGE = "30"
PAPER_ENTRIES_SHOWN = 200
NO_STORE = {"Cache-Control": "no-store"}
LOGIN_REFUSED = (
    "Wrong email or password. After several failed logins from one connection, or many for "
    "one account, logins are refused for a while, even with the right password: try again "
    "later, from a browser you logged in with before, or ask whoever runs the service "
    "(letter-campaign staff list shows locks)."
)
EMAIL_CONTROL = "The email address cannot contain control characters."
FORM_EXPIRED = "The login form had expired. Please try again."
SECOND_STEP_COOKIE = "staff_second_step"
COUNTRY_NAMES = Locale("en").territories

router = APIRouter(include_in_schema=False)

DB = Annotated[Session, Depends(get_session)]
Now = Annotated[datetime, Depends(utc_now)]


def _secret(request: Request) -> str:
    return request.app.state.settings.secret_key


def _secure(request: Request) -> bool:
    """Secure cookies over https, and always in production, where the public address is https
    even when a proxy in front speaks plain http to us."""
    return request.url.scheme == "https" or request.app.state.settings.environment == "production"


def optional_session(request: Request, now: Now) -> StaffSession | None:
    """The staff session, read in a read-only transaction of its own. A form post's session
    (DB) takes SQLite's write lock at its first statement, and FastAPI runs each dependency and
    the route in a worker thread of its own: a lock taken here would be held while the route
    waits for a thread, and the threads may all be waiting for that lock."""
    with request.app.state.reader() as db:
        return find_session(db, request.cookies.get(SESSION_COOKIE), _secret(request), now)


def page_session(row: Annotated[StaffSession | None, Depends(optional_session)]) -> StaffSession:
    """For HTML pages and forms: without a session, off to the login form."""
    if row is None:
        raise HTTPException(303, "log in at /login", headers={"Location": "/login", **NO_STORE})
    return row


def export_session(row: Annotated[StaffSession | None, Depends(optional_session)]) -> StaffSession:
    """For downloads, which a script may fetch: a plain 401 without a session."""
    if row is None:
        raise HTTPException(401, "log in at /login", headers=NO_STORE)
    return row


PageSession = Annotated[StaffSession, Depends(page_session)]


class CsrfRefused(Exception):
    """A staff form posted without its session's CSRF token."""


def form_session(row: PageSession, csrf_token: Annotated[str, Form()] = "") -> StaffSession:
    """For staff forms: the session, and only if the form carries that session's CSRF token."""
    if not csrf_matches(row, csrf_token):
        raise CsrfRefused
    return row


FormSession = Annotated[StaffSession, Depends(form_session)]


class RoleRefused(Exception):
    """A staff member asked for a page or sent a form that their role does not open."""

    def __init__(self, role: str, needed: str) -> None:
        super().__init__(role, needed)
        self.role = role
        self.needed = needed


def _check_role(request: Request, row: StaffSession, needed: str) -> None:
    """Read, like the session, in a read-only transaction of its own (optional_session)."""
    with request.app.state.reader() as db:
        role = db.get(Staff, row.staff_id).role  # type: ignore[union-attr]
    if not may(role, needed):
        raise RoleRefused(role, needed)


def page_for(needed: str) -> Callable[..., StaffSession]:
    """A dependency for the pages of `needed` and the roles above it."""

    def dependency(request: Request, row: PageSession) -> StaffSession:
        _check_role(request, row, needed)
        return row

    return dependency


def form_for(needed: str) -> Callable[..., StaffSession]:
    """A dependency for the forms of `needed` and the roles above it: the CSRF token first,
    then the role, so nothing a role may not do reaches the route."""

    def dependency(request: Request, row: FormSession) -> StaffSession:
        _check_role(request, row, needed)
        return row

    return dependency


ViewerPage = Annotated[StaffSession, Depends(page_for("viewer"))]
OrganiserPage = Annotated[StaffSession, Depends(page_for("organiser"))]
OrganiserForm = Annotated[StaffSession, Depends(form_for("organiser"))]
AdminPage = Annotated[StaffSession, Depends(page_for("admin"))]
AdminForm = Annotated[StaffSession, Depends(form_for("admin"))]


def _render(request: Request, name: str, context: dict, status: int = 200) -> Response:
    context = {"static": request.app.state.assets.url, **context}
    return templates.TemplateResponse(request, name, context, status_code=status, headers=NO_STORE)


def refused(request: Request, _: CsrfRefused) -> Response:
    """A form without its CSRF token: a forged cross-site request, or a page left open too long."""
    return _render(request, "staff/refused.html", {}, status=403)


def role_refused(request: Request, error: RoleRefused) -> Response:
    """A page or form the account's role does not open; nothing was changed."""
    context = {"role": error.role, "needed": error.needed}
    return _render(request, "staff/forbidden.html", context, status=403)


def staff_context(db: Session, row: StaffSession, page: str) -> dict:
    """What every staff page's header needs: who is logged in, what their role opens, the
    logout form's token, and which page this is (`numbers`, `steering`, `staff`)."""
    staff = db.get(Staff, row.staff_id)
    assert staff is not None  # a session goes with its account
    return {
        "email": staff.email,
        "role": staff.role,
        "may_steer": may(staff.role, "organiser"),
        "may_admin": may(staff.role, "admin"),
        "csrf_token": row.csrf_token,
        "page": page,
    }


# --- logging in and out -------------------------------------------------------------------------


def _login_page(
    request: Request, status: int = 200, error: str = "", email: str = "", invalid: str = ""
) -> Response:
    """The form, with a fresh signed token in both a cookie and a hidden field; `invalid` names
    the field the error is about, if it is about one."""
    token = new_login_token(_secret(request))
    context = {"csrf_token": token, "error": error, "email": email, "invalid": invalid}
    response = _render(request, "staff/login.html", context, status)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_FORM_MAX_AGE,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


@router.get("/login")
def login_form(
    request: Request, row: Annotated[StaffSession | None, Depends(optional_session)]
) -> Response:
    if row is not None:
        return RedirectResponse("/dashboard", 303, headers=NO_STORE)
    return _login_page(request)


@router.post("/login")
def login(
    request: Request,
    db: DB,
    now: Now,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    secret = _secret(request)
    if not login_token_matches(secret, request.cookies.get(LOGIN_COOKIE), csrf_token):
        return _login_page(request, 403, FORM_EXPIRED, email)
    if has_control_characters(email):
        # No staff address holds one, and PostgreSQL refuses a NUL: answered before any query,
        # and not shown back. Says nothing about accounts, so it may say what is wrong.
        return _login_page(request, 422, EMAIL_CONTROL, invalid="email")
    try:
        staff = authenticate(
            db,
            email,
            password,
            now,
            secret=secret,
            address=request.client.host if request.client else "",
            device=request.cookies.get(DEVICE_COOKIE),
        )
    except LoginRefused:
        # One answer for an unknown address, a wrong password and a locked account: a lock
        # would tell a stranger guessing addresses that this one belongs to staff.
        db.commit()
        return _login_page(request, 401, LOGIN_REFUSED, email)
    if staff.totp_secret is not None:
        db.commit()
        return _ask_for_code(request, staff, now)
    if second_factor_required(staff.role, request.app.state.settings.require_totp):
        # A right password, but not enough: no session, and how to enrol.
        db.commit()
        context = {"enrol": True, "email": staff.email}
        return _render(request, "staff/second_factor.html", context, 403)
    return logged_in(request, db, staff, now)


def _ask_for_code(request: Request, staff: Staff, now: datetime) -> Response:
    """The password was right: on to the code form (app/routes/second_factor.py), with a signed
    token that says so in a short-lived cookie, and no session yet."""
    response = RedirectResponse("/login/code", 303, headers=NO_STORE)
    response.set_cookie(
        SECOND_STEP_COOKIE,
        new_second_step_token(staff, _secret(request), now),
        max_age=SECOND_STEP_MAX_AGE,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


def logged_in(request: Request, db: Session, staff: Staff, now: datetime) -> Response:
    """Opens a session for a staff member who gave all that the account asks, and goes to the
    dashboard."""
    settings, secret = request.app.state.settings, _secret(request)
    previous = request.cookies.get(SESSION_COOKIE)
    cookie = open_session(db, staff, now, settings.session_max_age, secret, previous)
    db.commit()
    response = RedirectResponse("/dashboard", 303, headers=NO_STORE)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=settings.session_max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.set_cookie(
        DEVICE_COOKIE,
        new_device_cookie(staff, secret, now),
        max_age=DEVICE_MAX_AGE,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login", secure=_secure(request), httponly=True)
    response.delete_cookie(
        SECOND_STEP_COOKIE, path="/login", secure=_secure(request), httponly=True
    )
    return response


@router.post("/logout")
def logout(request: Request, row: FormSession, db: DB) -> Response:
    close_session(db, request.cookies[SESSION_COOKIE], _secret(request))
    db.commit()
    response = RedirectResponse("/login", 303, headers=NO_STORE)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=_secure(request), httponly=True)
    return response


# --- the dashboard: the numbers -----------------------------------------------------------------


@router.get("/dashboard")
def dashboard(
    request: Request,
    row: ViewerPage,
    db: DB,
    now: Now,
    days: Literal["7", "30", "all"] = DEFAULT_CHART_RANGE,
) -> Response:
    """What every role comes for: progress, totals, letters per day over `days` (7, 30, or
    since the first letter), per official, language and country, through each embed, and the
    export; and the snippet that embeds the form on each allowed site."""
    settings = request.app.state.settings
    campaign = request.app.state.campaign
    context = staff_context(db, row, "numbers")
    conditions = read_pack_conditions(db)
    unverified = conditions.unverified(campaign, now.date(), settings.stale_after_days)
    events = events_with_counts(db, event_day(now, settings.event_zone))
    db.commit()  # the figures start a transaction of their own, on one snapshot
    figures = dashboard_figures(
        db, campaign, settings.campaign_goal, now.date(), chart_days=CHART_RANGES[days]
    )
    context |= {
        "figures": figures,
        "events": events,
        "chart": daily_chart(figures.days),
        "chart_range": days,
        "officials": {r.id: r for r in campaign.recipients},
        "languages": LANGUAGE_NAMES,
        "countries": COUNTRY_NAMES,
        "today": now.date(),
        "status": conditions.status,
        "unverified": len(unverified),
        "embeds": by_embed_origin(db, settings.embed_origins),
        "snippets": {
            site: snippet(str(request.base_url).rstrip("/"), site, campaign.case.title["en"])
            for site in settings.embed_origins
        },
    }
    return _render(request, "staff/dashboard.html", context)


# --- the steering page: the campaign's state, officials, replies, updates, paper letters --------


def _steering_page(
    request: Request, row: StaffSession, db: Session, now: datetime, form: dict | None = None
) -> Response:
    """The page; with `form` (the paper letters' values and errors), that form refused, 422."""
    settings = request.app.state.settings
    campaign = request.app.state.campaign
    events = events_with_counts(db, event_day(now, settings.event_zone))
    context = staff_context(db, row, "steering") | {
        "events": events,
        "kiosk_links": {
            view.event.id: str(request.url_for("kiosk_form", token=view.event.kiosk_token))
            for view in events
        },
        "event_limit": settings.rate_limit_event,
        "event_time_zone": settings.event_time_zone,
        "paper": paper_entries(db, PAPER_ENTRIES_SHOWN),
        "officials": {r.id: r for r in campaign.recipients},
        "today": now.date(),
        "form": form or {"values": {}, "errors": {}},
        "steering": staff_view(db, campaign, now.date(), settings.stale_after_days),
        "stale_after_days": settings.stale_after_days,
        "unverified_officials": settings.unverified_officials,
        "utc": UTC,
    }
    db.commit()
    return _render(request, "staff/steering.html", context, 422 if form else 200)


@router.get("/dashboard/steering")
def steering_page(request: Request, row: OrganiserPage, db: DB, now: Now) -> Response:
    return _steering_page(request, row, db, now)


@router.post("/dashboard/paper-letters")
def add_paper_letters(
    request: Request,
    row: OrganiserForm,
    db: DB,
    now: Now,
    official: Annotated[str, Form()] = "",
    number: Annotated[str, Form()] = "",
    date: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    campaign = request.app.state.campaign
    try:
        entry = parse_entry(campaign, official, number, date, note, now.date())
    except InvalidEntry as invalid:
        values = {"official": official, "number": number, "date": date, "note": note}
        return _steering_page(request, row, db, now, {"values": values, "errors": invalid.errors})
    actor = db.get(Staff, row.staff_id).email  # type: ignore[union-attr]
    record_paper_letters(db, *entry, staff_id=row.staff_id, now=now, actor=actor)
    db.commit()
    return RedirectResponse("/dashboard/steering#paper-letters", 303, headers=NO_STORE)


@router.post("/dashboard/paper-letters/{entry_id}/delete")
def remove_paper_letters(request: Request, entry_id: int, row: OrganiserForm, db: DB) -> Response:
    actor = db.get(Staff, row.staff_id).email  # type: ignore[union-attr]
    if not delete_paper_letters(db, entry_id, actor):
        raise HTTPException(404, "no such entry of paper letters")
    db.commit()
    return RedirectResponse("/dashboard/steering#paper-letters", 303, headers=NO_STORE)


def export_for_viewers(
    request: Request, row: Annotated[StaffSession, Depends(export_session)]
) -> StaffSession:
    """The export's session (a plain 401 without one), for every role that reads the numbers."""
    _check_role(request, row, "viewer")
    return row


@router.get("/dashboard/export.csv")
def export_csv(
    request: Request,
    row: Annotated[StaffSession, Depends(export_for_viewers)],
    db: DB,
    now: Now,
) -> StreamingResponse:
    """Streamed from a server-side cursor on a connection of its own."""
    db.close()  # release this request's transaction now, not after the last byte is sent
    engine = request.app.state.engine
    campaign = request.app.state.campaign

    def body():  # type: ignore[no-untyped-def]
        with engine.connect() as connection:
            yield from csv_chunks(stream_daily_rows(connection), campaign)

    filename = f"letters-per-day-{now.date().isoformat()}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', **NO_STORE}
    return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers=headers)
