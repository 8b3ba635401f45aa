"""The supporter journey in a real browser (Debian's Chromium through Playwright), against a real
server: draw a signature with the mouse, preview, download and read back the PDF, say the letters
are posted and watch the public counter move; the same without JavaScript; axe-core finds no
WCAG 2.1 A/AA violation in any UI language, and nothing overflows a 375 px wide phone."""

import base64
import io
import json
import re
import sys
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs

import pdfplumber
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from app.settings import Settings
from tests.reading import flat
from tests.servers import free_port, running

pytestmark = pytest.mark.browser

AXE = Settings().node_modules / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
UI = ("en", "ru", "kk")
TODAY = date.today().isoformat()
PHONE = {"width": 375, "height": 740}
HANDWRITING_LOADED = """() => document.fonts.ready.then(() => [...document.fonts].some(
    face => face.family.includes("Campaign Handwriting") && face.status === "loaded"))"""

SUPPORTER = {
    "name": "Dana Browserova",
    "street": "Rue de la Paix 7",
    "postcode": "75002",
    "city": "Paris",
    "country": "FR",
    "message": "First paragraph from the browser.\n\nSecond paragraph, with care.",
}


@pytest.fixture(scope="module")
def server_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("browser") / "server.log"


@pytest.fixture(scope="module")
def server(server_log: Path) -> str:
    """One migrated SQLite database and one server process for the whole module."""
    from app.storage.db import migrate

    database_url = f"sqlite:///{server_log.parent / 'journey.db'}"
    migrate(database_url)
    env = {"DATABASE_URL": database_url, "CAMPAIGN_GOAL": "5000", "LOG_LEVEL": "info"}
    port = free_port()
    command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with running(command, env, port, server_log) as (base_url, _process):
        yield base_url


class Watched:
    """A page whose requests and console errors are collected, to assert on afterwards."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def foreign_requests(self) -> list[str]:
        return [
            url
            for url in self.requests
            if not url.startswith(self.base_url) and not url.startswith("data:")
        ]


def open_page(browser, base_url: str, **options) -> Watched:
    context = browser.new_context(accept_downloads=True, **options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return Watched(page, base_url)


def fill_form(page: Page, supporter: dict = SUPPORTER) -> None:
    for field in ("name", "street", "postcode", "city", "message"):
        page.fill(f"#{field}", supporter[field])
    page.select_option("#country", supporter["country"])


def draw_signature(page: Page) -> None:
    pad = page.locator("#signature-pad")
    expect(pad).to_be_visible()
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    assert box is not None
    x, y, width, height = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + width * 0.1, y + height * 0.7)
    page.mouse.down()
    for step in range(1, 25):
        fraction = step / 24
        wave = 0.5 + 0.3 * (-1) ** step
        page.mouse.move(x + width * (0.1 + 0.75 * fraction), y + height * wave, steps=3)
    page.mouse.up()


def counter_value(page: Page) -> int:
    return int(re.sub(r"\D", "", page.locator('[data-count="sent"]').first.inner_text()))


def pdf_from(download) -> bytes:
    return Path(download.path()).read_bytes()


def run_axe(page: Page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_21_AA
    )
    assert len(result["passes"]) > 10, "axe checked next to nothing"
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]


def overflow(page: Page) -> dict:
    """How far the page is wider than the window, and which elements stick out."""
    return page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            const wide = [...document.querySelectorAll('body *')]
                .filter(el => el.getBoundingClientRect().right > width + 0.5)
                .filter(el => !el.closest('.visually-hidden, .skip-link'))
                .map(el => el.tagName + (el.id ? '#' + el.id : '') + '.' + el.className);
            return {extra: document.documentElement.scrollWidth - width, wide: wide.slice(0, 8)};
        }"""
    )


def test_a_supporter_draws_previews_downloads_posts_and_moves_the_counter(browser, server):
    watcher = open_page(browser, server, viewport={"width": 1280, "height": 900})
    page = watcher.page
    page.goto(f"{server}/?lang=en")
    before = counter_value(page)
    # Someone else reads the campaign page meanwhile, in a window of their own (a background
    # tab would have its timers throttled).
    audience = browser.new_context().new_page()
    audience.goto(f"{server}/?lang=en")

    fill_form(page)
    expect(page.locator("#message-count")).to_have_text(
        f"Characters left: {2000 - len(SUPPORTER['message']):,}"
    )
    page.check("#language-en")
    page.uncheck("#recipients-la-155-1")
    page.uncheck("#recipients-state-secretary")
    page.check("#signature-typed")
    expect(page.locator("#typed-preview")).to_have_text(SUPPORTER["name"])
    assert page.evaluate(HANDWRITING_LOADED), "the typed signature is shown in the letters' font"
    page.check("#signature-drawn")
    draw_signature(page)
    page.click("text=Clear the signature")
    page.click("text=Preview my letters")
    expect(page.locator("#signature-error")).to_contain_text("Draw your signature in the box")
    expect(page.locator(".error-summary")).to_be_focused()
    expect(page.locator("#name")).to_have_value(SUPPORTER["name"])
    draw_signature(page)
    page.click("text=Preview my letters")

    expect(page.locator("h1")).to_have_text("Check your letters")
    letters = page.locator(".sheet .letter")
    expect(letters).to_have_count(4)
    expect(page.locator('.sheet .signature img[src^="data:image/jpeg"]')).to_have_count(4)
    expect(letters.first).to_contain_text("Second paragraph, with care.")

    page.click("button:has-text('Edit')")
    expect(page.locator("#name")).to_have_value(SUPPORTER["name"])
    expect(page.locator("#message")).to_have_value(SUPPORTER["message"])
    expect(page.locator("#recipients-la-155-1")).not_to_be_checked()
    expect(page.locator("#signature-drawn")).to_be_checked()
    sent = page.input_value("#signature-image")
    assert sent.startswith("data:image/jpeg;base64,")
    page.click("text=Preview my letters")
    expect(page.locator('.sheet .signature img[src^="data:image/jpeg"]')).to_have_count(4)

    page.click("text=Create my letters")
    expect(page.locator("h1")).to_have_text("Thank you! Your letters are ready")
    with page.expect_download() as all_letters:
        page.click("text=Download all 4 letters (PDF)")
    assert all_letters.value.suggested_filename == f"appeal-letters-{TODAY}.pdf"
    pack = pdf_from(all_letters.value)
    # The browser's JPEG holds nothing but its pixels, so the letters embed it byte for byte.
    assert base64.b64decode(sent.split(",", 1)[1]) in pack
    with pdfplumber.open(io.BytesIO(pack)) as pdf:
        assert len(pdf.pages) == 4
        for sheet in pdf.pages:
            assert len(sheet.images) == 1, "the drawn signature is an image on every letter"
            text = flat(sheet.extract_text())
            assert SUPPORTER["name"] in text and "Second paragraph, with care." in text
    with page.expect_download() as one_letter:
        page.click("button[form=download][value=ombudsman]")
    assert one_letter.value.suggested_filename == f"appeal-letter-ombudsman-{TODAY}.pdf"
    with pdfplumber.open(io.BytesIO(pdf_from(one_letter.value))) as pdf:
        assert len(pdf.pages) == 1

    private_link = page.input_value("#private-link")
    page.click("text=I have posted my letters")
    expect(page.locator(".status-sent")).to_have_count(4)
    assert page.url.split("#")[0] == private_link
    expect(page.locator("#counter-text")).to_contain_text(f"{before + 4:,} of 5,000")

    audience.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(audience.locator('[data-count="sent"]')).to_have_text(f"{before + 4:,}")
    expect(audience.locator("progress")).to_have_attribute("value", str(before + 4))
    page.goto(f"{server}/?lang=en")
    assert counter_value(page) == before + 4

    assert watcher.foreign_requests() == []
    refused = [e for e in watcher.errors if "status of 422" not in e]  # the form's own errors
    assert refused == [], "console errors (a refused inline script or style?)"
    audience.context.close()
    page.context.close()


def test_a_signature_drawn_on_a_dense_screen_is_sent_at_the_size_the_letter_prints(browser, server):
    page = open_page(
        browser, server, viewport={"width": 1280, "height": 900}, device_scale_factor=2
    ).page
    page.goto(f"{server}/?lang=en")
    fill_form(page)
    page.check("#signature-drawn")
    draw_signature(page)
    with page.expect_request(lambda request: request.method == "POST") as posted:
        page.click("text=Preview my letters")
    source = parse_qs(posted.value.post_data or "")["signature_image"][0]
    assert source.startswith("data:image/jpeg;base64,")
    jpeg = base64.b64decode(source.split(",", 1)[1])
    width, height = Image.open(io.BytesIO(jpeg)).size
    # Drawn over 0.75 x 0.6 of a 576 x 192 pad at two pixels per point: about 860 x 230.
    assert height == 200 and 500 < width <= 880, (width, height)


def test_without_javascript_the_form_reaches_a_pdf(browser, server):
    watcher = open_page(browser, server, java_script_enabled=False)
    page = watcher.page
    page.goto(f"{server}/?lang=ru")
    expect(page.locator("#signature-drawn")).to_be_hidden()
    expect(page.locator("#message-count")).to_be_hidden()
    fill_form(page, {**SUPPORTER, "name": ""})
    page.click("button[type=submit]")

    expect(page.locator("#name-error")).to_have_text("Ошибка: Укажите своё имя.")
    expect(page.locator("#street")).to_have_value(SUPPORTER["street"])
    expect(page.locator("#message")).to_have_value(SUPPORTER["message"])
    page.fill("#name", SUPPORTER["name"])
    page.check("#signature-none")
    page.click("button[type=submit]")

    expect(page.locator(".sheet .letter")).to_have_count(6)
    page.click("button:has-text('Создать мои письма')")
    with page.expect_download() as download:
        page.click("button:has-text('Скачать все 6 писем (PDF)')")
    assert download.value.suggested_filename == f"appeal-letters-{TODAY}.pdf"
    with pdfplumber.open(io.BytesIO(pdf_from(download.value))) as pdf:
        assert len(pdf.pages) == 6
        assert SUPPORTER["name"] in pdf.pages[0].extract_text()
    assert watcher.foreign_requests() == []
    page.context.close()


def visit_every_page(page: Page, server: str, lang: str, check) -> None:
    """Campaign page, the form with errors, preview, thank-you, private and privacy pages."""
    page.goto(f"{server}/?lang={lang}")
    check("campaign")
    page.click(".supporter-form button[type=submit]")
    expect(page.locator(".error-summary")).to_be_visible()
    check("errors")
    fill_form(page)
    page.check("#signature-drawn")
    draw_signature(page)
    page.click(".supporter-form button[type=submit]")
    expect(page.locator(".sheet .letter")).to_have_count(6)
    check("preview")
    page.click("form.decide button:not([formaction])")
    expect(page.locator("#private-link")).to_be_visible()
    check("thanks")
    page.click("#posted-form button[value='']")
    expect(page.locator(".status-sent")).to_have_count(6)
    check("posted")
    page.goto(f"{server}/privacy?lang={lang}")
    check("privacy")


@pytest.mark.parametrize("lang", UI)
def test_every_page_has_no_wcag_21_aa_violation(browser, server, lang):
    watcher = open_page(browser, server, bypass_csp=True, viewport={"width": 1280, "height": 900})
    found = {}

    def check(name: str) -> None:
        assert watcher.page.get_attribute("html", "lang") == lang
        found[name] = run_axe(watcher.page)

    visit_every_page(watcher.page, server, lang, check)
    assert list(found) == ["campaign", "errors", "preview", "thanks", "posted", "privacy"]
    assert {name: v for name, v in found.items() if v} == {}, json.dumps(found, indent=1)
    watcher.page.context.close()


@pytest.mark.parametrize("lang", UI)
def test_every_page_fits_a_375_px_phone_and_stays_accessible(browser, server, lang):
    watcher = open_page(browser, server, bypass_csp=True, viewport=PHONE, has_touch=True)
    found = {}

    def check(name: str) -> None:
        found[name] = (overflow(watcher.page), run_axe(watcher.page))

    visit_every_page(watcher.page, server, lang, check)
    too_wide = {name: o for name, (o, _) in found.items() if o["extra"] > 0 or o["wide"]}
    assert too_wide == {}
    violations = {name: v for name, (_, v) in found.items() if v}
    assert violations == {}, json.dumps(violations, indent=1)
    watcher.page.context.close()


def test_the_server_log_holds_nothing_a_supporter_typed(browser, server, server_log):
    watcher = open_page(browser, server)
    visit_every_page(watcher.page, server, "kk", lambda name: None)
    watcher.page.context.close()
    log = server_log.read_text()
    routes = {json.loads(line).get("route") for line in log.splitlines() if line.startswith("{")}
    assert {"/preview", "/letters", "/posted/{token}"} <= routes
    for field in ("name", "street", "message"):
        for part in SUPPORTER[field].split("\n"):
            if part:
                assert part not in log, f"the server log holds the {field}"


def test_the_api_documentation_renders_from_the_services_own_files(browser, server):
    watcher = open_page(browser, server)
    watcher.page.goto(f"{server}/docs")
    paths = watcher.page.locator(".opblock-summary-path")
    expect(paths).to_have_count(4)
    assert set(paths.all_inner_texts()) == {
        "/api/recipients",
        "/api/letters",
        "/api/letters/{token}/sent",
        "/api/stats",
    }
    assert watcher.foreign_requests() == []
    assert watcher.errors == []
    watcher.page.context.close()
