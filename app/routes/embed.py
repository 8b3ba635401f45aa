"""The campaign's form on an organisation's own site: `/embed` is the form alone, and the
journey after it (preview, thank-you page, download) stays under `/embed/`, which only the sites
of EMBED_ORIGINS may frame (app/security.py). The steps are the supporter's own
(app/routes/supporter.py), told through `request.state.embed` to keep the journey here.

A framed page cannot reliably learn who frames it, so the snippet names its site
(`/embed?site=https://example.org`), each step carries it on in a hidden field, and a site not in
EMBED_ORIGINS gets 404: so does every `/embed` address while the list is empty. The browser
shows these pages only in frames of the allowed sites, but which of them is counted is what the
snippet says; the dashboard says no more than that.
"""

import json
from html import escape
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from app.errors import problem_page
from app.i18n import N_, gettext, ui_language
from app.routes import supporter
from app.security import EMBED_PATH
from app.storage.db import get_session

NOT_HERE_HEADING = N_("This form is not available here")
NOT_HERE_TEXT = N_(
    "The campaign has not allowed this website to show its form. You can write your letters "
    "on the campaign's own page."
)
HEIGHT_MESSAGE = "letter-campaign:height"
"""What embed.js posts to the framing page: {type, height, page} (page: a new page loaded)."""

router = APIRouter(prefix=EMBED_PATH, include_in_schema=False)


def _embedded(request: Request, site: object) -> bool:
    """Takes the journey to the embed's pages and counts, if `site` is an allowed origin."""
    if site not in request.app.state.settings.embed_origins:
        return False
    request.state.embed = site
    return True


def _not_here(request: Request) -> HTMLResponse:
    lang = ui_language(request)
    text = gettext(lang, NOT_HERE_TEXT)
    return problem_page(request, 404, NOT_HERE_HEADING, [text], retry_after=None)


@router.get("", response_class=HTMLResponse)
def embedded_form(request: Request, session: Session = Depends(get_session)) -> HTMLResponse:
    if not _embedded(request, request.query_params.get("site")):
        return _not_here(request)
    return supporter.campaign_page(request, session)


async def _step(request: Request, step) -> Response:  # type: ignore[no-untyped-def]
    """A step of the supporter's journey, for the site its form names."""
    if not _embedded(request, (await request.form()).get("site")):
        return _not_here(request)
    return await step(request)


@router.post("/edit", response_class=HTMLResponse)
async def edit(request: Request) -> Response:
    return await _step(request, supporter.edit)


@router.post("/preview", response_class=HTMLResponse)
async def preview(request: Request) -> Response:
    return await _step(request, supporter.preview)


@router.post("/letters", response_class=HTMLResponse)
async def create_letters(request: Request) -> Response:
    return await _step(request, supporter.create_letters)


@router.post("/letters/pdf")
async def download(request: Request) -> Response:
    return await _step(request, supporter.download)


def snippet(service: str, site: str, title: str) -> str:
    """What staff paste into a page of `site`: the frame, and the few lines that let the frame
    set its own height (embed.js says it only to `site`; this checks it comes from `service`)."""
    source = f"{service}{EMBED_PATH}?{urlencode({'site': site})}"
    return f"""<iframe id="letter-campaign" src="{escape(source)}" title="{escape(title)}"
  style="width: 100%; height: 1600px; border: 0"></iframe>
<script>
window.addEventListener("message", function (event) {{
  var frame = document.getElementById("letter-campaign");
  var data = event.data || {{}};
  if (event.origin !== {json.dumps(service)} || event.source !== frame.contentWindow) return;
  if (data.type !== "{HEIGHT_MESSAGE}") return;
  frame.style.height = data.height + "px";
  if (data.page && frame.getBoundingClientRect().top < 0) frame.scrollIntoView();
}});
</script>
"""
