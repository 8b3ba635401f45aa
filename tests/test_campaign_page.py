"""The campaign page: the case and its source, the demands, the officials, the counter towards
the goal, share cards, and the user interface in English, Russian and Kazakh."""

import io
import re
from datetime import date
from urllib.parse import urlsplit

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from PIL import Image

from app.i18n import LOCALES_DIR, translations
from app.settings import SOURCE_ROOT, Settings
from app.storage.letters import confirm_posted, record_pack
from tests.html_pages import Page

UI = ("en", "ru", "kk")


def page(client, lang: str | None = None, **headers) -> Page:
    response = client.get("/", params={"lang": lang} if lang else None, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return Page(response.text)


@pytest.mark.parametrize("lang", UI)
def test_the_page_tells_the_case_the_demands_and_the_six_officials(client, campaign, lang):
    shown = page(client, lang)
    case = campaign.case
    assert shown.text("h1") == case.title[lang]
    assert " ".join(case.summary[lang].split()) in shown.text("main")
    demands = [" ".join(d.text[lang].split()) for d in case.demands]
    assert shown.texts(".demands li") == demands
    officials = shown.text(".officials")
    for recipient in campaign.recipients:
        assert recipient.address_as[lang].name in officials
        assert recipient.address_as[lang].title in officials


@pytest.mark.parametrize(
    ("lang", "reported"),
    [
        ("en", "As reported by Open Dialog Foundation on 1 February 2018"),
        ("ru", "1 февраля 2018"),
        ("kk", "2018 жылғы 1 ақпан"),
    ],
)
def test_the_case_is_shown_with_its_source_and_date(client, campaign, lang, reported):
    source = page(client, lang).text(".hero .source")
    assert reported in source
    assert campaign.case.source.title in source


def test_the_source_links_to_the_report_when_its_address_is_given(
    campaign_copy, settings, monkeypatch
):
    from fastapi.testclient import TestClient

    from app.main import create_app

    path = campaign_copy / "campaign.yaml"
    text = path.read_text(encoding="utf-8")
    address = "https://example.org/report?a=1&b=<2>"
    path.write_text(text.replace("source:\n", f"source:\n  url: {address}\n", 1), "utf-8")
    with TestClient(create_app(settings.model_copy(update={"campaign_dir": campaign_copy}))) as c:
        shown = page(c, "en")
    assert shown.attr(".hero .source a", "href") == address
    assert "b=<2>" not in shown.html


def record(app, campaign, letters: int, posted: int) -> None:
    """`letters` generated in one pack, the first `posted` of them posted (an ombudsman's pile)."""
    ombudsman = campaign.recipient("ombudsman")
    with app.state.sessionmaker() as session:
        token = record_pack(session, [ombudsman] * posted, "ru", "DE", date(2026, 11, 20))
        confirm_posted(session, token, date(2026, 11, 24))
        record_pack(session, [ombudsman] * (letters - posted), "ru", "DE", date(2026, 11, 20))
        session.commit()


@pytest.mark.parametrize(
    ("lang", "sentence"),
    [
        ("en", "1,234 of 5,000 letters sent"),
        ("ru", "Отправлено 1\u00a0234 из 5\u00a0000 писем"),
        ("kk", "Жіберілген хаттар: 1\u00a0234 / 5\u00a0000"),
    ],
)
def test_the_counter_shows_letters_sent_of_the_goal_without_javascript(
    app, client, campaign, lang, sentence
):
    record(app, campaign, letters=1500, posted=1234)
    shown = page(client, lang)
    assert shown.text("#counter-text") == sentence
    bar = shown.one("progress")
    assert (bar.get("value"), bar.get("max")) == ("1234", "5000")
    assert bar.get("aria-labelledby") == "counter-text"


def test_the_goal_comes_from_configuration(database_url):
    from fastapi.testclient import TestClient

    from app.main import create_app

    application = create_app(Settings(database_url=database_url, campaign_goal=250))
    with TestClient(application) as client:
        shown = page(client, "en")
        assert shown.text("#counter-text").endswith("of 250 letters sent")
        assert shown.one("progress").get("max") == "250"
        assert client.get("/api/stats").json()["goal"] == 250
    application.state.engine.dispose()


def test_the_language_comes_from_the_url_else_from_accept_language(client):
    assert page(client, **{"Accept-Language": "kk-KZ, ru;q=0.8"}).attr("html", "lang") == "kk"
    assert (
        page(client, **{"Accept-Language": "de-DE, ru;q=0.7, en;q=0.5"}).attr("html", "lang")
        == "ru"
    )
    assert page(client, **{"Accept-Language": "fr, de"}).attr("html", "lang") == "en"
    assert page(client, "ru", **{"Accept-Language": "kk"}).attr("html", "lang") == "ru"
    assert page(client, "xx", **{"Accept-Language": "kk"}).attr("html", "lang") == "kk"
    negotiated = client.get("/", headers={"Accept-Language": "ru"})
    assert "accept-language" in negotiated.headers["vary"].lower()
    assert negotiated.headers["content-language"] == "ru"


def test_a_switcher_links_every_ui_language(client):
    shown = page(client, "en")
    links = {a.get("hreflang"): a.get("href") for a in shown.all("nav.languages a")}
    assert links == {"en": "/?lang=en", "ru": "/?lang=ru", "kk": "/?lang=kk"}
    assert shown.one('nav.languages a[aria-current="page"]').get("hreflang") == "en"
    for lang, href in links.items():
        assert page(client, href.split("=")[1]).attr("html", "lang") == lang


@pytest.mark.parametrize("lang", UI)
def test_letters_are_in_russian_unless_chosen_otherwise_whatever_the_ui(client, lang):
    shown = page(client, lang)
    checked = shown.all('input[name="language"][checked]')
    assert [c.get("value") for c in checked] == ["ru"]
    assert {i.get("value") for i in shown.all('input[name="language"]')} == {"en", "ru", "kk"}
    hint = {  # campaign.yaml's advice, then the page's own sentence
        "en": "Russian is the officials' working language. You can read the page in one",
        "ru": "Русский — рабочий язык этих должностных лиц. Страницу можно читать",
        "kk": "Орыс тілі — бұл лауазымды тұлғалардың жұмыс тілі. Бетті бір тілде",
    }[lang]
    assert shown.text("#language-hint").startswith(hint)


def test_the_country_list_is_named_and_sorted_in_the_ui_language(client):
    kk = page(client, "kk")
    options = [(o.get("value"), "".join(o.itertext())) for o in kk.all("#country option")]
    assert options[0][0] == ""
    names = dict(options)
    assert names["KZ"] == "Қазақстан"
    assert names["DE"] == "Германия"
    order = [value for value, _ in options]
    # Kazakh order: А, Ә, Б ... Ә-countries do not trail after Я.
    assert names["AZ"] == "Әзірбайжан"
    assert order.index("AL") < order.index("AZ") < order.index("BY")
    assert len(options) > 240
    assert (
        dict(
            (o.get("value"), "".join(o.itertext()))
            for o in page(client, "en").all("#country option")
        )["DE"]
        == "Germany"
    )


@pytest.mark.parametrize("lang", UI)
def test_the_page_says_what_is_kept_and_links_the_privacy_notice(client, lang):
    shown = page(client, lang)
    kept = shown.one(".kept")
    link = [a for a in kept.iter() if a.tag.endswith("a")][0]
    assert link.get("href") == f"/privacy?lang={lang}"
    notice = client.get(link.get("href"))
    assert notice.status_code == 200
    assert Page(notice.text).attr("html", "lang") == lang


def test_every_module_that_marks_messages_is_extracted():
    """A module left out of babel.cfg keeps its messages out of the check below."""
    listed = (SOURCE_ROOT / "babel.cfg").read_text()
    marking = [
        path.relative_to(SOURCE_ROOT).as_posix()
        for path in (SOURCE_ROOT / "app").rglob("*.py")
        if "N_(" in path.read_text(encoding="utf-8") and path.name != "i18n.py"
    ]
    assert marking
    assert [path for path in marking if f"[python: {path}]" not in listed] == []


def test_every_ui_message_is_translated_into_russian_and_kazakh():
    with (SOURCE_ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "NN_": (1, 2)}
    found = [m[2] for m in extract_from_dir(str(SOURCE_ROOT), method_map, options_map, keywords)]
    assert len(found) > 80
    for lang in ("ru", "kk"):
        with (LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
            catalog = read_po(po)
        compiled = translations(lang)
        for message in found:
            key = message if isinstance(message, str) else message[0]
            entry = catalog.get(key)
            assert entry is not None and all(entry.string), f"{lang}: {key!r} is not translated"
            shown = (
                compiled.gettext(message)
                if isinstance(message, str)
                else compiled.ngettext(message[0], message[1], 5)
            )
            assert shown != (message if isinstance(message, str) else message[1]), (
                f"{lang}: {key!r} is not in the compiled catalogue: run make install"
            )


@pytest.mark.parametrize("lang", UI)
def test_shared_links_show_a_title_a_description_and_an_image_the_app_serves(
    client, campaign, lang
):
    shown = page(client, lang)

    def meta(key: str) -> str:
        return shown.attr(f'meta[property="{key}"], meta[name="{key}"]', "content")

    assert meta("og:title") == meta("twitter:title") == campaign.case.title[lang]
    assert campaign.case.prisoners[lang] in meta("og:description")
    assert meta("twitter:description") == meta("og:description") == meta("description")
    assert meta("twitter:card") == "summary_large_image"
    assert meta("og:locale") == {"en": "en_GB", "ru": "ru_RU", "kk": "kk_KZ"}[lang]
    assert meta("og:url").endswith(f"/?lang={lang}")
    image_url = urlsplit(meta("og:image"))
    assert meta("twitter:image") == meta("og:image")
    assert image_url.scheme == "http" and image_url.netloc == "testserver"
    image = client.get(f"{image_url.path}?{image_url.query}")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (1200, 630)


def test_the_page_loads_nothing_from_another_host_and_has_no_inline_script(client):
    shown = page(client, "en")
    for element in shown.all("[src], link[href], script"):
        url = element.get("src") or element.get("href")
        assert url, "inline script"
        parts = urlsplit(url)
        assert parts.scheme in ("", "http", "data") and parts.netloc in ("", "testserver"), url
    for element in shown.all("*"):
        assert element.get("style") is None
        assert not [name for name in element.attrib if name.lower().startswith("on")]
    assert "<style" not in shown.html


def test_the_signature_pad_and_the_handwriting_font_are_served_from_the_set_up(client, settings):
    shown = page(client, "en")
    scripts = [s.get("src") for s in shown.all("script")]
    pads = [src for src in scripts if src.startswith("/assets/signature_pad.")]
    assert len(pads) == 1
    pad = client.get(pads[0])
    assert pad.status_code == 200
    expected = settings.node_modules / "signature_pad" / "dist" / "signature_pad.umd.min.js"
    assert pad.content == expected.read_bytes()
    css = client.get(shown.attr('link[rel="stylesheet"]', "href"))
    fonts = re.findall(r'url\("(/assets/handwriting\.[0-9a-f]+\.woff2)"\)', css.text)
    assert css.status_code == 200 and len(fonts) == 1
    font = client.get(fonts[0])
    assert font.content == (settings.fonts_dir / "handwriting.woff2").read_bytes()
    assert font.headers["content-type"] == "font/woff2"
