"""Letters: one personalised, signed appeal per official, in English, Russian or Kazakh."""

import base64
import io
import subprocess
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pdfplumber
import pytest
from PIL import Image
from pypdf import PdfReader

from app.campaign import LANGUAGES
from app.supporter import Supporter
from tests.conftest import (
    KAZAKH_NAME,
    data_url,
    drawn_signature,
    jpeg_data_url,
    png_data_url,
)
from tests.reading import (
    flat,
    page_texts,
    pdf_fonts,
    pdf_text,
    squeezed,
    without_page_numbers,
)

MM = 72 / 25.4
TODAY = date(2026, 11, 5)
EXPECTED_DATE = {"en": "5 November 2026", "ru": "5 ноября 2026 г.", "kk": "2026 жылғы 5 қараша"}


def render(renderer, campaign, data: dict, ids: list[str] | None = None) -> bytes:
    supporter = Supporter.model_validate(data)
    return renderer.make_pack(
        renderer.letters(supporter, campaign.choose(ids or supporter.recipients), TODAY),
        supporter.language,
    ).pdf


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_pack_has_one_addressed_letter_per_official_and_all_demands(
    lang, renderer, campaign, supporter_data
):
    pdf = render(renderer, campaign, {**supporter_data, "language": lang})
    pages = page_texts(pdf)
    assert len(pages) == len(campaign.recipients) == 6
    for page, recipient in zip(pages, campaign.recipients, strict=True):
        addressed = recipient.address_as[lang]
        for line in addressed.address_lines:
            assert line in page
        assert flat(addressed.salutation) in flat(page)
        assert KAZAKH_NAME in page
        assert "Berlin" in page
        assert EXPECTED_DATE[lang] in page
    whole = flat("\n".join(pages))
    for demand in campaign.case.demands:
        assert flat(demand.text[lang]) in whole


def test_each_letter_carries_exactly_its_officials_demands(renderer, campaign, supporter_data):
    pages = page_texts(render(renderer, campaign, {**supporter_data, "language": "en"}))
    for page, recipient in zip(pages, campaign.recipients, strict=True):
        for demand in campaign.case.demands:
            carried = flat(demand.text["en"]) in flat(page)
            assert carried == (demand.number in recipient.demands), (recipient.id, demand.number)


def test_kazakh_name_comes_back_exactly_and_every_font_is_embedded(
    renderer, campaign, supporter_data, tmp_path
):
    alphabet = "Әә Ғғ Ққ Ңң Өө Ұұ Үү Һһ Іі Ёё Щщ Ъъ Ээ Юю Яя"
    pdf = render(
        renderer, campaign, {**supporter_data, "language": "kk", "message": alphabet}, ["ombudsman"]
    )
    text = pdf_text(pdf)
    assert KAZAKH_NAME in text
    assert alphabet in text
    fonts = pdf_fonts(pdf, tmp_path)
    assert fonts, "no fonts listed"
    assert all(f["emb"] == "yes" and f["uni"] == "yes" for f in fonts), fonts
    families = {f["name"].split("+", 1)[1] for f in fonts}
    # Only the campaign's own fonts: a fallback font means a glyph was missing.
    assert families <= {"DejaVu-Serif", "DejaVu-Serif-Bold", "Campaign-Handwriting"}, families


def test_typed_signature_is_set_in_the_handwriting_font_and_reads_back(
    renderer, campaign, supporter_data, tmp_path
):
    pdf = render(renderer, campaign, supporter_data, ["ombudsman"])
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        handwritten = "".join(
            c["text"] for c in doc.pages[0].chars if "Campaign-Handwriting" in c["fontname"]
        )
    assert handwritten == KAZAKH_NAME
    assert not doc.pages[0].images


@pytest.mark.parametrize("name", [((KAZAKH_NAME + " ") * 5)[:120], "W" * 48, "W" * 120])
def test_a_long_typed_signature_stays_between_the_closing_and_the_printed_name(
    renderer, campaign, supporter_data, name
):
    """The typed signature sits in a 16 mm box: a name of up to 120 characters, even of the
    widest letters, never covers the closing words above it or runs into the printed name."""
    data = {**supporter_data, "name": name, "signature": {"kind": "typed"}}
    pdf = render(renderer, campaign, data, ["ombudsman"])
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        page = doc.pages[-1]
        handwritten = [c for c in page.chars if "Campaign-Handwriting" in c["fontname"]]
        lines = page.extract_text_lines()
    assert "".join(c["text"] for c in handwritten).replace(" ", "") == name.replace(" ", "")
    regards = next(line for line in lines if line["text"] == "С уважением,")
    printed = next(line for line in lines if line["top"] > regards["bottom"] and line["x0"] < 80
                   and not any("Handwriting" in c["fontname"] for c in line["chars"]))  # fmt: skip
    assert printed["text"].startswith(name[:10])
    assert min(c["top"] for c in handwritten) > regards["bottom"]
    assert max(c["bottom"] for c in handwritten) <= printed["top"] + 1  # descenders only


def test_address_block_lies_inside_the_window_field(renderer, campaign, supporter_data):
    for lang in LANGUAGES:
        pdf = render(renderer, campaign, {**supporter_data, "language": lang})
        with pdfplumber.open(io.BytesIO(pdf)) as doc:
            for page, recipient in zip(doc.pages, campaign.recipients, strict=True):
                lines = recipient.address_as[lang].address_lines
                # Left of the sender's block (125 mm) and above the subject line.
                found = page.crop((0, 0, 120 * MM, 92 * MM)).extract_text_lines()
                assert [line["text"] for line in found] == lines, (lang, recipient.id)
                for line in found:
                    assert line["x0"] >= 20 * MM and line["x1"] <= 105 * MM, (lang, line)
                    assert line["top"] >= 45 * MM and line["bottom"] <= 90 * MM, (lang, line)


def test_a_subset_of_recipients_gives_only_their_letters(renderer, campaign, supporter_data):
    ids = ["prosecutor-general", "ombudsman"]
    pages = page_texts(render(renderer, campaign, {**supporter_data, "recipients": ids}))
    assert len(pages) == 2
    assert "Кожамжарову К.П." in pages[0]
    assert "Шакирову А.О." in pages[1]


def test_drawn_signature_is_an_image_in_the_pdf(renderer, campaign, supporter_data):
    data = {**supporter_data, "signature": {"kind": "drawn", "image": png_data_url()}}
    pdf = render(renderer, campaign, data, ["ombudsman", "state-secretary"])
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        for page in doc.pages:
            assert len(page.images) == 1
            assert page.images[0]["srcsize"] == (300, 100)


def test_a_signature_drawn_in_the_form_is_embedded_as_sent(renderer, campaign, supporter_data):
    # The form sends a JPEG on white: its bytes go into the PDF as they are, not encoded anew.
    image = jpeg_data_url()
    data = {**supporter_data, "signature": {"kind": "drawn", "image": image}}
    pdf = render(renderer, campaign, data, ["ombudsman", "state-secretary"])
    assert base64.b64decode(image.split(",", 1)[1]) in pdf
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        assert [[i["srcsize"] for i in page.images] for page in doc.pages] == [[(300, 100)]] * 2


def test_a_jpeg_signature_turned_by_its_exif_prints_upright(renderer, campaign, supporter_data):
    # Stored on its side (100 x 300) with EXIF orientation 6: turn 90 degrees to show it.
    image = drawn_signature().convert("RGB").transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    url = data_url(image, "JPEG", exif=exif)
    data = {**supporter_data, "signature": {"kind": "drawn", "image": url}}
    pdf = render(renderer, campaign, data, ["ombudsman"])
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        assert doc.pages[0].images[0]["srcsize"] == (300, 100)


@pytest.mark.parametrize(
    ("drawn", "printed"),
    [((1152, 384), (600, 200)), ((2400, 100), (880, 37)), ((300, 1200), (50, 200))],
)
@pytest.mark.parametrize("encode", [png_data_url, jpeg_data_url])
def test_a_drawn_signature_is_printed_from_no_more_pixels_than_the_letter_shows(
    renderer, campaign, supporter_data, drawn, printed, encode
):
    # 70 x 16 mm at about 320 dpi; a pad on a high-density screen gives three times as many.
    data = {**supporter_data, "signature": {"kind": "drawn", "image": encode(*drawn)}}
    pdf = render(renderer, campaign, data, ["ombudsman"])
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        assert doc.pages[0].images[0]["srcsize"] == printed


def test_on_paper_leaves_a_line_and_no_signature(renderer, campaign, supporter_data, tmp_path):
    pdf = render(renderer, campaign, {**supporter_data, "signature": {"kind": "none"}})
    names = {f["name"] for f in pdf_fonts(pdf, tmp_path)}
    assert not any("Handwriting" in name for name in names)
    assert KAZAKH_NAME in pdf_text(pdf)


def test_long_message_keeps_paragraphs_and_runs_over_pages(renderer, campaign, supporter_data):
    paragraphs = [f"Paragraph {i}: " + "I am following this case closely. " * 9 for i in range(6)]
    message = "\n\n".join(paragraphs)[:2000]
    pdf = render(renderer, campaign, {**supporter_data, "message": message}, ["ombudsman"])
    pages = page_texts(pdf)
    assert len(pages) == 2
    text = without_page_numbers(pages)
    assert squeezed(message) in squeezed(text)
    for paragraph in paragraphs[:-1]:
        assert f"\n{paragraph[:30]}" in text


def test_short_letters_fit_one_page_each(renderer, campaign, supporter_data):
    message = "I have followed this case since 2017 and ask you to act. " * 4
    for lang in LANGUAGES:
        data = {**supporter_data, "language": lang, "message": message}
        assert len(PdfReader(io.BytesIO(render(renderer, campaign, data))).pages) == 6, lang


def test_pdf_has_title_and_language_and_not_the_supporters_name(renderer, campaign, supporter_data):
    pdf = render(renderer, campaign, {**supporter_data, "language": "kk"})
    reader = PdfReader(io.BytesIO(pdf))
    assert reader.metadata.title == campaign.case.letter_title["kk"]
    assert reader.trailer["/Root"]["/Lang"] == "kk"
    assert all(KAZAKH_NAME not in str(value) for value in reader.metadata.values())
    assert reader.metadata.author is None


class Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        Recorder.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"body{display:none}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_trap():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    Recorder.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_hostile_text_is_literal_and_nothing_is_fetched(
    renderer, campaign, supporter_data, http_trap
):
    hostile = [
        '<img src="file:///etc/passwd">',
        "</p><style>*{display:none}</style>",
        "{{ 7*7 }}",
        f'<link rel="stylesheet" href="{http_trap}/x.css">',
        f"<style>@import url({http_trap}/y.css);</style>",
    ]
    joined = " ".join(hostile)
    data = {
        **supporter_data,
        "name": "{{ 7*7 }} <b>x</b>",
        "street": hostile[0],
        "city": hostile[1][:100],
        "postcode": "{{ 7*7 }}",
        "message": joined,
    }
    text = squeezed(pdf_text(render(renderer, campaign, data, ["ombudsman"])))
    for piece in hostile:
        assert squeezed(piece) in text
    assert squeezed("{{ 7*7 }} <b>x</b>") in text
    assert "root:x:0:0" not in text
    assert Recorder.hits == []


def test_the_renderer_refuses_what_the_campaign_did_not_ship(renderer, http_trap):
    for url in ("file:///etc/passwd", f"{http_trap}/a.png", "data:image/svg+xml,<svg/>"):
        with pytest.raises(ValueError, match="refused"):
            renderer.fetcher.fetch(url)
    outside = renderer.templates_dir.as_uri() + "/../recipients.yaml"
    with pytest.raises(ValueError, match="refused"):
        renderer.fetcher.fetch(outside)
    assert Recorder.hits == []


def run_cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    import os
    import sys

    command = Path(sys.executable).parent / "letter-campaign"
    return subprocess.run(
        [str(command), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.slow
def test_cli_renders_a_pack_from_another_working_directory(supporter_file, tmp_path):
    path = supporter_file(recipients=["ombudsman", "prosecutor-general"])
    out = tmp_path / "pack.pdf"
    result = run_cli("render", str(path), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(page_texts(out.read_bytes())) == 2


@pytest.mark.slow
def test_cli_names_an_unknown_recipient(supporter_file, tmp_path):
    path = supporter_file(recipients=["ombudsman", "no-such-official"])
    result = run_cli("render", str(path), "--out", str(tmp_path / "x.pdf"), cwd=tmp_path)
    assert result.returncode == 2
    assert "recipients" in result.stderr and "no-such-official" in result.stderr
    assert not (tmp_path / "x.pdf").exists()


@pytest.mark.slow
def test_cli_names_the_invalid_field(supporter_file, tmp_path):
    path = supporter_file(name="", language="de", signature={"kind": "drawn", "image": "x"})
    result = run_cli("render", str(path), "--out", str(tmp_path / "x.pdf"), cwd=tmp_path)
    assert result.returncode == 2
    for field in ("name", "language", "signature.drawn.image"):
        assert field in result.stderr


@pytest.mark.slow
def test_cli_help_lists_the_commands(tmp_path):
    result = run_cli("--help", cwd=tmp_path)
    for command in ("render", "serve", "migrate"):
        assert command in result.stdout
