"""How the service answers what it cannot do: invalid input, a database that is away or refuses
writes, a render over its time budget, more packs waiting to render than the queue holds. Each
gets a clear status and message, never a 500 page with a stack trace; the API answers JSON, pages
answer a short page in the supporter's language.
"""

import logging
import sqlite3

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, InterfaceError, InternalError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import ClientDisconnect

from app.i18n import BABEL_LOCALES, N_, gettext, render, ui_language
from app.render import Busy, RenderBudgetExceeded, Restarting

LOGGER = logging.getLogger("letter_campaign.errors")
DATABASE_RETRY_S = 30
RENDER_RETRY_S = 10
BUSY_RETRY_S = 5
# PostgreSQL refusing writes: a read-only transaction (a standby, or a database set read-only).
READ_ONLY_SQLSTATE = "25006"
# SQLite errors after which a pooled connection is not to be trusted again: a connection that
# opened a read-only file stays read-only even when the file becomes writable.
SQLITE_STALE = ("readonly", "disk i/o error", "disk is full", "unable to open")

UNAVAILABLE_HEADING = N_("The service is briefly unavailable")
DATABASE_TEXT = N_(
    "Our database is not answering just now, so nothing could be made or counted. "
    "Nothing you typed was kept. Please try again in a few minutes."
)
BUDGET_HEADING = N_("Making your letters took too long")
BUDGET_TEXT = N_(
    "Laying out your letters took longer than %(seconds)s seconds, so we stopped. "
    "Please try again; if it happens again, shorten your message."
)

BUSY_HEADING = N_("Many people are writing letters right now")
# Packs refused here are downloads: the letters were counted when the supporter created them.
BUSY_TEXT = N_(
    "Your letters are counted, but their PDF could not be made at this moment. "
    "Please try again in a few seconds."
)
RESTARTING_TEXT = N_(
    "The part of the service that lays out letters is restarting. Your letters are counted; "
    "only their PDF could not be made just now. Please try again in a moment."
)


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return request.url.path.startswith("/api/") or (
        "application/json" in accept and "text/html" not in accept
    )


def problem_page(
    request: Request,
    status: int,
    heading: str,
    paragraphs: list[str],
    retry_after: int | None,
    retry: tuple[str, list[tuple[str, str]]] | None = None,
) -> HTMLResponse:
    """The page for a request the service could not answer, in the supporter's language;
    `retry` (action, fields) gives it a button that posts the same form again."""
    lang = ui_language(request)
    html = render(
        lang,
        "problem.html",
        static=request.app.state.assets.url,
        site_name=request.app.state.campaign.case.title[lang],
        switcher=[],
        html_locale=BABEL_LOCALES[lang],
        heading=gettext(lang, heading),
        paragraphs=paragraphs,
        retry=retry,
        # Inside a frame on another site (EMBED_ORIGINS) the campaign page refuses to show.
        framed=request.url.path.startswith("/embed"),
    )
    headers = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return HTMLResponse(html, status_code=status, headers=headers)


def database_unavailable(error: BaseException) -> bool:
    """A database that is away, full or refusing writes, as opposed to a bug in a query."""
    if isinstance(error, OperationalError | InterfaceError | PoolTimeout):
        return True
    if isinstance(error, InternalError):
        return getattr(error.orig, "sqlstate", None) == READ_ONLY_SQLSTATE
    return False


async def _database_error(request: Request, error: Exception) -> Response:
    if not database_unavailable(error):
        raise error
    LOGGER.error("database unavailable: %s", type(getattr(error, "orig", error)).__name__)
    if wants_json(request):
        return JSONResponse(
            {"detail": "database unavailable: nothing was made or counted; try again later"},
            status_code=503,
            headers={"Retry-After": str(DATABASE_RETRY_S)},
        )
    lang = ui_language(request)
    text = gettext(lang, DATABASE_TEXT)
    return problem_page(request, 503, UNAVAILABLE_HEADING, [text], DATABASE_RETRY_S)


async def _render_budget(request: Request, error: Exception) -> Response:
    seconds = getattr(error, "seconds", 0)
    LOGGER.warning("render over its budget of %s s", seconds)
    if wants_json(request):
        return JSONResponse(
            {"detail": f"render time budget of {seconds:g} s exceeded; try again later"},
            status_code=503,
            headers={"Retry-After": str(RENDER_RETRY_S)},
        )
    lang = ui_language(request)
    text = gettext(lang, BUDGET_TEXT, seconds=f"{seconds:g}")
    return problem_page(request, 503, BUDGET_HEADING, [text], RENDER_RETRY_S)


def busy_response(
    request: Request, error: Busy, retry: tuple[str, list[tuple[str, str]]] | None = None
) -> Response:
    """503 for a pack refused because it cannot be made now (Busy): nothing was made
    or counted, and the supporter tries again when Retry-After says."""
    LOGGER.warning("pack refused: %s", error.reason)
    seconds = error.retry_after or BUSY_RETRY_S
    if wants_json(request):
        return JSONResponse(
            {"detail": f"{error.reason}: nothing was made or counted; try again in {seconds} s"},
            status_code=503,
            headers={"Retry-After": str(seconds)},
        )
    heading, text = (
        (UNAVAILABLE_HEADING, RESTARTING_TEXT)
        if isinstance(error, Restarting)
        else (BUSY_HEADING, BUSY_TEXT)
    )
    return problem_page(
        request, 503, heading, [gettext(ui_language(request), text)], seconds, retry
    )


async def _busy(request: Request, error: Exception) -> Response:
    assert isinstance(error, Busy)
    return busy_response(request, error)


async def _invalid_request(request: Request, error: Exception) -> Response:
    """FastAPI's 422, without echoing the input back: a signature image is 300 KB, and text with
    a lone surrogate cannot even be encoded as the response."""
    assert isinstance(error, RequestValidationError)
    detail = [
        {"loc": list(problem["loc"]), "msg": problem["msg"], "type": problem["type"]}
        for problem in error.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def _client_gone(request: Request, error: Exception) -> Response:
    """The body stopped coming: the client went away, or app/security.py's BodyLimit refused
    it (too large, too slow) and has answered already, so nothing of this goes out."""
    return Response(status_code=400)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeout, _database_error)
    app.add_exception_handler(RenderBudgetExceeded, _render_budget)
    app.add_exception_handler(Busy, _busy)


def forget_broken_connections(engine: Engine) -> None:
    """Drop a SQLite connection that failed on a read-only or full disk, so the next request
    opens a fresh one and the service recovers when the disk does, without a restart.
    (PostgreSQL connections that die are found by the pool's pre-ping.)"""

    @event.listens_for(engine, "handle_error")
    def _stale(context: ExceptionContext) -> None:
        error = context.original_exception
        if isinstance(error, sqlite3.OperationalError | sqlite3.DatabaseError) and any(
            marker in str(error).lower() for marker in SQLITE_STALE
        ):
            context.is_disconnect = True
