"""Supporters who write from a country where signing is a risk (campaign.yaml `risk_countries`;
the suite's campaign lists KZ): they read the notice before writing, in the form and in the
preview, with JavaScript and without, and may leave out their street, the letters then printing
name, city and country only. Everywhere else the street stays required."""

import io
import re
from datetime import date
from pathlib import Path

import pdfplumber
import pytest
import yaml
from playwright.sync_api import expect

from app.campaign import CampaignError, load_campaign
from tests.html_pages import Page
from tests.reading import flat, pdf_text
from tests.test_browser_journey import PHONE, open_page, overflow, run_axe
from tests.test_letters import run_cli
from tests.test_supporter_form import create, post, preview

UI = ("en", "ru", "kk")
KAZAKHSTAN = {"en": "Kazakhstan", "ru": "Казахстан", "kk": "Қазақстан"}
MM = 72 / 25.4
# The head of every letter (letter.css, page margins 12 mm top and 25 mm left): the window for
# the official's address on the left, the sender's block 100 mm to the right of the text's edge.
WINDOW = (20 * MM, 45 * MM, 105 * MM, 90 * MM)
SENDER = (125 * MM, 45 * MM, 205 * MM, 95 * MM)


def from_almaty(lang: str = "ru", **changes: object) -> dict:
    """A supporter in Kazakhstan as the form posts one, giving no street and no postcode."""
    return {
        "name": "Әсел Жүсіпова",
        "street": "",
        "postcode": "",
        "city": "Алматы",
        "country": "KZ",
        "language": lang,
        "recipients": ["ombudsman"],
        "signature_kind": "typed",
        **changes,
    }


def notice(campaign, lang: str) -> str:
    return campaign.case.risk_countries["KZ"][lang]


def head_lines(pdf: bytes, box: tuple[float, ...]) -> list[str]:
    """The lines printed in one part of the first letter's head."""
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        text = document.pages[0].crop(box).extract_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def assert_sender_is_name_city_country(pdf: bytes, campaign, lang: str, name: str) -> None:
    sender = head_lines(pdf, SENDER)
    assert sender[:3] == [name, "Алматы", KAZAKHSTAN[lang]], sender
    assert str(date.today().year) in sender[3], "the date follows the country, no line between"
    window = head_lines(pdf, WINDOW)
    assert window == campaign.recipient("ombudsman").address_as[lang].address_lines


# --- campaign.yaml ---------------------------------------------------------------------------


def edit_campaign(folder: Path, risk_countries: object) -> None:
    path = folder / "campaign.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["risk_countries"] = risk_countries
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_the_suite_campaign_warns_supporters_in_kazakhstan_in_every_language(campaign):
    assert list(campaign.case.risk_countries) == ["KZ"]
    assert '"extremist" in 2018' in notice(campaign, "en")
    for lang in campaign.languages:
        assert "2018" in notice(campaign, lang) and KAZAKHSTAN[lang][:-1] in notice(campaign, lang)


def test_a_risk_notice_lacking_a_campaign_language_stops_loading(campaign_copy):
    edit_campaign(campaign_copy, {"KZ": {"en": "Your name is printed.", "ru": "Имя печатается."}})
    with pytest.raises(CampaignError) as error:
        load_campaign(campaign_copy)
    assert "campaign.yaml: field risk_countries.KZ.kk: Field required" in str(error.value)


@pytest.mark.parametrize("code", ["XX", "kz", "KAZ", "EU"])
def test_a_risk_country_is_named_by_its_iso_3166_code(campaign_copy, code):
    text = {"en": "Your name is printed.", "ru": "Имя печатается.", "kk": "Атыңыз басылады."}
    edit_campaign(campaign_copy, {code: text})
    with pytest.raises(CampaignError) as error:
        load_campaign(campaign_copy)
    message = str(error.value)
    assert "field risk_countries" in message and "ISO 3166" in message, message


# --- the form without JavaScript ---------------------------------------------------------------


@pytest.mark.parametrize("lang", UI)
def test_the_form_tells_everyone_under_the_country_and_at_the_street(client, campaign, lang):
    form = Page(client.get(f"/?lang={lang}").text)
    details = form.one("form.supporter-form details#risk-KZ")
    assert details.get("open") is None, "closed until a supporter says they write from there"
    assert KAZAKHSTAN[lang] in form.text("#risk-KZ summary")
    assert form.text("#risk-KZ p") == notice(campaign, lang)
    # The notice follows the country field, the street field says it may be left out.
    assert form.all(".field:has(#country) #risk-KZ")
    street = form.one("#street")
    assert street.get("required") is not None
    assert "street-hint" in street.get("aria-describedby")
    assert KAZAKHSTAN[lang] in form.text("#street-hint")

    back = Page(post(client, "/edit", from_almaty(lang), lang).text)
    assert back.one("#risk-KZ").get("open") is not None
    assert back.one("#street").get("required") is None


@pytest.mark.parametrize("lang", UI)
def test_the_preview_puts_the_notice_above_the_letters_and_they_print_no_street(
    client, campaign, lang
):
    shown = preview(client, from_almaty(lang), lang)
    warning = shown.one("main .risk-warning")
    assert notice(campaign, lang) in shown.text(".risk-warning")
    headings = [h.get("id") for h in shown.all("main h2")]
    assert headings.index("risk-heading") < headings.index("letter-1-title")
    assert warning.find(".//{*}form") is None, "nothing to leave out"
    assert shown.texts(".sheet .info p") == [
        "Әсел Жүсіпова",
        "Алматы",
        KAZAKHSTAN[lang],
        shown.text(".sheet .info .date"),
    ]

    elsewhere = preview(client, {**from_almaty(lang), "country": "DE", "street": "Hauptstr. 5"})
    assert elsewhere.all(".risk-warning") == []


def test_a_street_given_from_a_risk_country_is_left_out_with_one_button(client, campaign):
    given = from_almaty("ru", street="Абая 10, кв. 5", postcode="050000", message="Свободу!")
    shown = preview(client, given, "kk")
    assert "Абая 10, кв. 5" in shown.text(".sheet .info")
    values = shown.form_values(".risk-warning form")
    assert [name for name, _ in values if name in ("street", "postcode")] == []
    assert shown.attr(".risk-warning form", "action") == "/preview?lang=kk"

    again = Page(post(client, "/preview", values, "kk").text)
    assert "Абая" not in again.text(".sheet .info") and "050000" not in again.text(".sheet")
    assert again.text(".sheet .message") == "Свободу!"
    assert dict(again.form_values("form.decide"))["variants"] == dict(values)["variants"]


@pytest.mark.parametrize("lang", UI)
def test_the_street_is_optional_from_a_risk_country_and_required_elsewhere(client, lang):
    assert post(client, "/preview", from_almaty(lang), lang).status_code == 200
    assert post(client, "/preview", from_almaty(lang, street="   "), lang).status_code == 200

    response = post(client, "/preview", from_almaty(lang, country="DE"), lang)
    assert response.status_code == 422
    refused = Page(response.text)
    assert refused.all("#street-error") and refused.one("#street").get("aria-invalid") == "true"
    assert [a.get("href") for a in refused.all(".error-summary a")] == ["#street"]
    assert refused.one("#street").get("required") is not None


@pytest.mark.parametrize("lang", UI)
def test_letters_created_from_the_form_print_name_city_and_country(client, campaign, lang):
    thanks = create(client, from_almaty(lang), lang)
    pdf = post(client, "/letters/pdf", thanks.form_values("#download"), lang).content
    assert pdf.startswith(b"%PDF-")
    assert_sender_is_name_city_country(pdf, campaign, lang, "Әсел Жүсіпова")
    assert client.get("/api/stats").json()["generated"] == 1


# --- the API -------------------------------------------------------------------------------------


def api_supporter(**changes: object) -> dict:
    body = {
        "name": "Dana Nurlanovna",
        "city": "Алматы",
        "country": "KZ",
        "language": "en",
        "recipients": ["ombudsman"],
        "signature": {"kind": "none"},
    }
    return {**body, **changes}


@pytest.mark.parametrize("street", [{}, {"street": None}, {"street": ""}, {"street": "  "}])
def test_the_api_makes_letters_without_a_street_from_a_risk_country(client, campaign, street):
    response = client.post("/api/letters", json={**api_supporter(), **street})
    assert response.status_code == 200, response.text
    assert_sender_is_name_city_country(response.content, campaign, "en", "Dana Nurlanovna")
    assert "Dana Nurlanovna" in flat(pdf_text(response.content))


@pytest.mark.parametrize("street", [{}, {"street": None}, {"street": ""}])
def test_the_api_still_requires_the_street_from_any_other_country(client, street):
    response = client.post("/api/letters", json={**api_supporter(country="DE"), **street})
    assert response.status_code == 422
    assert [problem["loc"] for problem in response.json()["detail"]] == [["body", "street"]]
    # A country code is read in any case, the risk countries' too.
    assert client.post("/api/letters", json=api_supporter(country=" kz ")).status_code == 200
    assert client.get("/api/stats").json()["generated"] == 1


def test_the_api_documents_when_the_street_may_be_left_out(client):
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Supporter"]
    assert "risk_countries" in schema["properties"]["street"]["description"]


@pytest.mark.slow
def test_the_command_line_renders_a_letter_without_a_street_from_a_risk_country(tmp_path, campaign):
    supporter = tmp_path / "supporter.json"
    supporter.write_text(
        '{"name": "Әсел Жүсіпова", "city": "Алматы", "country": "KZ", "language": "kk", '
        '"recipients": ["ombudsman"], "signature": {"kind": "typed"}}',
        encoding="utf-8",
    )
    out = tmp_path / "pack.pdf"
    done = run_cli("render", str(supporter), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_sender_is_name_city_country(out.read_bytes(), campaign, "kk", "Әсел Жүсіпова")


# --- in a real browser -------------------------------------------------------------------------


def fill_without_street(page, lang: str) -> None:
    page.fill("#name", "Әсел Жүсіпова")
    page.fill("#city", "Алматы")
    page.check(f"#language-{lang}")
    for box in page.locator("input[name=recipients]").all():
        if box.get_attribute("value") != "ombudsman":
            box.uncheck()


def create_and_download(page) -> bytes:
    page.click("form.decide button:not([formaction])")
    expect(page.locator("#private-link")).to_be_visible()
    with page.expect_download() as download:
        page.click("#download button.button")
    return Path(download.value.path()).read_bytes()


def street_required(page) -> bool:
    return page.evaluate("document.getElementById('street').required")


@pytest.mark.browser
@pytest.mark.parametrize("lang", UI)
def test_with_javascript_the_notice_opens_as_the_country_is_chosen(browser, server, campaign, lang):
    watcher = open_page(browser, server)
    page = watcher.page
    page.goto(f"{server}/?lang={lang}")
    text = page.locator("#risk-KZ p")
    expect(page.locator("#risk-KZ summary")).to_be_visible()
    expect(text).to_be_hidden()
    assert street_required(page)

    page.select_option("#country", "KZ")
    expect(text).to_be_visible()
    expect(text).to_have_text(notice(campaign, lang))
    assert not street_required(page)
    page.select_option("#country", "DE")
    assert street_required(page)
    page.select_option("#country", "KZ")
    assert not street_required(page)

    fill_without_street(page, lang)
    page.click(".supporter-form button[type=submit]")
    expect(page.locator(".risk-warning")).to_be_visible()
    expect(page.locator(".risk-warning")).to_contain_text(notice(campaign, lang))
    expect(page.locator(".sheet .letter")).to_have_count(1)
    pdf = create_and_download(page)
    assert_sender_is_name_city_country(pdf, campaign, lang, "Әсел Жүсіпова")
    assert watcher.foreign_requests() == []
    assert watcher.errors == []
    page.context.close()


@pytest.mark.browser
@pytest.mark.parametrize("lang", UI)
def test_without_javascript_the_notice_is_a_line_to_open_and_the_preview_shows_it(
    browser, server, campaign, lang
):
    watcher = open_page(browser, server, java_script_enabled=False)
    page = watcher.page
    page.goto(f"{server}/?lang={lang}")
    page.select_option("#country", "KZ")
    summary, text = page.locator("#risk-KZ summary"), page.locator("#risk-KZ p")
    expect(summary).to_be_visible()
    expect(text).to_be_hidden()
    summary.click()
    expect(text).to_have_text(notice(campaign, lang))

    fill_without_street(page, lang)
    page.click(".supporter-form button[type=submit]")
    warning = page.locator(".risk-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(notice(campaign, lang))
    assert re.sub(r"\s+", " ", page.locator(".sheet .info").inner_text()).startswith(
        f"Әсел Жүсіпова Алматы {KAZAKHSTAN[lang]}"
    )
    pdf = create_and_download(page)
    assert_sender_is_name_city_country(pdf, campaign, lang, "Әсел Жүсіпова")
    assert watcher.foreign_requests() == []
    page.context.close()


@pytest.mark.browser
@pytest.mark.parametrize("lang", UI)
def test_the_notice_and_the_warning_are_accessible_and_fit_a_phone(browser, server, lang):
    page = open_page(browser, server, bypass_csp=True, viewport=PHONE, has_touch=True).page
    page.goto(f"{server}/?lang={lang}")
    page.select_option("#country", "KZ")
    expect(page.locator("#risk-KZ p")).to_be_visible()
    found = {"form": (overflow(page), run_axe(page))}
    fill_without_street(page, lang)
    page.fill("#street", "Абая 10")
    page.click(".supporter-form button[type=submit]")
    expect(page.locator(".risk-warning form button")).to_be_visible()
    found["preview"] = (overflow(page), run_axe(page))
    assert {name: o for name, (o, _) in found.items() if o["extra"] > 0 or o["wide"]} == {}
    assert {name: v for name, (_, v) in found.items() if v} == {}
    page.context.close()
