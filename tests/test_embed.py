"""The form on an organisation's own site: `/embed` and the journey after it may be framed by the
sites of EMBED_ORIGINS and by no other, while every other page refuses every frame; the journey
works inside the frame with JavaScript and without, to the download and the private link; its
letters are counted as usual and, per site, on the dashboard, which gives staff the snippet."""

import io
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import pdfplumber
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from pydantic import ValidationError
from sqlalchemy import insert, select

from app.main import create_app
from app.routes.embed import snippet
from app.settings import Settings
from app.storage.counts import by_embed_origin
from app.storage.db import make_engine, migrate
from app.storage.models import EmbedCount
from tests.html_pages import Page
from tests.reading import flat
from tests.servers import free_port, running
from tests.staff_pages import rows_by_label, tables

FRIENDS = "https://friends.example"
NEIGHBOURS = "http://neighbours.example:8080"
FORM_HEADERS = {"content-type": "application/x-www-form-urlencoded"}
SUPPORTER = {
    "name": "Ada Framewell",
    "street": "Rue du Cadre 3",
    "city": "Lyon",
    "country": "FR",
    "language": "en",
    "signature_kind": "typed",
}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret-key",
        campaign_goal=5000,
        embed_origins=[FRIENDS, NEIGHBOURS],
    )


def post(client, path: str, pairs: list[tuple[str, str]], **headers: str):
    return client.post(
        path, content=urlencode(pairs), headers={**FORM_HEADERS, **headers}, follow_redirects=False
    )


def embedded_form(client, site: str = FRIENDS, lang: str = "en") -> Page:
    response = client.get(f"/embed?{urlencode({'site': site, 'lang': lang})}")
    assert response.status_code == 200, response.text[:1000]
    return Page(response.text)


def filled(form: Page, **changes: str) -> list[tuple[str, str]]:
    """The embedded form's values with the supporter's typed in, officials left as ticked."""
    values = {**SUPPORTER, **changes}
    kept = [(k, v) for k, v in form.form_values("form.supporter-form") if k not in values]
    return kept + list(values.items())


def journey(client, site: str = FRIENDS, **changes: str) -> dict[str, object]:
    """Form, preview, thank-you page and download, inside the embed for `site`."""
    form = embedded_form(client, site)
    preview = post(client, "/embed/preview?lang=en", filled(form, **changes))
    assert preview.status_code == 200, preview.text[:1000]
    decide = Page(preview.text).form_values("form.decide")
    thanks = post(client, "/embed/letters?lang=en", decide)
    assert thanks.status_code == 200, thanks.text[:1000]
    download = Page(thanks.text).form_values("#download")
    pdf = post(client, "/embed/letters/pdf?lang=en", download)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    return {"form": form, "preview": preview, "decide": decide, "thanks": thanks, "pdf": pdf}


def frame_ancestors(response) -> str:
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["content-security-policy"].split(";")
    )
    return policy["frame-ancestors"]


def refuses_frames(response) -> bool:
    return response.headers["x-frame-options"] == "DENY" and frame_ancestors(response) == "'none'"


# --- the setting ---------------------------------------------------------------------------------


def test_embed_origins_are_origins_and_a_bad_one_stops_start_up_naming_it():
    given = " https://Friends.example/, http://127.0.0.1:8001,https://friends.example:443"
    assert Settings(embed_origins=given).embed_origins == [FRIENDS, "http://127.0.0.1:8001"]
    assert Settings().embed_origins == []
    for bad in ("friends.example", "https://friends.example/page", "*", "https://a.example;b"):
        with pytest.raises(ValidationError, match="EMBED_ORIGINS") as refused:
            Settings(embed_origins=f"{FRIENDS},{bad}")
        assert repr(bad) in str(refused.value)


def test_without_embed_origins_there_is_no_embed_and_no_page_may_be_framed(settings, client):
    unset = create_app(settings.model_copy(update={"embed_origins": []}))
    with TestClient(unset) as plain:
        missing = plain.get(f"/embed?site={FRIENDS}")
        assert missing.status_code == 404 and refuses_frames(missing)
        assert post(plain, "/embed/letters", [("site", FRIENDS)]).status_code == 404
    unset.state.engine.dispose()
    # The same address, with the setting: the form, framed by the allowed sites only.
    shown = client.get(f"/embed?site={FRIENDS}")
    assert shown.status_code == 200
    assert frame_ancestors(shown) == f"{FRIENDS} {NEIGHBOURS}"


# --- headers -------------------------------------------------------------------------------------


def test_only_the_embed_journey_may_be_framed_and_only_by_the_allowed_sites(client):
    steps = journey(client)
    unknown = client.get("/embed?site=https://elsewhere.example")
    for response in [
        client.get(f"/embed?site={FRIENDS}"),
        steps["preview"],
        steps["thanks"],
        steps["pdf"],
        post(client, "/embed/edit?lang=en", steps["decide"]),
        unknown,
    ]:
        assert frame_ancestors(response) == f"{FRIENDS} {NEIGHBOURS}", response.url
        assert "x-frame-options" not in response.headers, response.url
        assert "set-cookie" not in response.headers, "the supporter's journey keeps no cookie"
    token = dict(Page(steps["thanks"].text).form_values("#download"))["token"]
    for path in ("/", "/privacy", f"/posted/{token}", "/login", "/api/stats", "/embedded"):
        assert refuses_frames(client.get(path)), path
    assert refuses_frames(post(client, "/preview?lang=en", filled(steps["form"])))


def test_a_site_not_allowed_is_not_found_and_nothing_is_counted(client):
    form = embedded_form(client)
    for query in ("", "?site=https://elsewhere.example", f"?site={FRIENDS}/"):
        missing = client.get(f"/embed{query}&lang=en" if query else "/embed?lang=en")
        assert missing.status_code == 404
        assert "This form is not available here" in missing.text
    forged = [(k, "https://elsewhere.example" if k == "site" else v) for k, v in filled(form)]
    for path in ("/embed/preview", "/embed/letters", "/embed/letters/pdf", "/embed/edit"):
        assert post(client, f"{path}?lang=en", forged).status_code == 404, path
    assert client.get("/api/stats").json()["generated"] == 0


def test_posts_into_the_embed_from_the_framing_site_itself_are_refused(client):
    """A framed form posts as the service's own page; the host page's own forms are another
    site's, and refused like any."""
    steps = journey(client)
    counted = client.get("/api/stats").json()["generated"]
    host = {"Origin": FRIENDS, "Sec-Fetch-Site": "cross-site"}
    for path in ("/embed/preview", "/embed/letters", "/embed/letters/pdf"):
        assert post(client, f"{path}?lang=en", steps["decide"], **host).status_code == 403
    framed = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    again = Page(post(client, "/embed/preview?lang=en", filled(steps["form"]), **framed).text)
    created = post(client, "/embed/letters?lang=en", again.form_values("form.decide"), **framed)
    assert created.status_code == 200
    assert client.get("/api/stats").json()["generated"] == 2 * counted


# --- the pages -----------------------------------------------------------------------------------


def test_the_embed_is_the_form_alone_and_every_step_stays_in_the_embed_for_its_site(client):
    form = embedded_form(client, NEIGHBOURS)
    assert form.attr("form.supporter-form", "action") == "/embed/preview?lang=en"
    assert ("site", NEIGHBOURS) in form.form_values("form.supporter-form")
    assert form.all("#demands-heading") == [] and form.all(".counter") == []
    assert form.text("h1") and form.all("#write-heading")
    site = urlencode({"site": NEIGHBOURS})
    switcher = [a.get("href") for a in form.all("nav.languages a")]
    assert switcher == [f"/embed?{site}&lang={code}" for code in ("en", "ru", "kk")]
    for link in form.all('a[href^="/privacy"], .site-name a'):
        assert (link.get("target"), link.get("rel")) == ("_blank", "noopener")
    script = form.one("script[data-parent]")
    assert script.get("data-parent") == NEIGHBOURS and "/embed." in script.get("src")

    steps = journey(client, NEIGHBOURS)
    preview = Page(steps["preview"].text)
    actions = [f.get("action") for f in preview.all("main form")]
    assert actions and all(action.startswith("/embed/preview?") for action in actions[:-1])
    assert actions[-1] == "/embed/letters?lang=en"
    assert preview.attr("form.decide button.button-secondary", "formaction").startswith(
        "/embed/edit?"
    )
    for form_element in preview.all("main form"):
        fields = [(i.get("name"), i.get("value")) for i in form_element.iter() if i.get("name")]
        assert ("site", NEIGHBOURS) in fields
    thanks = Page(steps["thanks"].text)
    assert thanks.attr("#download", "action") == "/embed/letters/pdf?lang=en"
    assert ("site", NEIGHBOURS) in thanks.form_values("#download")
    assert thanks.attr("#posted-form", "target") == "_blank"
    private = thanks.one("#private-link-open")
    assert private.get("href") == thanks.attr("#private-link", "value")
    assert (private.get("target"), private.get("rel")) == ("_blank", "noopener")
    assert client.get(f"/embed?{site}").headers["x-robots-tag"] == "noindex, nofollow"

    # The campaign page itself is as it was.
    page = Page(client.get("/?lang=en").text)
    assert page.attr("form.supporter-form", "action") == "/preview?lang=en"
    assert "site" not in dict(page.form_values("form.supporter-form"))
    assert page.all("script[data-parent]") == [] and page.all("#demands-heading")


# --- counting ------------------------------------------------------------------------------------


def test_letters_through_an_embed_count_as_usual_and_per_site_on_the_dashboard(
    app, staff_client, campaign
):
    officials = len(campaign.recipients)
    steps = journey(staff_client)
    # A reload of the thank-you page finds the letters counted: neither count moves.
    assert post(staff_client, "/embed/letters?lang=en", steps["decide"]).status_code == 200
    journey(staff_client, recipients="ombudsman")
    journey(staff_client, NEIGHBOURS)
    plain = Page(staff_client.get("/?lang=en").text)
    preview = post(staff_client, "/preview?lang=en", filled(plain))
    post(staff_client, "/letters?lang=en", Page(preview.text).form_values("form.decide"))
    with app.state.engine.begin() as connection:
        connection.execute(
            insert(EmbedCount).values(origin="https://gone.example", packs=3, generated=5)
        )

    assert staff_client.get("/api/stats").json()["generated"] == 3 * officials + 1
    with app.state.sessionmaker() as session:
        found = by_embed_origin(session, [FRIENDS, NEIGHBOURS])
    assert [(e.origin, e.packs, e.letters, e.allowed) for e in found] == [
        (FRIENDS, 2, officials + 1, True),
        (NEIGHBOURS, 1, officials, True),
        ("https://gone.example", 3, 5, False),
    ]
    page = staff_client.get("/dashboard").text
    assert rows_by_label(tables(page)["embeds"]) == {
        FRIENDS: ["2", f"{officials + 1}"],
        NEIGHBOURS: ["1", f"{officials}"],
        "https://gone.example": ["3", "5"],
    }
    assert "no longer in EMBED_ORIGINS" in page
    assert "came through the embed for a site" in flat(Page(page).text("main"))


def test_staff_copy_a_snippet_for_each_allowed_site_from_the_dashboard(staff_client):
    page = Page(staff_client.get("/dashboard").text)
    snippets = page.all("textarea[readonly]")
    assert [s.get("id") for s in snippets] == ["snippet-1", "snippet-2"]
    for textarea, site in zip(snippets, (FRIENDS, NEIGHBOURS), strict=True):
        code = textarea.text
        assert f'src="http://testserver/embed?{urlencode({"site": site})}"' in code
        assert 'event.origin !== "http://testserver"' in code
        assert "event.source !== frame.contentWindow" in code
    assert "For https://friends.example" in page.text("main")


def test_embed_packs_count_against_the_supporters_letters_limit(settings):
    limited = create_app(settings.model_copy(update={"rate_limit_letters": "1/day"}))
    with TestClient(limited) as client:
        form = embedded_form(client)
        preview = post(client, "/embed/preview?lang=en", filled(form))
        decide = Page(preview.text).form_values("form.decide")
        assert post(client, "/embed/letters?lang=en", decide).status_code == 200
        refused = post(client, "/embed/letters?lang=en", decide)
        assert refused.status_code == 429
        assert post(client, "/letters?lang=en", decide).status_code == 429
    limited.state.engine.dispose()
    # The campaign page refuses to show in a frame: from the embed, its link opens a new tab.
    back = Page(refused.text).one("main a[href^='/?lang=']")
    assert back.get("target") == "_blank" and back.get("rel") == "noopener"


# --- in a real browser ---------------------------------------------------------------------------

HEARD = """<script>
window.heard = [];
window.addEventListener("message", function (event) {
  window.heard.push({origin: event.origin, data: event.data});
});
</script>"""


class HostSite(BaseHTTPRequestHandler):
    """An organisation's page at `localhost` (another site than the service's 127.0.0.1)."""

    pages: dict[str, str] = {}

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = self.pages.get(self.path, "").encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(body)


def host_site(pages: dict[str, str]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Host", (HostSite,), {"pages": pages}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://localhost:{server.server_address[1]}"


def html(title: str, body: str) -> str:
    return f"<!doctype html><meta charset=utf-8><title>{title}</title><h1>{title}</h1>{body}"


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """The service; a site it allows, with the staff snippet; another site it allows and one it
    does not, both with a copy of that snippet, which names the first site."""
    pages: dict[str, dict[str, str]] = {"allowed": {}, "also": {}, "refused": {}}
    servers = {name: host_site(site_pages) for name, site_pages in pages.items()}
    urls = {name: url for name, (_, url) in servers.items()}
    folder = tmp_path_factory.mktemp("embed")
    database_url = f"sqlite:///{folder / 'letters.db'}"
    migrate(database_url)
    port = free_port()
    env = {"DATABASE_URL": database_url, "EMBED_ORIGINS": f"{urls['allowed']},{urls['also']}"}
    command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with running(command, env, port, folder / "log") as (service, _):
        code = snippet(service, urls["allowed"], "Write to the officials")
        pages["allowed"]["/"] = html("Friends of the prisoners", HEARD + code)
        pages["allowed"]["/campaign"] = html("Framing", f'<iframe src="{service}/"></iframe>')
        pages["also"]["/"] = html("Friends too", HEARD + code)
        pages["refused"]["/"] = html("Not a friend", code)
        yield {**urls, "service": service, "db": database_url}
    for server, _ in servers.values():
        server.shutdown()


def fill_in(frame) -> None:
    for field in ("name", "street", "city"):
        frame.locator(f"#{field}").fill(SUPPORTER[field])
    frame.locator("#country").select_option(SUPPORTER["country"])
    frame.locator("#language-en").check()


def draw_signature(page, pad) -> None:
    """A zigzag with the mouse, on the pad inside the frame (its box is in the page's terms)."""
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    x, y, width, height = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + width * 0.1, y + height * 0.5)
    page.mouse.down()
    for step in range(1, 13):
        page.mouse.move(x + width * (0.1 + 0.06 * step), y + height * (0.5 + 0.3 * (-1) ** step))
    page.mouse.up()


def embed_counts(database_url: str) -> dict[str, tuple[int, int]]:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        found = connection.execute(
            select(EmbedCount.origin, EmbedCount.packs, EmbedCount.generated)
        )
        counts = {origin: (packs, letters) for origin, packs, letters in found}
    engine.dispose()
    return counts


def download_and_read(page, frame) -> tuple[str, int]:
    """The pack the frame's download button gives: its text, and how many pictures it holds."""
    with page.expect_download() as download:
        frame.locator("#download button[value='']").click()
    assert download.value.suggested_filename.startswith("appeal-letters-")
    pdf = Path(download.value.path()).read_bytes()
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        text = flat(" ".join(sheet.extract_text() for sheet in document.pages))
        return text, sum(len(sheet.images) for sheet in document.pages)


@pytest.mark.browser
@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_the_journey_runs_inside_the_frame_on_an_allowed_site(browser, sites, javascript):
    context = browser.new_context(accept_downloads=True, java_script_enabled=javascript)
    page = context.new_page()
    page.set_default_timeout(20_000)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    before = embed_counts(sites["db"]).get(sites["allowed"], (0, 0))
    page.goto(f"{sites['allowed']}/")
    frame = page.frame_locator("#letter-campaign")
    expect(frame.locator("form.supporter-form")).to_be_visible()
    framed = next(f for f in page.frames if f.url.startswith(f"{sites['service']}/embed"))

    if not javascript:
        expect(frame.locator("#signature-drawn")).to_be_hidden()
        assert page.locator("#letter-campaign").get_attribute("style").endswith("1600px; border: 0")
    if javascript:
        # The frame takes the height of each page it shows: it never scrolls inside.
        framed.wait_for_function(
            "() => document.documentElement.scrollHeight <= window.innerHeight"
        )
        heard = page.evaluate("window.heard")
        assert heard and {m["origin"] for m in heard} == {sites["service"]}
        assert heard[-1]["data"]["type"] == "letter-campaign:height"
        assert (
            page.evaluate("document.getElementById('letter-campaign').style.height")
            == f"{heard[-1]['data']['height']}px"
        )
    fill_in(frame)
    if javascript:
        frame.locator("#signature-drawn").check()
        draw_signature(page, frame.locator("#signature-pad"))
    else:
        frame.locator("#signature-none").check()
    frame.locator("button:has-text('Preview my letters')").click()
    expect(frame.locator("h1")).to_have_text("Check your letters")
    frame.locator("button:has-text('Create my letters')").click()
    expect(frame.locator("h1")).to_have_text("Thank you! Your letters are ready")
    if javascript:
        framed = next(f for f in page.frames if f.url.startswith(f"{sites['service']}/embed"))
        framed.wait_for_function(
            "() => document.documentElement.scrollHeight <= window.innerHeight"
        )

    text, pictures = download_and_read(page, frame)
    assert SUPPORTER["name"] in text and "Rue du Cadre 3" in text
    letters = frame.locator("#posted-form ~ .letter-list li").count()
    assert letters > 1 and pictures == (letters if javascript else 0), "signed on every letter"

    private_link = frame.locator("#private-link").input_value()
    with context.expect_page() as opened:
        frame.locator("#private-link-open").click()
    assert opened.value.url == private_link
    opened.value.close()
    with context.expect_page() as posted:
        frame.locator("#posted-form button[value='']").click()
    expect(posted.value.locator(".status-sent").first).to_be_visible()
    assert posted.value.url.split("#")[0] == private_link
    # The host page is still there, with the thank-you page in its frame.
    expect(page.locator("h1")).to_have_text("Friends of the prisoners")

    packs, letters = embed_counts(sites["db"])[sites["allowed"]]
    assert packs == before[0] + 1 and letters > before[1]
    loaded = [u for u in requests if not u.startswith((sites["allowed"], sites["service"]))]
    assert loaded == [], "nothing loaded from a third host"
    context.close()


@pytest.mark.browser
def test_only_an_allowed_site_shows_the_form_and_no_site_shows_another_page(browser, sites):
    page = browser.new_page()
    refusals: list[str] = []
    page.on("console", lambda message: refusals.append(message.text))

    page.goto(f"{sites['allowed']}/")
    expect(page.frame_locator("#letter-campaign").locator("form.supporter-form")).to_be_visible()

    page.goto(f"{sites['refused']}/")
    expect(page.locator("h1")).to_have_text("Not a friend")
    page.wait_for_load_state("load")
    assert not [f for f in page.frames if f.url.startswith(sites["service"])]
    assert page.frame_locator("#letter-campaign").locator("form").count() == 0
    assert any("frame-ancestors" in text for text in refusals), refusals

    page.goto(f"{sites['allowed']}/campaign")
    page.wait_for_load_state("load")
    assert not [f for f in page.frames if f.url.startswith(sites["service"])]
    assert any("X-Frame-Options" in t or "'none'" in t for t in refusals), refusals
    page.close()


@pytest.mark.browser
def test_the_height_is_told_only_to_the_site_the_snippet_names(browser, sites):
    """Another allowed site that frames the snippet of the first shows the form, but hears
    nothing from it: the frame tells its height to the named site only, never to "*"."""
    page = browser.new_page()
    page.goto(f"{sites['also']}/")
    expect(page.frame_locator("#letter-campaign").locator("form.supporter-form")).to_be_visible()
    framed = next(f for f in page.frames if f.url.startswith(f"{sites['service']}/embed"))
    # Messages from one frame arrive in the order it sent them: after this one, none is due.
    framed.evaluate("() => window.parent.postMessage('done', '*')")
    page.wait_for_function("() => window.heard.some(m => m.data === 'done')")
    assert page.evaluate("window.heard.map(m => m.data)") == ["done"]
    page.close()
