"""The JSON API, documented at /docs: the officials, a pack of letters as a PDF, "I have posted
them", and the public counts. Like the pages, it keeps nothing a supporter sends."""

import json
from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.campaign import Campaign, Recipient, UnknownRecipient
from app.i18n import negotiate, render
from app.storage.counts import public_stats
from app.storage.db import get_session
from app.storage.letters import UnknownToken, confirm_posted, record_pack
from app.storage.operations import (
    PausedRecipient,
    UnverifiedRecipient,
    choose_writable,
    read_pack_conditions,
)
from app.supporter import Supporter
from app.variants import pick as pick_variants

router = APIRouter(tags=["API"])


class Address(BaseModel):
    street: str
    postcode: str
    city: str
    country: str


class Official(BaseModel):
    id: str
    title: str
    name: str
    address: Address
    phone: str | None = None
    paused: bool = False
    paused_reason: str | None = None
    last_checked: date = Field(
        description="The day the campaign last checked who holds the office, and its address."
    )
    unverified: bool = Field(
        description="Last checked longer ago than the campaign accepts (STALE_AFTER_DAYS)."
    )
    held: bool = Field(
        False,
        description="Unverified, and the service takes no letters to it until it is checked "
        "(UNVERIFIED_OFFICIALS=hold); under warn, letters are made, and the pages say when "
        "the office was last checked.",
    )


class PostedCounts(BaseModel):
    letters: int
    sent: int


class OfficialCounts(BaseModel):
    id: str
    generated: int
    sent: int


class Stats(BaseModel):
    generated: int
    sent: int
    goal: int
    recipients: list[OfficialCounts]


class Problem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problems(BaseModel):
    detail: list[Problem]


class NotFound(BaseModel):
    detail: str


class NotOpen(BaseModel):
    detail: str
    state: str
    message: dict[str, str]


class Refused(BaseModel):
    detail: str


UNAVAILABLE = {
    503: {
        "model": Refused,
        "description": "The database is unavailable (or, for letters, the render went over its "
        "time budget, too many packs wait to be made, or the render processes are being "
        "restarted); nothing was made or counted. "
        "`Retry-After` says when to try again.",
    }
}
LETTER_REFUSALS = {
    400: {"model": Refused, "description": "The body is not JSON."},
    413: {"description": "The body is larger than MAX_BODY_BYTES; refused before it is read."},
    429: {
        "model": Refused,
        "description": "Too many packs from this client (RATE_LIMIT_LETTERS); `detail` names "
        "the limit and `Retry-After` says when to try again.",
    },
    **UNAVAILABLE,
}


def _problem(field: str, msg: str, kind: str) -> JSONResponse:
    problem = Problem(loc=["body", field], msg=msg, type=kind)
    return JSONResponse({"detail": [problem.model_dump()]}, status_code=422)


@router.get("/api/recipients", response_model=list[Official], responses=UNAVAILABLE)
def recipients(request: Request, session: Session = Depends(get_session)) -> list[Official]:
    """The officials, in campaign order, as the report lists them; those staff have paused are
    marked, with the reason, and take no letters for now; so are those `held` until the campaign
    checks who holds the office."""
    campaign: Campaign = request.app.state.campaign
    settings = request.app.state.settings
    found = read_pack_conditions(session)
    today = date.today()
    unverified = found.unverified(campaign, today, settings.stale_after_days)
    held = found.held(campaign, today, settings.stale_after_days, settings.unverified_officials)
    return [
        Official(
            id=r.id,
            title=r.title,
            name=r.name,
            address=Address(street=r.street, postcode=r.postcode, city=r.city, country=r.country),
            phone=r.phone,
            paused=r.id in found.paused,
            paused_reason=found.paused.get(r.id),
            last_checked=found.last_checked(r),
            unverified=r.id in unverified,
            held=r.id in held,
        )
        for r in campaign.recipients
    ]


@router.post(
    "/api/letters",
    response_class=Response,
    responses={
        200: {
            "description": "One letter per official chosen (when `recipients` is empty, every "
            "official who takes letters now), as one PDF, on the supporter's `paper`; with "
            "`labels`, a last page holds the officials' addresses to cut out and stick on "
            "plain envelopes.",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            "headers": {
                "Letter-Token": {
                    "description": "Keep it to say later that the letters were posted: "
                    "POST /api/letters/{token}/sent.",
                    "schema": {"type": "string"},
                }
            },
        },
        409: {
            "model": NotOpen,
            "description": "The campaign is paused or closed; `detail` is staff's message.",
        },
        422: {
            "model": Problems,
            "description": "The invalid fields, each named in `loc`; an official who is paused "
            "is refused under `recipients`, with the reason, and so is one held until the "
            "campaign checks who holds the office (`unverified_recipient`).",
        },
        **LETTER_REFUSALS,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Supporter"}}},
        }
    },
)
async def create_letters(request: Request) -> Response:
    """Renders the letters and counts them: one anonymous row per letter (official, language,
    country, day, token). Nothing else of the request is kept. Officials staff have paused, and
    those held until checked, are left out of "all" (`recipients` empty) and refused when
    named."""
    # The body is read on the event loop, then checked (a drawn signature is decoded) and the
    # campaign read in a worker thread; the pack waits for its renderer holding no thread and
    # no database connection, and is counted in one short transaction once it is made.
    body = await request.body()
    order = await run_in_threadpool(_checked, request, body)
    if isinstance(order, Response):
        return order
    supporter, chosen = order
    today = date.today()
    campaign: Campaign = request.app.state.campaign
    budget = request.app.state.settings.render_budget_s
    pdf = await request.app.state.metrics.counted(
        request.app.state.packs.make_pack(budget, supporter, chosen, today, pick_variants(campaign))
    )
    token = await run_in_threadpool(_count, request, supporter, chosen, today)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Letter-Token": token,
            "Content-Disposition": f'attachment; filename="appeal-letters-{today.isoformat()}.pdf"',
            "Cache-Control": "no-store",
        },
    )


def _checked(request: Request, body: bytes) -> tuple[Supporter, list[Recipient]] | Response:
    try:
        # As FastAPI reads a body: Python's JSON parser, which keeps a lone surrogate for the
        # schema to name its field.
        data = json.loads(body)
    except ValueError:  # not JSON, or not UTF-8
        problem = Problem(loc=["body"], msg="JSON decode error", type="json_invalid")
        return JSONResponse({"detail": [problem.model_dump()]}, status_code=422)
    try:
        supporter = Supporter.for_campaign(data, request.app.state.campaign)
    except ValidationError as exc:
        detail = [
            {"loc": ["body", *problem["loc"]], "msg": problem["msg"], "type": problem["type"]}
            for problem in exc.errors(include_input=False, include_url=False)
        ]
        return JSONResponse({"detail": detail}, status_code=422)
    campaign: Campaign = request.app.state.campaign
    with request.app.state.reader() as session:
        found = read_pack_conditions(session)
    status, settings = found.status, request.app.state.settings
    if not status.is_open:
        lang = negotiate(request.headers.get("accept-language"))
        refusal = NotOpen(
            detail=status.message_in(lang) or f"the campaign is {status.state}",
            state=status.state,
            message=status.message,
        )
        return JSONResponse(refusal.model_dump(), status_code=409)
    if supporter.language not in campaign.languages:
        languages = ", ".join(campaign.languages)
        return _problem("language", f"this campaign's letters are in {languages}", "language")
    held = found.held(
        campaign, date.today(), settings.stale_after_days, settings.unverified_officials
    )
    try:
        return supporter, choose_writable(found.paused, campaign, supporter.recipients, held)
    except UnknownRecipient as exc:
        return _problem(
            "recipients",
            f"unknown recipient {exc.recipient_id!r}: see GET /api/recipients",
            "unknown_recipient",
        )
    except PausedRecipient as exc:
        return _problem(
            "recipients",
            f"letters to {exc.recipient_id!r} are paused for now: {exc.reason}",
            "paused_recipient",
        )
    except UnverifiedRecipient as exc:
        return _problem("recipients", str(exc), "unverified_recipient")


def _count(request: Request, supporter: Supporter, chosen: list[Recipient], today: date) -> str:
    with request.app.state.sessionmaker.begin() as session:
        return record_pack(session, chosen, supporter.language, supporter.country, today)


def document_supporter(schema: dict) -> dict:
    """Puts the supporter schema, which POST /api/letters reads itself (off the event loop),
    into the OpenAPI document's components, where its request body refers to it."""
    supporter = Supporter.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(supporter.pop("$defs", {}))
    schemas["Supporter"] = supporter
    return schema


@router.post(
    "/api/letters/{token}/sent",
    response_model=PostedCounts,
    responses={
        404: {"model": NotFound, "description": "No letters were made with this token."},
        **UNAVAILABLE,
    },
)
def letters_sent(
    token: str, session: Session = Depends(get_session)
) -> PostedCounts | JSONResponse:
    """Marks every letter of that download as posted. Calling again changes nothing."""
    try:
        counts = confirm_posted(session, token, date.today())
    except UnknownToken:
        session.rollback()
        return JSONResponse({"detail": "unknown token"}, status_code=404)
    session.commit()
    return PostedCounts(letters=counts.letters, sent=counts.sent)


@router.get("/api/stats", response_model=Stats, responses=UNAVAILABLE)
def stats(request: Request) -> Response:
    """Public aggregate counts: letters generated and posted, in total and per official. They may
    be a few seconds old when letters are being written through other server processes."""
    figures = public_stats(request.app.state.engine, request.app.state.campaign)
    body = Stats(
        generated=figures["generated"],
        sent=figures["sent"],
        goal=request.app.state.settings.campaign_goal,
        recipients=[OfficialCounts(**row) for row in figures["recipients"]],
    )
    return JSONResponse(body.model_dump(), headers={"Cache-Control": "public, max-age=5"})


@router.get("/docs", include_in_schema=False)
def docs(request: Request) -> HTMLResponse:
    """The API's documentation: Swagger UI from the npm registry, served by this service."""
    return HTMLResponse(render("en", "api_docs.html", static=request.app.state.assets.url))
