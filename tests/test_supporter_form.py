"""The supporter form without JavaScript, as a browser posts it: errors next to their fields,
the preview, back to edit, create, download all or one, and "I have posted them"."""

import asyncio
import base64
import io
import re
import threading
from datetime import date
from urllib.parse import urlencode

import httpx
import pdfplumber
import pytest
from PIL import Image

from tests.conftest import png_data_url
from tests.html_pages import Page
from tests.reading import page_texts

TODAY = date.today().isoformat()


@pytest.fixture
def typed() -> dict:
    """A supporter as the form posts one: every field a string, officials as repeated fields."""
    return {
        "name": "Мария Иванова-Шмидт",
        "street": "Lindenstraße 12",
        "postcode": "10969",
        "city": "Berlin",
        "country": "DE",
        "language": "ru",
        "recipients": ["la-155-1", "ombudsman"],
        "message": "Прошу вас вмешаться.\r\n\r\nС надеждой на ответ.",
        "signature_kind": "typed",
    }


def post(client, path: str, data: dict | list[tuple[str, str]], lang: str = "en"):
    """Posts like a browser: a dict's lists become repeated fields, a list of pairs keeps order."""
    pairs = (
        data
        if isinstance(data, list)
        else [
            (key, item)
            for key, value in data.items()
            for item in (value if isinstance(value, list) else [value])
        ]
    )
    return client.post(
        f"{path}?lang={lang}",
        content=urlencode(pairs),
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )


def preview(client, typed: dict, lang: str = "en") -> Page:
    response = post(client, "/preview", typed, lang)
    assert response.status_code == 200, response.text[:2000]
    assert response.headers["cache-control"] == "no-store"
    return Page(response.text)


def create(client, typed: dict, lang: str = "en") -> Page:
    shown = preview(client, typed, lang)
    response = post(client, "/letters", shown.form_values("form.decide"), lang)
    assert response.status_code == 200, response.text[:2000]
    assert response.headers["cache-control"] == "no-store"
    return Page(response.text)


def stats(client) -> dict:
    return client.get("/api/stats").json()


def token_of(thanks: Page) -> str:
    return dict(thanks.form_values("#download"))["token"]


def test_a_fresh_form_ticks_all_six_officials_letters_in_russian_signed_typed(client, campaign):
    form = Page(client.get("/?lang=en").text)
    values = form.form_values("form.supporter-form")
    assert [v for k, v in values if k == "recipients"] == [r.id for r in campaign.recipients]
    assert ("language", "ru") in values
    assert ("signature_kind", "typed") in values
    assert form.attr("form.supporter-form", "action") == "/preview?lang=en"
    # Drawing needs JavaScript: without it the option stays hidden.
    assert form.all("[data-needs-script][hidden] #signature-drawn")


def test_errors_stand_next_to_their_fields_in_the_ui_language_and_values_are_kept(client, typed):
    response = post(client, "/preview", {**typed, "name": "  ", "country": ""}, "ru")
    assert response.status_code == 422
    assert response.headers["cache-control"] == "no-store"
    shown = Page(response.text)
    assert shown.text("title").startswith("Ошибка:")
    assert shown.text("#name-error") == "Ошибка: Укажите своё имя."
    assert shown.text("#country-error") == "Ошибка: Выберите свою страну из списка."
    name = shown.one("#name")
    assert name.get("aria-invalid") == "true"
    assert "name-error" in name.get("aria-describedby")
    # The error sits in the field's own block, between its label and its input.
    field = shown.one(".field.has-error:has(#name)")
    assert [child.get("id") or child.get("for") for child in field] == [
        "name",
        "name-error",
        "name",
    ]
    assert [a.get("href") for a in shown.all(".error-summary a")] == ["#name", "#country"]
    switcher = [a.get("href") for a in shown.all("nav.languages a")]
    assert switcher == ["/?lang=en", "/?lang=ru", "/?lang=kk"]
    kept = dict(shown.form_values("form.supporter-form"))
    assert kept["street"] == typed["street"]
    assert kept["postcode"] == typed["postcode"]
    assert kept["message"] == typed["message"].replace("\r\n", "\n")
    assert kept["language"] == "ru"
    ticked = [v for k, v in shown.form_values("form.supporter-form") if k == "recipients"]
    assert ticked == typed["recipients"]
    assert stats(client)["generated"] == 0


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": "N" * 121}, "name", "Your name can have at most 120 characters."),
        ({"street": "Line one\u2028line two"}, "street", "Write this on one line"),
        ({"postcode": "1" * 21}, "postcode", "A postcode can have at most 20 characters."),
        ({"city": ""}, "city", "Enter your town or city."),
        ({"country": "ZZ"}, "country", "Choose your country from the list."),
        ({"language": "de"}, "language", "Choose the language of your letters."),
        ({"recipients": []}, "recipients", "Choose at least one official"),
        ({"recipients": ["ombudsman", "the-king"]}, "recipients", "Choose at least one official"),
        (
            {"message": "ж" * 2005},
            "message",
            "Your message has 2,005 characters; it can have at most 2,000.",
        ),
        ({"signature_kind": "drawn"}, "signature", "Draw your signature in the box"),
        (
            {"signature_kind": "drawn", "signature_image": "data:image/png;base64,AAAA"},
            "signature",
            "Draw your signature in the box",
        ),
        ({"signature_kind": "stamp"}, "signature", "Choose how to sign your letters."),
    ],
)
def test_each_problem_is_told_at_its_own_field(client, typed, changes, field, message):
    response = post(client, "/preview", {**typed, **changes})
    assert response.status_code == 422
    shown = Page(response.text)
    errors = {e.get("id").removesuffix("-error"): e for e in shown.all(".error-message")}
    assert list(errors) == [field]
    assert message in shown.text(f"#{field}-error")


def test_a_message_of_exactly_2000_characters_with_line_breaks_is_accepted(client, typed):
    message = ("ж" * 998 + "\r\n") * 2  # 2,000 characters once the browser's CRLF are LF
    shown = preview(client, {**typed, "message": message})
    assert len(shown.all(".sheet .letter")) == 2


def test_the_preview_shows_each_letter_as_the_letter_templates_render_it(
    client, typed, renderer, campaign
):
    from app.supporter import Supporter
    from app.variants import decode as decode_variants

    shown = preview(client, typed)
    sheets = shown.all(".sheet .letter")
    assert len(sheets) == 2
    assert [s.get("lang") for s in sheets] == ["ru", "ru"]
    supporter = Supporter.model_validate(
        {
            **{k: v for k, v in typed.items() if k != "signature_kind"},
            "message": typed["message"].replace("\r\n", "\n"),
            "signature": {"kind": "typed"},
        }
    )
    carried = shown.all('#decide input[name="variants"]')[0].get("value")
    variants = decode_variants(carried, campaign)
    assert variants is not None, "the preview carries its variant paragraphs to the download"
    expected = renderer.letters(
        supporter, campaign.choose(typed["recipients"]), date.today(), variants
    )
    for letter in expected:
        assert str(letter.html) in shown.html
    sheets = [link.get("href") for link in shown.all('link[rel="stylesheet"]')]
    letter_css = [href for href in sheets if href.startswith("/assets/letter.")]
    css = client.get(letter_css[0])
    assert ".sheet .window" in css.text and "@page" not in css.text


def test_edit_brings_back_every_value_as_typed(client, typed):
    shown = preview(client, {**typed, "signature_kind": "none"})
    decide = shown.one("form.decide")
    edit = [b for b in decide.iter() if b.tag.endswith("button") and b.get("formaction")]
    assert edit[0].get("formaction").startswith("/edit?lang=en")
    response = post(client, "/edit", shown.form_values("form.decide"))
    assert response.status_code == 200
    values = Page(response.text).form_values("form.supporter-form")
    expected = {**typed, "message": typed["message"].replace("\r\n", "\n")}
    assert dict(values) | {"recipients": None} == {
        **{k: v for k, v in expected.items() if k != "recipients"},
        "signature_kind": "none",
        "signature_image": "",
        "recipients": None,
        "paper": "a4",  # the paper usual in Germany, shown as the default
        "paper_default": "a4",
    }
    assert [v for k, v in values if k == "recipients"] == typed["recipients"]


def test_creating_counts_each_letter_once_even_when_the_page_is_posted_again(client, typed):
    shown = preview(client, typed)
    values = shown.form_values("form.decide")
    first = post(client, "/letters", values)
    again = post(client, "/letters", values)  # a reload, a double click, the back button
    assert first.status_code == again.status_code == 200
    assert token_of(Page(first.text)) == token_of(Page(again.text))
    assert stats(client)["generated"] == 2
    other = create(client, typed)  # a new preview is a new pack
    assert token_of(other) != token_of(Page(first.text))
    assert stats(client)["generated"] == 4


def test_downloads_give_all_letters_or_one_without_counting_again(client, typed, campaign):
    thanks = create(client, typed)
    values = thanks.form_values("#download")
    assert stats(client)["generated"] == 2
    assert "a standard international letter to Kazakhstan" in thanks.text(".steps")

    everything = post(client, "/letters/pdf", values)
    assert everything.status_code == 200
    assert everything.headers["content-type"] == "application/pdf"
    assert everything.headers["cache-control"] == "no-store"
    assert everything.headers["content-disposition"] == (
        f'attachment; filename="appeal-letters-{TODAY}.pdf"'
    )
    pages = page_texts(everything.content)
    assert len(pages) == 2
    assert all(typed["name"] in page and "С надеждой на ответ." in page for page in pages)

    buttons = [b.get("value") for b in thanks.all('button[form="download"]')]
    assert buttons == typed["recipients"]
    one = post(client, "/letters/pdf", [*values, ("recipient", "ombudsman")])
    assert one.status_code == 200
    assert one.headers["content-disposition"] == (
        f'attachment; filename="appeal-letter-ombudsman-{TODAY}.pdf"'
    )
    (page,) = page_texts(one.content)
    assert campaign.recipient("ombudsman").address_as["ru"].address_lines[0] in page
    assert stats(client)["generated"] == 2


def test_a_download_needs_a_known_token_and_one_of_its_letters(client, typed):
    thanks = create(client, typed)
    values = [(k, v) for k, v in thanks.form_values("#download") if k != "token"]
    assert post(client, "/letters/pdf", [*values, ("token", "x" * 32)]).status_code == 404
    assert post(client, "/letters/pdf", [*values, ("token", "short")]).status_code == 404
    token = ("token", token_of(thanks))
    not_written = [*values, token, ("recipient", "state-secretary")]
    assert post(client, "/letters/pdf", not_written).status_code == 404
    assert stats(client)["generated"] == 2


def test_a_drawn_signature_goes_through_preview_and_into_every_printed_letter(client, typed):
    drawn = {**typed, "signature_kind": "drawn", "signature_image": png_data_url()}
    shown = preview(client, drawn)
    assert len(shown.all('.sheet .signature img[src^="data:image/png;base64,"]')) == 2
    thanks = Page(post(client, "/letters", shown.form_values("form.decide")).text)
    pdf = post(client, "/letters/pdf", thanks.form_values("#download")).content
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        assert [len(page.images) for page in document.pages] == [1, 1]


def test_a_signature_is_carried_on_as_the_letters_print_it(client, typed):
    """Checked and scaled once: the next steps post back the smaller image."""
    drawn = {**typed, "signature_kind": "drawn", "signature_image": png_data_url(1152, 384)}
    carried = dict(preview(client, drawn).form_values("form.decide"))["signature_image"]
    png = base64.b64decode(carried.split(",", 1)[1])
    assert Image.open(io.BytesIO(png)).size == (600, 200)


def test_the_thank_you_page_says_how_to_post_and_gives_a_private_link(client, typed):
    thanks = create(client, typed, "kk")
    assert thanks.attr("html", "lang") == "kk"
    steps = thanks.text(".steps")
    assert "Қазақстанға" in steps and "DL" in steps
    token = token_of(thanks)
    link = thanks.attr("#private-link", "value")
    assert re.fullmatch(rf"http://testserver/posted/{re.escape(token)}\?lang=kk", link)
    assert thanks.attr("#posted-form", "action") == f"/posted/{token}?lang=kk"
    assert [b.get("value") for b in thanks.all('button[form="posted-form"]')] == typed["recipients"]


def test_posting_one_letter_then_all_counts_each_once(client, typed):
    token = token_of(create(client, typed))
    one = post(client, f"/posted/{token}", {"recipient": "ombudsman"})
    assert one.status_code == 303
    assert one.headers["location"].endswith(f"/posted/{token}?lang=en#posted")
    assert stats(client)["sent"] == 1

    page = client.get(f"/posted/{token}?lang=en")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "noindex" in page.headers["x-robots-tag"]
    shown = Page(page.text)
    assert len(shown.all(".status-sent")) == 1
    assert [b.get("value") for b in shown.all("#posted button")] == ["la-155-1"]

    post(client, f"/posted/{token}", {"recipient": "ombudsman"})
    assert stats(client)["sent"] == 1
    post(client, f"/posted/{token}", {"recipient": ""})
    post(client, f"/posted/{token}", {})
    assert stats(client)["sent"] == 2
    done = Page(client.get(f"/posted/{token}?lang=en").text)
    assert len(done.all(".status-sent")) == 2
    assert "all your 2 letters are marked as posted" in done.text("main")
    assert done.text("#counter-text") == "2 of 5,000 letters sent"


def test_an_unknown_private_link_is_a_404_page(client):
    for response in (
        client.get("/posted/not-a-token?lang=ru"),
        client.post("/posted/not-a-token?lang=ru", data={}),
    ):
        assert response.status_code == 404
        assert "Мы не знаем эту ссылку" in response.text


def test_a_download_renders_without_holding_a_database_connection(
    client, typed, connections_while_rendering
):
    """A pack may wait for its turn to render: meanwhile it must hold no pooled connection and,
    on SQLite, no lock."""
    values = create(client, typed).form_values("#download")
    assert post(client, "/letters/pdf", values).status_code == 200
    assert connections_while_rendering == [0]


def test_the_service_keeps_answering_while_a_download_renders(app, client, typed, monkeypatch):
    """The download handler is async: its pack must render off the event loop, or every other
    request to the worker waits for the pack's turn and its render."""
    values = create(client, typed).form_values("#download")
    rendering, answered, waited = threading.Event(), threading.Event(), []
    make_pack = app.state.renderer.make_pack

    def render_after_a_health_check(letters, lang, **how):
        rendering.set()
        waited.append(answered.wait(10))
        return make_pack(letters, lang, **how)

    monkeypatch.setattr(app.state.renderer, "make_pack", render_after_a_health_check)

    async def download_and_check_health():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            form = {"content-type": "application/x-www-form-urlencoded"}
            download = asyncio.create_task(
                http.post("/letters/pdf", content=urlencode(values), headers=form)
            )
            assert await asyncio.to_thread(rendering.wait, 10)
            health = await http.get("/healthz")
            answered.set()
            return health, await download

    health, download = asyncio.run(download_and_check_health())
    assert health.status_code == 200
    assert download.status_code == 200
    assert waited == [True]
