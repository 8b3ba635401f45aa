"""The supporter's pages: the campaign and its form, the preview, the thank-you page with the
downloads, the private "I have posted them" page and the privacy notice; and every file those
pages load, all served by this service (no page loads anything from another host).

Nothing a supporter types is kept between requests: each step posts every value again from
hidden fields, and only the anonymous rows of app/storage/letters.py reach the database.
"""

from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from babel.lists import format_list
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from app.campaign import LANGUAGE_NAMES, Campaign, Recipient
from app.errors import busy_response, problem_page
from app.feed import atom_feed
from app.forms import Checked, SupporterForm, check, form_token_signed, new_form_token, valid_token
from app.i18n import (
    BABEL_LOCALES,
    N_,
    UI_LANGUAGES,
    countries,
    country_name,
    gettext,
    long_date,
    number,
    render,
    ui_language,
)
from app.render import Busy, LetterRenderer
from app.rich_text import linkify
from app.share_image import share_image
from app.storage.counts import public_stats
from app.storage.db import get_session
from app.storage.letters import UnknownToken, confirm_posted, letters_of, record_pack_once
from app.storage.operations import (
    PackConditions,
    in_language,
    read_pack_conditions,
    replies,
    updates,
)
from app.supporter import LETTER_COUNTRIES, PAPERS, Supporter, usual_paper
from app.variants import decode as decode_variants
from app.variants import encode as encode_variants
from app.variants import pick as pick_variants

ASSET_CACHE = "public, max-age=86400"
PAUSED_HEADING = N_("Paused for now")
PAUSED_TEXT = N_("Letters to this official are paused for now: %(reason)s")
WAITING_HEADING = N_("Letters wait for now")
HELD_TEXT = N_("Letters to this office wait until the campaign checks who holds it.")
LAST_CHECKED = N_("Who holds this office was last checked on %(date)s.")
REMOVED_HEADING = N_("No longer in this campaign")
REMOVED_OFFICE = N_("An office no longer among this campaign's officials")
# What a supporter who writes from a country where signing is a risk may leave out of the letters.
ADDRESS_LINES = ("street", "postcode")
OPEN_GRAPH_LOCALES = {"en": "en_GB", "ru": "ru_RU", "kk": "kk_KZ"}
PAPER_NAMES = {"a4": N_("A4 (210 × 297 mm)"), "letter": N_("US Letter (8.5 × 11 in)")}

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class _Writable:
    """Who takes letters now: not the officials staff paused (id -> reason), nor, under
    UNVERIFIED_OFFICIALS=hold, those nobody has checked lately (`held`: id -> the day they last
    were); `unverified` holds those under warn too, which the pages then date."""

    paused: dict[str, str]
    held: dict[str, date]
    unverified: dict[str, date]

    @property
    def withheld(self) -> set[str]:
        return {*self.paused, *self.held}


def _writable(request: Request, found: PackConditions) -> _Writable:
    settings = request.app.state.settings
    campaign: Campaign = request.app.state.campaign
    today, days = date.today(), settings.stale_after_days
    return _Writable(
        paused=found.paused,
        held=found.held(campaign, today, days, settings.unverified_officials),
        unverified=found.unverified(campaign, today, days),
    )


def _officials(campaign: Campaign, lang: str, writable: _Writable) -> list[dict]:
    lang = campaign.text_language(lang)
    return [
        {
            "id": r.id,
            "name": r.address_as[lang].name,
            "title": r.address_as[lang].title,
            "demands": r.demands,
            "paused": r.id in writable.paused,
            "reason": writable.paused.get(r.id, ""),
            "held": r.id in writable.held,
            "last_checked": writable.unverified.get(r.id),
            "offered": r.id not in writable.withheld,
        }
        for r in campaign.recipients
    ]


def _news(session: Session, campaign: Campaign, lang: str) -> dict:
    """Replies received and case updates, latest first, as the campaign page shows them."""
    names = campaign.text_language(lang)
    received = []
    for reply in replies(session):
        recipient = campaign.recipient(reply.recipient_id)
        received.append(
            {
                "official": recipient.address_as[names].name if recipient else reply.recipient_id,
                "title": recipient.address_as[names].title if recipient else "",
                "received_on": reply.received_on,
                "summary": reply.summary,
            }
        )
    news = [
        {
            "id": update.id,
            "posted_on": update.posted_on,
            "html": linkify(in_language(update.text, lang)),
        }
        for update in updates(session)
    ]
    return {"replies": received, "updates": news}


def _risk_notices(campaign: Campaign, lang: str) -> list[dict]:
    """The notices for countries where signing is a risk (campaign.yaml `risk_countries`), in
    the page's language, each with the country named as the page names it."""
    return [
        {"code": code, "country": country_name(code, lang), "text": notice[lang]}
        for code, notice in campaign.case.risk_countries.items()
    ]


def _risk_in_preview(campaign: Campaign, lang: str, form: SupporterForm) -> dict | None:
    """The notice for the supporter's country, when signing there is a risk: shown above the
    letters, with the values to preview them again without street and postcode."""
    notice = campaign.case.risk_countries.get(form.country.strip().upper())
    if notice is None:
        return None
    return {
        "text": notice[lang],
        "address_given": bool(form.street.strip() or form.postcode.strip()),
        "without_address": [
            (name, value) for name, value in form.hidden_fields() if name not in ADDRESS_LINES
        ],
    }


def _page(
    request: Request,
    lang: str,
    template: str,
    *,
    status: int = 200,
    private: bool = False,
    switch: bool = True,
    **context: object,
) -> HTMLResponse:
    """A page in the UI language. Pages holding what a supporter typed, or a private link, are
    `private`: never stored by a cache, never indexed. In the embedded form's journey
    (app/routes/embed.py) the pages stay under /embed, for the site that frames them; at a
    write-a-thon's kiosk (app/routes/kiosk.py) under its link, none of them cached."""
    campaign: Campaign = request.app.state.campaign
    embed = getattr(request.state, "embed", None)
    kiosk = getattr(request.state, "kiosk", None)
    journey = "/embed" if embed else f"/kiosk/{kiosk.kiosk_token}" if kiosk else ""
    # A page answering a form post has no address of its own to switch: the campaign page has,
    # or the kiosk's form.
    path = request.url.path if request.method == "GET" else journey or "/"
    switcher = [
        (
            code,
            LANGUAGE_NAMES[code],
            f"/embed?{urlencode({'site': embed, 'lang': code})}"
            if embed
            else f"{path}?lang={code}",
        )
        for code in UI_LANGUAGES
    ]
    html = render(
        lang,
        template,
        static=request.app.state.assets.url,
        site_name=campaign.case.title[lang],
        switcher=switcher if switch else [],
        html_locale=BABEL_LOCALES[lang],
        embed=embed,
        kiosk=kiosk,
        journey=journey,
        **context,
    )
    headers = {"Content-Language": lang}
    if "lang" not in request.query_params:
        headers["Vary"] = "Accept-Language"
    if embed:
        headers["X-Robots-Tag"] = "noindex, nofollow"
    if private or kiosk:
        headers["Cache-Control"] = "no-store"
        headers["X-Robots-Tag"] = "noindex, nofollow"
    return HTMLResponse(html, status_code=status, headers=headers)


def _counter(session: Session, request: Request) -> dict:
    stats = public_stats(request.app.state.engine, request.app.state.campaign)
    goal = request.app.state.settings.campaign_goal
    return {"sent": stats["sent"], "generated": stats["generated"], "goal": goal}


def _paper_in_preview(lang: str, form: SupporterForm) -> dict:
    """Which paper the letters are laid out for, and why (the supporter's choice, or the paper
    usual in their country), with the values to preview them again on the other paper."""
    paper = form.shown_paper()
    other = next(p for p in PAPERS if p != paper)
    return {
        "paper": paper,
        "name": gettext(lang, PAPER_NAMES[paper]),
        "chosen": form.paper in PAPERS,
        "country": country_name(form.country.strip().upper(), lang),
        "other_name": gettext(lang, PAPER_NAMES[other]),
        "other": [(n, other if n == "paper" else v) for n, v in form.hidden_fields()],
        "labels": form.labels,
    }


def _campaign_page(
    request: Request,
    session: Session,
    form: SupporterForm,
    *,
    errors: dict | None = None,
    status: int = 200,
) -> HTMLResponse:
    lang = ui_language(request)
    campaign: Campaign = request.app.state.campaign
    case = campaign.case
    base = str(request.url_for("campaign_page"))
    found = read_pack_conditions(session)
    officials = _officials(campaign, lang, _writable(request, found))
    messages = {
        name: gettext(lang, error.message, **{k: number(v, lang) for k, v in error.values.items()})
        for name, error in (errors or {}).items()
    }
    return _page(
        request,
        lang,
        "campaign.html",
        status=status,
        private=request.method == "POST",
        case={
            "title": case.title[lang],
            "prisoners": case.prisoners[lang],
            "summary": case.summary[lang],
            "demands": [d.text[lang] for d in case.demands],
            "source": case.source,
            "language_hint": case.language_hint[lang] if case.language_hint else None,
        },
        officials=officials,
        writable=sum(official["offered"] for official in officials),
        state=found.status.state,
        state_message=found.status.message_in(lang),
        **_news(session, campaign, lang),
        counter=_counter(session, request),
        form=form,
        errors=messages,
        countries=countries(lang),
        risk_notices=_risk_notices(campaign, lang),
        risk_countries=format_list(
            [country_name(code, lang) for code in case.risk_countries],
            style="or",
            locale=BABEL_LOCALES[lang],
        ),
        street_required=form.country.strip().upper() not in case.risk_countries,
        # The paper shown checked: the supporter's choice, else the country's usual paper, which
        # the form posts back as the default it showed (app/forms.py).
        paper_checked=form.shown_paper(),
        paper_default="" if form.paper in PAPERS else usual_paper(form.country),
        letter_countries=sorted(LETTER_COUNTRIES),
        letter_languages={code: LANGUAGE_NAMES[code] for code in campaign.languages},
        default_language=campaign.default_language,
        share={
            "url": f"{base}?lang={lang}",
            "image": f"{request.url_for('share_picture')}?lang={lang}",
            "locale": OPEN_GRAPH_LOCALES[lang],
            "alternates": [OPEN_GRAPH_LOCALES[code] for code in UI_LANGUAGES if code != lang],
        },
        base_url=base,
    )


@router.get("/", response_class=HTMLResponse, name="campaign_page")
def campaign_page(request: Request, session: Session = Depends(get_session)) -> HTMLResponse:
    campaign = request.app.state.campaign
    writable = _writable(request, read_pack_conditions(session))
    return _campaign_page(request, session, SupporterForm.blank(campaign, writable.withheld))


# The form's posts read their body on the event loop, holding nothing else meanwhile, then do
# the rest in a worker thread: the database and checking a drawn signature must not stop the
# loop. Each reads in a short read-only transaction, closed before checking, rendering or
# waiting for a render; a write is one short transaction at the end.


def _form_page(request: Request, form: SupporterForm, **options: object) -> HTMLResponse:
    with request.app.state.reader() as session:
        return _campaign_page(request, session, form, **options)  # type: ignore[arg-type]


def _writable_if_open(request: Request) -> _Writable | None:
    """Who takes letters now, or None when the campaign is paused or closed."""
    with request.app.state.reader() as session:
        found = read_pack_conditions(session)
    return _writable(request, found) if found.status.is_open else None


def _not_open(request: Request) -> HTMLResponse:
    """Paused or closed: the form's posts get the campaign page, which shows staff's message
    and the counts instead of the form. Nothing is counted."""
    return _form_page(request, SupporterForm(), status=409)


@router.post("/edit", response_class=HTMLResponse)
async def edit(request: Request) -> HTMLResponse:
    """Back from the preview to the form, with everything as the supporter left it."""
    data = await request.form()
    return await run_in_threadpool(_edit, request, data)


def _checked_form(
    request: Request, data: FormData, *, refuse_paused: bool = True
) -> tuple[SupporterForm, Checked, _Writable] | HTMLResponse:
    """The form's values checked, with who takes letters; or the page that answers instead:
    the campaign page (409) when the campaign is paused or closed, the form with its errors
    (422). A download (`refuse_paused` False) leaves paused and held officials out rather than
    refuse."""
    writable = _writable_if_open(request)
    if writable is None:
        return _not_open(request)
    form = SupporterForm.from_form(data)
    campaign = request.app.state.campaign
    if not refuse_paused:
        # A thank-you page opened before an office was removed from recipients.yaml.
        known = [rid for rid in form.recipients if campaign.recipient(rid) is not None]
        if form.recipients and not known:
            return _paused_page(request, campaign, writable, form.recipients)
        form.recipients = known
    if refuse_paused:
        checked = check(form, campaign, writable.paused, writable.held)
    else:
        checked = check(form, campaign)
    if checked.errors:
        return _form_page(request, form, errors=checked.errors, status=422)
    return form, checked, writable


def _edit(request: Request, data: FormData) -> HTMLResponse:
    if _writable_if_open(request) is None:
        return _not_open(request)
    return _form_page(request, SupporterForm.from_form(data))


@router.post("/preview", response_class=HTMLResponse)
async def preview(request: Request) -> HTMLResponse:
    """The letters as the download will hold them: the variant paragraphs are picked here and
    travel on in the form's hidden fields, with the token the letters will be counted under."""
    data = await request.form()
    return await run_in_threadpool(_preview, request, data)


def _preview(request: Request, data: FormData) -> HTMLResponse:
    outcome = _checked_form(request, data)
    if isinstance(outcome, HTMLResponse):
        return outcome
    form, checked, writable = outcome
    campaign: Campaign = request.app.state.campaign
    lang = ui_language(request)
    choice = decode_variants(form.variants, campaign)
    if choice is None:
        choice = pick_variants(campaign)
    form.variants = encode_variants(choice)
    renderer: LetterRenderer = request.app.state.renderer
    letters = renderer.letters(checked.supporter, checked.recipients, date.today(), choice)  # type: ignore[arg-type]
    return _page(
        request,
        lang,
        "preview.html",
        private=True,
        switch=False,
        letters=[
            {
                "official": letter.recipient.address_as[campaign.text_language(lang)].name,
                "html": letter.html,
                "last_checked": writable.unverified.get(letter.recipient.id),
            }
            for letter in letters
        ],
        letter_language=checked.supporter.language,  # type: ignore[union-attr]
        hidden=form.hidden_fields(),
        token=new_form_token(_secret(request)),
        risk=_risk_in_preview(campaign, lang, form),
        paper=_paper_in_preview(lang, form),
    )


def _secret(request: Request) -> str:
    return request.app.state.settings.secret_key


@router.post("/letters", response_class=HTMLResponse)
async def create_letters(request: Request) -> HTMLResponse:
    """Counts the letters once: the token was minted and signed with the preview, so posting
    this again (a reload, a double click) finds them counted."""
    data = await request.form()
    return await run_in_threadpool(_create_letters, request, data)


def _create_letters(request: Request, data: FormData) -> HTMLResponse:
    outcome = _checked_form(request, data)
    if isinstance(outcome, HTMLResponse):
        return outcome
    form, checked, _ = outcome
    supporter = checked.supporter
    assert supporter is not None
    token = data.get("token", "")
    if not isinstance(token, str) or not form_token_signed(_secret(request), token):
        token = new_form_token(_secret(request))
    with request.app.state.sessionmaker.begin() as session:
        record_pack_once(
            session,
            token,
            checked.recipients,
            supporter.language,
            supporter.country,
            date.today(),
            embed_origin=getattr(request.state, "embed", None),
        )
    return _thanks(request, form, token)


def _letters_listed(session: Session, campaign: Campaign, token: str, lang: str) -> list[dict]:
    ui, lang = lang, campaign.text_language(lang)
    listed = []
    for recipient_id, sent_on in letters_of(session, token):
        recipient = campaign.recipient(recipient_id)
        listed.append(
            {
                "id": recipient_id,
                "official": (
                    recipient.address_as[lang].name if recipient else gettext(ui, REMOVED_OFFICE)
                ),
                "title": recipient.address_as[lang].title if recipient else "",
                "sent_on": sent_on,
            }
        )
    return listed


def _private_link(request: Request, token: str, lang: str) -> str:
    return f"{request.url_for('posted_page', token=token)}?lang={lang}"


def _thanks(request: Request, form: SupporterForm, token: str) -> HTMLResponse:
    lang = ui_language(request)
    campaign: Campaign = request.app.state.campaign
    with request.app.state.reader() as session:
        letters = _letters_listed(session, campaign, token, lang)
    postage = campaign.case.postage
    return _page(
        request,
        lang,
        "thanks.html",
        private=True,
        switch=False,
        letters=letters,
        hidden=form.hidden_fields(),
        token=token,
        private_link=_private_link(request, token, lang),
        postage=postage[lang] if postage else None,
        paper=form.shown_paper(),
    )


def _not_found(request: Request) -> HTMLResponse:
    lang = ui_language(request)
    return _page(request, lang, "unknown_link.html", status=404, private=True)


@dataclass(frozen=True)
class _PackOrder:
    """What a download renders, once checked: nothing of it is kept."""

    supporter: Supporter
    recipients: list[Recipient]
    variants: dict[str, int]
    only: str


@router.post("/letters/pdf")
async def download(request: Request) -> Response:
    """The PDF again, all letters or one: the values come back from the thank-you page with the
    token, so nothing is stored and nothing is counted twice. The variant paragraphs are those
    the preview picked; a form that lost them gets a fresh pick. While the pack waits for a
    renderer, the request holds no thread and no database connection."""
    data = await request.form()
    order = await run_in_threadpool(_pack_order, request, data)
    if not isinstance(order, _PackOrder):
        return order
    today = date.today()
    budget = request.app.state.settings.render_budget_s
    try:
        pdf = await request.app.state.metrics.counted(
            request.app.state.packs.make_pack(
                budget, order.supporter, order.recipients, today, order.variants
            )
        )
    except Busy as error:
        fields = [(name, str(value)) for name, value in data.multi_items()]
        retry = f"{request.url.path}?lang={ui_language(request)}"
        return busy_response(request, error, (retry, fields))
    name = f"appeal-letter-{order.only}" if order.only else "appeal-letters"
    return pdf_response(pdf, f"{name}-{today.isoformat()}.pdf")


def _pack_order(request: Request, data: FormData) -> _PackOrder | Response:
    outcome = _checked_form(request, data, refuse_paused=False)
    if isinstance(outcome, HTMLResponse):
        return outcome
    form, checked, writable = outcome
    campaign: Campaign = request.app.state.campaign
    token, only = data.get("token", ""), data.get("recipient", "")
    if not isinstance(token, str) or not valid_token(token) or not isinstance(only, str):
        return _not_found(request)
    try:
        with request.app.state.reader() as session:
            ids = [recipient_id for recipient_id, _ in letters_of(session, token)]
    except UnknownToken:
        return _not_found(request)
    if only:
        if only not in ids:
            return _not_found(request)
        ids = [only]
    left_out = {*writable.withheld, *(rid for rid in ids if campaign.recipient(rid) is None)}
    if all(recipient_id in left_out for recipient_id in ids):
        return _paused_page(request, campaign, writable, ids)
    ids = [recipient_id for recipient_id in ids if recipient_id not in left_out]
    assert checked.supporter is not None
    variants = decode_variants(form.variants, campaign) or pick_variants(campaign)
    return _PackOrder(checked.supporter, campaign.choose(ids), dict(variants), only)


def _paused_page(
    request: Request, campaign: Campaign, writable: _Writable, ids: list[str]
) -> HTMLResponse:
    """A thank-you page left open while staff paused its officials, while they became due for a
    check under UNVERIFIED_OFFICIALS=hold, or after their office left recipients.yaml: their
    letters are not made again, as the form no longer offers them (an office changed hands or
    was abolished, an address is wrong). 422, as for a form or API request naming such an
    official."""
    lang = ui_language(request)
    text_lang = campaign.text_language(lang)
    lines = []
    for recipient_id in ids:
        recipient = campaign.recipient(recipient_id)
        official = recipient.address_as[text_lang].name if recipient else recipient_id
        if recipient is None:
            lines.append(gettext(lang, REMOVED_OFFICE))
            continue
        if recipient_id in writable.paused:
            why = gettext(lang, PAUSED_TEXT, reason=writable.paused[recipient_id])
        else:
            checked = long_date(writable.held[recipient_id], lang)
            why = f"{gettext(lang, HELD_TEXT)} {gettext(lang, LAST_CHECKED, date=checked)}"
        lines.append(f"{official}: {why}")
    if any(rid in writable.paused for rid in ids):
        heading = PAUSED_HEADING
    elif any(rid in writable.held for rid in ids):
        heading = WAITING_HEADING
    else:
        heading = REMOVED_HEADING
    return problem_page(request, 422, heading, lines, retry_after=None)


def pdf_response(pdf: bytes, filename: str) -> Response:
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/posted/{token}", response_class=HTMLResponse, name="posted_page")
def posted_page(
    request: Request, token: str, session: Session = Depends(get_session)
) -> HTMLResponse:
    """The private page a supporter comes back to after posting; it knows no name."""
    lang = ui_language(request)
    try:
        letters = _letters_listed(session, request.app.state.campaign, token, lang)
    except UnknownToken:
        return _not_found(request)
    return _page(
        request,
        lang,
        "posted.html",
        private=True,
        letters=letters,
        token=token,
        counter=_counter(session, request),
        private_link=_private_link(request, token, lang),
    )


@router.post("/posted/{token}", response_model=None)
async def confirm(request: Request, token: str) -> Response:
    """Marks the letters (or one of them) posted; a second confirmation changes nothing."""
    only = (await request.form()).get("recipient", "")
    return await run_in_threadpool(_confirm, request, token, only)


def _confirm(request: Request, token: str, only: object) -> Response:
    try:
        with request.app.state.sessionmaker.begin() as session:
            confirm_posted(session, token, date.today(), [str(only)] if only else None)
    except UnknownToken:
        return _not_found(request)
    lang = ui_language(request)
    return RedirectResponse(_private_link(request, token, lang) + "#posted", status_code=303)


@router.get("/privacy", response_class=HTMLResponse)
def privacy(request: Request) -> HTMLResponse:
    return _page(request, ui_language(request), "privacy.html")


@router.get("/share.png", name="share_picture")
def share_picture(request: Request) -> Response:
    """The picture for Open Graph and Twitter cards, with the title in the UI language."""
    lang = ui_language(request)
    case = request.app.state.campaign.case
    png = share_image(case.title[lang], case.subject[lang])
    return Response(png, media_type="image/png", headers={"Cache-Control": ASSET_CACHE})


@router.get("/updates.atom", name="updates_feed")
def updates_feed(request: Request, session: Session = Depends(get_session)) -> Response:
    """The case updates as an Atom feed, in the UI language where staff gave one."""
    lang = ui_language(request)
    campaign: Campaign = request.app.state.campaign
    page = f"{request.url_for('campaign_page')}?lang={lang}"
    body = atom_feed(
        updates(session),
        title=campaign.case.title[lang],
        page_url=page,
        feed_url=f"{request.url_for('updates_feed')}?lang={lang}",
        lang=lang,
    )
    return Response(
        body,
        media_type="application/atom+xml",
        headers={"Cache-Control": "public, max-age=300", "Content-Language": lang},
    )
