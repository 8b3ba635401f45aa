"""Paper where the supporter lives (issue 28): the letters come on US Letter for a supporter
where Letter is the norm and on A4 elsewhere, or on the paper the supporter chose, through the
form (with JavaScript and without) and the API. On either paper, folded in three, each official's
address shows through the window of that paper's usual envelope; and a pack may end with a page
of the officials' addresses to cut out and stick on plain envelopes."""

import io

import pdfplumber
import pytest
import yaml
from playwright.sync_api import expect
from pypdf import PdfReader

from app.campaign import LANGUAGES, load_campaign
from app.render import LetterRenderer
from app.settings import Settings
from app.supporter import Supporter
from tests.html_pages import Page
from tests.reading import flat, page_texts
from tests.test_browser_journey import open_page
from tests.test_fast_pdf import TODAY
from tests.test_letters import run_cli
from tests.test_supporter_form import post, preview

IN, MM = 72, 72 / 25.4  # PDF points
LETTER, A4 = (612, 792), (595, 842)  # the media box, in whole points


def window_on_folded_sheet(
    envelope: tuple[float, float],
    window: tuple[float, float],
    from_left: float,
    from_bottom: float,
    sheet_width: float,
    panel: float,
    across: float = 0.5,
) -> tuple[float, float, float, float]:
    """Where an envelope's window lies on the sheet (x0, top, x1, bottom from the sheet's top left
    corner), the sheet folded in three with its top panel (`panel` tall) facing the window and
    resting on the envelope's bottom edge; across, centred (0.5), or pushed to the envelope's
    left end (0) or right end (1)."""
    width, height = envelope
    top = (height - from_bottom - window[1]) - (height - panel)
    left = from_left - (width - sheet_width) * across
    return (left, top, left + window[0], top + window[1])


# A #10 envelope, 9.5 x 4.125 in, its window 4.5 x 1.125 in, 7/8 in from the left and 1/2 in
# from the bottom; US Letter (8.5 x 11 in) folded in equal thirds.
NUMBER_10_ENVELOPE = ((9.5 * IN, 4.125 * IN), (4.5 * IN, 1.125 * IN), 7 / 8 * IN, IN / 2)
NUMBER_10 = window_on_folded_sheet(*NUMBER_10_ENVELOPE, 8.5 * IN, 11 / 3 * IN)
# A DL envelope, 220 x 110 mm, its window 90 x 45 mm, 20 mm from the left and 15 mm from the
# bottom (DIN 680); A4 folded at DIN 5008's marks (form B: the top panel 105 mm).
DL = window_on_folded_sheet(
    (220 * MM, 110 * MM), (90 * MM, 45 * MM), 20 * MM, 15 * MM, 210 * MM, 105 * MM
)
WINDOWS = {"letter": NUMBER_10, "a4": DL}
SIZES = {"letter": LETTER, "a4": A4}


def page_sizes(pdf: bytes) -> set[tuple[int, int]]:
    boxes = [page.mediabox for page in PdfReader(io.BytesIO(pdf)).pages]
    return {(round(float(box.width)), round(float(box.height))) for box in boxes}


def through_the_window(pdf: bytes, paper: str) -> list[list[str]]:
    """Per page, the lines printed wholly inside the window of the paper's envelope."""
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        return [
            (page.within_bbox(WINDOWS[paper]).extract_text() or "").splitlines()
            for page in document.pages
        ]


def test_the_windows_lie_where_the_envelopes_put_them():
    """The two windows worked out: DIN 5008's address field, and the #10 window on Letter."""
    assert [round(v / MM, 1) for v in DL] == [15.0, 45.0, 105.0, 90.0]
    assert [round(v / IN, 3) for v in NUMBER_10] == [0.375, 2.042, 4.875, 3.167]


# --- the API -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "size"),
    [("US", LETTER), ("CA", LETTER), ("MX", LETTER), ("PH", LETTER), ("PL", A4), ("DE", A4)],
)
def test_the_api_prints_on_the_paper_usual_in_the_supporters_country(
    client, supporter_data, country, size
):
    data = {**supporter_data, "country": country, "recipients": ["ombudsman", "prosecutor-general"]}
    response = client.post("/api/letters", json=data)
    assert response.status_code == 200, response.text
    assert page_sizes(response.content) == {size}


@pytest.mark.parametrize(("country", "paper", "size"), [("US", "a4", A4), ("PL", "letter", LETTER)])
def test_the_paper_a_supporter_chooses_wins_over_the_countrys(
    client, supporter_data, country, paper, size
):
    data = {**supporter_data, "country": country, "paper": paper, "recipients": ["ombudsman"]}
    response = client.post("/api/letters", json=data)
    assert response.status_code == 200, response.text
    assert page_sizes(response.content) == {size}


def test_a_paper_the_service_does_not_know_is_a_422_naming_it(client, supporter_data):
    response = client.post("/api/letters", json={**supporter_data, "paper": "a5"})
    assert response.status_code == 422
    assert [problem["loc"] for problem in response.json()["detail"]] == [["body", "paper"]]
    assert client.get("/api/stats").json()["generated"] == 0


def test_the_api_documents_the_paper_and_the_label_page(client):
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Supporter"]
    assert "Letter in the United States" in schema["properties"]["paper"]["description"]
    assert "cut out" in schema["properties"]["labels"]["description"]


# --- the address through the window ------------------------------------------------------------


@pytest.mark.slow  # a full pack for each paper and language
@pytest.mark.parametrize("paper", ["a4", "letter"])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_address_shows_through_the_window_of_its_papers_envelope(
    renderer, supporter_data, lang, paper
):
    supporter = Supporter.model_validate({**supporter_data, "language": lang, "paper": paper})
    recipients = renderer.campaign.choose([])
    letters = renderer.letters(supporter, recipients, TODAY)
    for pdf in (
        renderer.make_pack(letters, lang).pdf,
        renderer.make_pack(letters, lang, full=True).pdf,
    ):
        assert page_sizes(pdf) == {SIZES[paper]}
        windows = through_the_window(pdf, paper)
        assert len(windows) == len(recipients)  # no message: one page each
        for recipient, lines in zip(recipients, windows, strict=True):
            assert lines == recipient.address_as[lang].address_lines, recipient.id


def inside(char: dict, box: tuple[float, float, float, float]) -> bool:
    x0, top, x1, bottom = box
    return x0 <= char["x0"] and char["x1"] <= x1 and top <= char["top"] and char["bottom"] <= bottom


@pytest.mark.parametrize("lang", LANGUAGES)
def test_on_letter_the_address_shows_wherever_the_sheet_lies_and_sits_mid_window(
    renderer, supporter_data, lang
):
    """A #10 envelope gives the folded sheet an inch of play across: the address shows through
    at either end. Set in the middle of the window's height, it still shows when the sheet
    settles a little higher or is folded a little short."""
    supporter = Supporter.model_validate({**supporter_data, "language": lang, "paper": "letter"})
    recipients = renderer.campaign.choose([])
    pdf = renderer.make_pack(renderer.letters(supporter, recipients, TODAY), lang).pdf
    ends = [window_on_folded_sheet(*NUMBER_10_ENVELOPE, 8.5 * IN, 11 / 3 * IN, a) for a in (0, 1)]
    _, top, _, bottom = NUMBER_10
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        for recipient, page in zip(recipients, document.pages, strict=True):
            address = page.within_bbox(NUMBER_10).chars  # the address lines: the test above
            assert address and all(inside(c, end) for c in address for end in ends), recipient.id
            above = min(c["top"] for c in address) - top
            below = bottom - max(c["bottom"] for c in address)
            assert abs(above - below) <= 2, (recipient.id, above, below)  # points


# --- the form, without JavaScript --------------------------------------------------------------


@pytest.fixture
def typed() -> dict:
    """A supporter in the United States as the form posts one."""
    return {
        "name": "Ann Lee",
        "street": "1 Main Street",
        "postcode": "02108",
        "city": "Boston",
        "country": "US",
        "language": "en",
        "recipients": ["la-155-1", "ombudsman"],
        "signature_kind": "typed",
    }


def form_values(client, lang: str = "en", **typed: object) -> list[tuple[str, str]]:
    """What the campaign page's form posts with JavaScript off, once these fields are filled."""
    values = Page(client.get(f"/?lang={lang}").text).form_values(".supporter-form")
    kept = [(name, value) for name, value in values if name not in typed]
    return kept + [
        (name, item)
        for name, value in typed.items()
        for item in (value if isinstance(value, list) else [value])
    ]


def download(client, shown: Page, lang: str = "en") -> bytes:
    thanks = Page(post(client, "/letters", shown.form_values("form.decide"), lang).text)
    response = post(client, "/letters/pdf", thanks.form_values("#download"), lang)
    assert response.status_code == 200, response.text[:2000]
    return response.content


def test_a_fresh_form_shows_both_papers_and_the_label_page_to_choose(client):
    form = Page(client.get("/?lang=en").text)
    assert form.attr("#paper-a4", "checked") is not None
    assert form.attr("#paper-letter", "checked") is None
    assert "#10 window envelope" in form.text("label[for=paper-letter]")
    assert form.attr("#paper-default", "value") == "a4"
    assert form.attr("#labels", "checked") is None
    assert "US" in form.attr("#paper-group", "data-letter-countries").split()


def test_without_javascript_the_paper_follows_the_country_from_the_first_post(client, typed):
    values = form_values(client, **typed)
    assert ("paper", "a4") in values  # as the fresh form shows it, untouched
    shown = preview(client, values)
    assert "US Letter (8.5 × 11 in)" in shown.text(".paper-choice h2")
    assert "usual in United States" in shown.text(".paper-choice h2")
    assert len(shown.all(".sheet.paper-letter")) == len(typed["recipients"])
    pdf = download(client, shown)
    assert page_sizes(pdf) == {LETTER}

    edited = Page(post(client, "/edit", shown.form_values("form.decide")).text)
    assert edited.attr("#paper-letter", "checked") is not None
    assert edited.attr("#paper-default", "value") == "letter"
    moved = [(n, "DE" if n == "country" else v) for n, v in edited.form_values(".supporter-form")]
    assert "A4 (210 × 297 mm)" in preview(client, moved).text(".paper-choice h2")


def test_a_paper_the_supporter_picks_on_the_form_wins_and_stays(client, typed):
    picked = form_values(client, **typed, paper="a4", paper_default="letter")
    shown = preview(client, picked)
    assert "A4 (210 × 297 mm) paper, as you chose" in shown.text(".paper-choice h2")
    assert len(shown.all(".sheet.paper-a4")) == len(typed["recipients"])
    assert page_sizes(download(client, shown)) == {A4}
    edited = Page(post(client, "/edit", shown.form_values("form.decide")).text)
    assert edited.attr("#paper-a4", "checked") is not None
    assert edited.attr("#paper-default", "value") == ""

    other = preview(client, shown.form_values(".paper-choice form"))
    assert "US Letter (8.5 × 11 in) paper, as you chose" in other.text(".paper-choice h2")
    thanks = Page(post(client, "/letters", other.form_values("form.decide")).text)
    assert "#10 window envelope" in thanks.text(".steps")
    assert page_sizes(download(client, other)) == {LETTER}


def test_a_paper_the_form_does_not_offer_is_told_at_the_paper(client, typed):
    response = post(client, "/preview", {**typed, "paper": "a5"})
    assert response.status_code == 422
    page = Page(response.text)
    assert "Choose the paper your letters are printed on." in page.text("#paper-error")
    assert page.attr(".error-summary a", "href") == "#paper-a4"


# --- the label page ----------------------------------------------------------------------------


def assert_label_page(pdf: bytes, campaign, ids: list[str], lang: str, postage: str) -> None:
    pages = page_texts(pdf)
    assert len(pages) == len(ids) + 1
    labels = flat(pages[-1])
    for recipient in campaign.choose(ids):
        assert flat(" ".join(recipient.address_as[lang].address_lines)) in labels, recipient.id
    assert flat(postage) in labels


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_label_page_ends_the_pack_with_the_addresses_and_the_postage(
    client, supporter_data, campaign, lang
):
    ids = ["ombudsman", "la-155-1", "prosecutor-general"]
    data = {**supporter_data, "language": lang, "recipients": ids, "labels": True}
    for paper in ("a4", "letter"):
        response = client.post("/api/letters", json={**data, "paper": paper})
        assert response.status_code == 200, response.text
        assert page_sizes(response.content) == {SIZES[paper]}
        assert_label_page(response.content, campaign, ids, lang, campaign.case.postage[lang])
    without = client.post("/api/letters", json={**data, "labels": False})
    assert len(page_texts(without.content)) == len(ids)


def test_the_form_adds_the_label_page_when_ticked(client, typed, campaign):
    shown = preview(client, form_values(client, **typed, labels="1"))
    assert "address labels" in shown.text(".paper-choice")
    postage = campaign.case.postage["en"]
    assert_label_page(download(client, shown), campaign, typed["recipients"], "en", postage)


def test_without_postage_advice_the_label_page_gives_the_general_one(campaign_copy):
    path = campaign_copy / "campaign.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    del data["postage"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    renderer = LetterRenderer(load_campaign(campaign_copy), Settings().fonts_dir)
    supporter = Supporter.model_validate(
        {"name": "Ann Lee", "street": "1 Main St", "city": "Boston", "country": "US",
         "language": "en", "signature": {"kind": "none"}, "labels": True}
    )  # fmt: skip
    pdf = renderer.make_pack(
        renderer.letters(supporter, renderer.campaign.choose(["ombudsman"]), TODAY),
        supporter.language,
    ).pdf
    general = "Use one envelope per letter; your post office tells you which stamp it needs."
    assert_label_page(pdf, renderer.campaign, ["ombudsman"], "en", general)


# --- letter-campaign check ---------------------------------------------------------------------


@pytest.mark.slow
def test_check_proofs_both_papers_and_names_an_address_too_tall_for_the_number_10_window(
    campaign_copy, tmp_path
):
    proofs = tmp_path / "proofs"
    result = run_cli("check", "--out", str(proofs), cwd=tmp_path,
                     env={"CAMPAIGN_DIR": str(campaign_copy)})  # fmt: skip
    assert result.returncode == 0, result.stderr
    for lang in LANGUAGES:
        assert page_sizes((proofs / f"proof-{lang}.pdf").read_bytes()) == {A4}
        letter = (proofs / f"proof-{lang}-letter.pdf").read_bytes()
        assert page_sizes(letter) == {LETTER}
        assert flat(load_campaign(campaign_copy).case.postage[lang]) in flat(page_texts(letter)[-1])

    path = campaign_copy / "recipients.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    ombudsman = next(r for r in data["recipients"] if r["id"] == "ombudsman")
    ombudsman["address_as"]["en"]["address_lines"] = [f"Line {n}" for n in range(1, 9)]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = run_cli("check", cwd=tmp_path, env={"CAMPAIGN_DIR": str(campaign_copy)})
    assert result.returncode == 1
    problems = [line for line in result.stderr.splitlines() if "ombudsman" in line]
    assert len(problems) == 1, result.stderr  # eight lines fit the DIN window, not the #10
    assert "field address_as.en.address_lines" in problems[0]
    assert "the window field (on US Letter paper)" in problems[0]


# --- in a real browser -------------------------------------------------------------------------


def checked_paper(page) -> str:
    return page.locator("input[name=paper]:checked").get_attribute("value")


@pytest.mark.browser
def test_with_javascript_the_paper_follows_the_country_until_the_supporter_picks_one(
    browser, server
):
    watcher = open_page(browser, server)
    page = watcher.page
    page.goto(f"{server}/?lang=en")
    assert checked_paper(page) == "a4"
    page.select_option("#country", "US")
    assert checked_paper(page) == "letter"
    page.select_option("#country", "DE")
    assert checked_paper(page) == "a4"
    page.select_option("#country", "CA")
    assert checked_paper(page) == "letter"

    page.check("#paper-a4")
    page.select_option("#country", "MX")
    assert checked_paper(page) == "a4"
    page.fill("#name", "Ann Lee")
    page.fill("#street", "1 Main St")
    page.fill("#city", "Mexico City")
    page.click(".supporter-form button[type=submit]")
    expect(page.locator(".paper-choice h2")).to_contain_text("A4 (210 × 297 mm) paper, as you")

    page.click(".paper-choice button")
    expect(page.locator(".paper-choice h2")).to_contain_text("US Letter (8.5 × 11 in) paper")
    sheet = page.locator(".sheet").first.bounding_box()
    assert round(sheet["width"]) == 816  # 8.5 in, as printed
    window = page.locator(".sheet .window").first.bounding_box()
    assert (round(window["width"]), round(window["height"])) == (336, 108)  # 3.5 x 1.125 in
    assert watcher.errors == []
    assert watcher.foreign_requests() == []
    page.context.close()
