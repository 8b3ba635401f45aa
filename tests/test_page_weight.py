"""Light on a slow phone (issue 25): the campaign page's first load, as Chromium counts it, is
under 100 KB; the handwriting font comes as a WOFF2 subset, and only once a typed signature is
shown, with JavaScript and without; HTML, CSS and JavaScript come compressed when the browser
accepts it, except pages that hold a secret beside what a supporter typed (BREACH)."""

import re
import unicodedata
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont
from playwright.sync_api import Page, expect
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from app.compression import Compression
from app.glyphs import printable
from app.settings import Settings
from benchmarks.lighthouse import audit, scores
from tests.html_pages import Page as HtmlPage
from tests.staff_pages import csrf_token
from tests.test_supporter_form import post

FIRST_LOAD_LIMIT = 100_000  # bytes, as the browser counts them: headers and compressed bodies
KAZAKH_LETTERS = "ӘәҒғҚқҢңӨөҰұҮүҺһІі"
FONT_URL = re.compile(r"/assets/handwriting\.[0-9a-f]{12}\.woff2$")
ENTRIES = """() => [...performance.getEntriesByType("navigation"),
                    ...performance.getEntriesByType("resource")]
    .map(entry => ({url: entry.name, transferred: entry.transferSize,
                    encoded: entry.encodedBodySize, decoded: entry.decodedBodySize}))"""
HANDWRITING_STATUS = """() => [...document.fonts]
    .filter(face => face.family.includes("Campaign Handwriting")).map(face => face.status)"""
PREVIEW_FONT = "() => getComputedStyle(document.getElementById('typed-preview')).fontFamily"
ACCEPTS = {"accept-encoding": "br, gzip"}


def new_page(browser, javascript: bool = True) -> tuple[Page, list[str]]:
    """A page in a fresh context (nothing cached) and the URLs it requests."""
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    page.set_default_timeout(15_000)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    return page, requested


def fonts_fetched(requested: list[str]) -> list[str]:
    return [url for url in requested if "/assets/handwriting" in url]


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "ru", "kk"])
def test_the_campaign_pages_first_load_is_under_100_kb(browser, server, lang):
    page, requested = new_page(browser)
    page.goto(f"{server}/?lang={lang}", wait_until="networkidle")
    entries = page.evaluate(ENTRIES)
    page.context.close()
    # Everything the page asked for is counted, each with what crossed the wire.
    assert {entry["url"] for entry in entries} == set(requested)
    assert all(entry["transferred"] > entry["encoded"] > 0 for entry in entries), entries
    kinds = [url.rsplit(".", 1)[-1] for url in requested if "/assets/" in url]
    assert kinds.count("css") == 1 and kinds.count("js") >= 2
    total = sum(entry["transferred"] for entry in entries)
    assert total < FIRST_LOAD_LIMIT, f"{total} bytes: {entries}"
    assert not fonts_fetched(requested)


@pytest.mark.browser
def test_the_handwriting_font_comes_only_when_a_typed_name_is_shown(browser, server):
    page, requested = new_page(browser)
    page.goto(f"{server}/?lang=kk", wait_until="networkidle")
    expect(page.locator("#signature-typed")).to_be_checked()
    expect(page.locator("#typed-preview")).to_be_visible()
    assert "Campaign Handwriting" not in page.evaluate(PREVIEW_FONT)
    assert page.evaluate(HANDWRITING_STATUS) == ["unloaded"]
    assert not fonts_fetched(requested)

    with page.expect_response(FONT_URL) as font:
        page.fill("#name", "Әсел Жүсіпова")
    assert font.value.status == 200
    assert font.value.headers["content-type"] == "font/woff2"
    expect(page.locator("#typed-preview")).to_have_text("Әсел Жүсіпова")
    assert "Campaign Handwriting" in page.evaluate(PREVIEW_FONT)
    page.wait_for_function("() => document.fonts.status === 'loaded'")
    assert page.evaluate(HANDWRITING_STATUS) == ["loaded"]
    page.context.close()


@pytest.mark.browser
def test_without_javascript_the_font_comes_once_a_name_is_typed(browser, server):
    """Without JavaScript the preview shows the name the server put in the form; the stylesheet
    alone switches it to the handwriting font as soon as the name field holds a name."""
    page, requested = new_page(browser, javascript=False)
    page.goto(f"{server}/?lang=ru", wait_until="networkidle")
    expect(page.locator("#typed-preview")).to_be_visible()
    assert "Campaign Handwriting" not in page.evaluate(PREVIEW_FONT)
    assert not fonts_fetched(requested)

    with page.expect_response(FONT_URL):
        page.fill("#name", "Әсел Жүсіпова")
    assert "Campaign Handwriting" in page.evaluate(PREVIEW_FONT)
    page.click("button[type=submit]")  # the city is missing: the form comes back, filled
    expect(page.locator("#city-error")).to_be_visible()
    expect(page.locator("#typed-preview")).to_have_text("Әсел Жүсіпова")
    assert "Campaign Handwriting" in page.evaluate(PREVIEW_FONT)
    page.context.close()


def test_the_pages_font_is_a_woff2_with_every_letter_of_a_latin_or_cyrillic_name():
    fonts = Settings().fonts_dir
    web, full = fonts / "handwriting.woff2", fonts / "handwriting.ttf"
    assert TTFont(web).flavor == "woff2"
    assert web.stat().st_size < full.stat().st_size / 3
    letters = {
        code
        for code in TTFont(full).getBestCmap()
        if unicodedata.category(chr(code)).startswith("L")
        and unicodedata.name(chr(code), "").startswith(("LATIN", "CYRILLIC"))
    }
    web_cmap = set(TTFont(web).getBestCmap())
    assert {ord(letter) for letter in KAZAKH_LETTERS} <= web_cmap
    assert sorted(chr(code) for code in letters - web_cmap) == []
    # The letters keep the whole TrueType font: every character it has can still be printed.
    assert set(TTFont(full).getBestCmap()) <= printable()


def asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/assets/[^"]+\.(?:css|js))"', html)


@pytest.mark.parametrize(
    ("accepts", "encoding"),
    [("br, gzip", "br"), ("gzip, deflate", "gzip"), ("gzip;q=0, br", "br"), ("identity", None)],
)
def test_html_css_and_javascript_come_compressed_when_the_browser_accepts_it(
    client, accepts, encoding
):
    urls = asset_urls(client.get("/?lang=kk").text)
    assert len(urls) >= 3
    for url in ["/?lang=kk", *urls]:
        plain = client.get(url, headers={"accept-encoding": "identity"})
        answer = client.get(url, headers={"accept-encoding": accepts})
        assert answer.headers.get("content-encoding") == encoding, url
        assert "accept-encoding" in answer.headers["vary"].lower(), url
        assert answer.content == plain.content, url  # the client decoded it
        if encoding:
            assert int(answer.headers["content-length"]) < len(plain.content) / 2, url


def test_pages_holding_a_secret_beside_what_was_typed_are_not_compressed(client):
    """BREACH: a site that can make the browser send chosen text (a form's values) could guess a
    secret on the same page from the lengths of compressed answers. The pages everyone gets
    alike are compressed; the preview (the pack's token), the thank-you page (the private link)
    and the staff pages (their CSRF token) are not."""
    assert client.get("/?lang=en", headers=ACCEPTS).headers["content-encoding"] == "br"
    form = {
        "name": "Мария Иванова-Шмидт",
        "street": "Lindenstraße 12",
        "city": "Berlin",
        "country": "DE",
        "language": "ru",
        "recipients": "ombudsman",
        "signature_kind": "typed",
    }
    client.headers.update(ACCEPTS)
    preview = post(client, "/preview", form)
    thanks = post(client, "/letters", HtmlPage(preview.text).form_values("form.decide"))
    pdf = post(client, "/letters/pdf", HtmlPage(thanks.text).form_values("#download"))
    login = client.get("/login")
    assert "Мария Иванова-Шмидт" in preview.text and "/posted/" in thanks.text
    assert csrf_token(login.text)
    for answer in (preview, thanks, login):
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-store"
        assert "content-encoding" not in answer.headers
    assert pdf.headers["content-type"] == "application/pdf"
    assert "content-encoding" not in pdf.headers and pdf.content.startswith(b"%PDF-")


def test_a_streamed_text_answer_is_compressed_as_it_goes():
    def lines(_request):
        return StreamingResponse(
            (f"line {number}\n".encode() * 50 for number in range(20)), media_type="text/plain"
        )

    app = Compression(Starlette(routes=[Route("/lines", lines)]))
    with TestClient(app) as client, client.stream("GET", "/lines", headers=ACCEPTS) as answer:
        assert answer.headers["content-encoding"] == "br"
        assert "content-length" not in answer.headers
        received = b"".join(answer.iter_bytes())
    assert received == b"".join(f"line {number}\n".encode() * 50 for number in range(20))


def test_fonts_and_images_pass_as_they_are(client):
    css = client.get(HtmlPage(client.get("/?lang=en").text).attr('link[rel="stylesheet"]', "href"))
    font = re.search(r'url\("(/assets/handwriting\.[0-9a-f]{12}\.woff2)"\)', css.text)
    assert font, "the stylesheet names the WOFF2 font"
    answer = client.get(font.group(1), headers=ACCEPTS)
    assert answer.headers["content-type"] == "font/woff2"
    assert "content-encoding" not in answer.headers
    assert answer.content == (Path(Settings().fonts_dir) / "handwriting.woff2").read_bytes()
    picture = client.get("/share.png", headers=ACCEPTS)
    assert picture.headers["content-type"] == "image/png"
    assert "content-encoding" not in picture.headers


@pytest.mark.browser
@pytest.mark.slow
def test_lighthouse_finds_the_kazakh_page_fast_on_a_slow_phone_and_faultless(server, tmp_path):
    """Lighthouse's mobile run (slow 4G and a slow CPU simulated) on the Kazakh page, the
    longest of the three: accessibility, best practices and SEO 1.0, the first paint and the
    largest one fast, under 100 KB. The performance score (at least 0.95) weighs in the total
    blocking time too, which swings with whatever else the machine runs: `make lighthouse`
    holds it, in all three languages."""
    report = audit(f"{server}/?lang=kk", tmp_path / "lighthouse-kk.json")
    found = scores(report)
    assert [found["accessibility"], found["best-practices"], found["seo"]] == [1, 1, 1], found
    for metric in ("first-contentful-paint", "largest-contentful-paint"):
        audited = report["audits"][metric]
        assert audited["score"] >= 0.9, f"{metric}: {audited['displayValue']}"
    assert report["audits"]["total-byte-weight"]["numericValue"] < FIRST_LOAD_LIMIT
