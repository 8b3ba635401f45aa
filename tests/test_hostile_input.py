"""Hostile and strange input: every limit is a clear 4xx naming the field and the limit, strange
text is printed as typed or refused, rendering has a hard time budget, and nothing a supporter
types makes the renderer fetch anything."""

import base64
import contextlib
import io
import json
import re
import struct
import threading
import time
import zlib
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pdfplumber
import pytest
from PIL import Image
from weasyprint import HTML

from app.render import RefusedURL, RenderBudgetExceeded
from app.render.budget import within_budget
from app.supporter import MAX_COMBINING_RUN, MAX_MESSAGE_LINES, Supporter
from tests.conftest import drawn_signature, png_data_url
from tests.reading import pdf_text, squeezed

ONE = ["ombudsman"]


def make(client, supporter_data: dict, **changes):
    return client.post("/api/letters", json={**supporter_data, "recipients": ONE, **changes})


def problems(response) -> dict[str, str]:
    assert response.status_code == 422, response.text[:300]
    return {".".join(str(p) for p in d["loc"][1:]): d["msg"] for d in response.json()["detail"]}


def bomb_png(width: int, height: int) -> str:
    """A one-colour bilevel PNG written row by row: huge in pixels, small in bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat)
    raw += chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(raw).decode()


# --- limits -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "limit"),
    [("name", 120), ("street", 200), ("postcode", 20), ("city", 100), ("message", 2000)],
)
def test_each_field_over_its_length_is_a_422_naming_field_and_limit(
    client, supporter_data, field, limit
):
    assert make(client, supporter_data, **{field: "x" * limit}).status_code == 200
    found = problems(make(client, supporter_data, **{field: "x" * (limit + 1)}))
    assert f"at most {limit} characters" in found[field]


def test_more_than_twenty_recipients_is_a_422(client, supporter_data):
    found = problems(make(client, supporter_data, recipients=ONE * 21))
    assert "at most 20 items" in found["recipients"]


def test_a_message_of_too_many_lines_is_a_422_naming_the_limit(client, supporter_data):
    lines = "\n".join(["a line"] * MAX_MESSAGE_LINES)
    assert make(client, supporter_data, message=lines).status_code == 200
    found = problems(make(client, supporter_data, message=lines + "\none more"))
    assert f"at most {MAX_MESSAGE_LINES} are allowed" in found["message"]


@pytest.mark.parametrize(
    ("image", "says"),
    [
        ("data:image/gif;base64,R0lGODlhAQABAAAAACw=", "must be a PNG or JPEG image"),
        ("data:image/png;base64,R0lGODlhAQABAAAAACw=", "not a readable PNG"),
        ("data:image/jpeg;base64,/9j/4AAQ", "not a readable JPEG"),
        ("data:image/jpeg;base64," + png_data_url().split(",", 1)[1], "not a readable JPEG"),
        ("data:image/png;base64,not base64!", "not valid base64"),
        ("data:image/png;base64," + "A" * 400_004, "larger than 300000 bytes"),
        ("http://127.0.0.1/signature.png", "must be a PNG or JPEG image"),
    ],
)
def test_a_signature_must_be_a_small_png_or_jpeg(client, supporter_data, image, says):
    found = problems(make(client, supporter_data, signature={"kind": "drawn", "image": image}))
    assert any(says in message for message in found.values()), found


def test_nothing_but_a_jpeg_signatures_pixels_reaches_the_letters(client, supporter_data):
    """A JPEG goes into the PDF byte for byte, to the state the letters address: its EXIF (which
    may hold a place), comments and anything after the image are left behind."""
    image = drawn_signature().convert("RGB")
    exif = Image.Exif()
    exif[0x010E] = "EXIF-DESCRIPTION-MARK"  # ImageDescription
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, comment=b"COMMENT-MARK")
    raw = buffer.getvalue() + b"TRAILING-MARK"
    signature = {
        "kind": "drawn",
        "image": "data:image/jpeg;base64," + base64.b64encode(raw).decode(),
    }
    response = make(client, supporter_data, signature=signature)
    assert response.status_code == 200
    for mark in (b"EXIF-DESCRIPTION-MARK", b"COMMENT-MARK", b"TRAILING-MARK"):
        assert mark not in response.content
    with pdfplumber.open(io.BytesIO(response.content)) as doc:
        assert doc.pages[0].images[0]["srcsize"] == (300, 100)


def test_a_decompression_bomb_png_is_refused_fast_without_being_decoded(
    client, supporter_data, decoded
):
    bomb = bomb_png(20_000, 20_000)  # 400 million pixels, under the byte cap
    assert len(bomb) < 100_000
    found = problems(make(client, supporter_data, signature={"kind": "drawn", "image": bomb}))
    assert any("larger than 480000 pixels" in message for message in found.values())
    assert decoded == []


# --- strange text -------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["name", "street", "postcode", "city", "message"])
@pytest.mark.parametrize("bad", ["a\x00b", "a\x1bb", "a\x7fb", "a\u2028b", "a\x85b"])
def test_nul_and_control_characters_are_refused_in_every_field(client, supporter_data, field, bad):
    assert field in problems(make(client, supporter_data, **{field: bad}))


@pytest.mark.parametrize("field", ["name", "street", "city", "message"])
def test_a_lone_surrogate_is_a_422_not_a_500(client, field, supporter_data):
    body = {**supporter_data, "recipients": ONE, field: "ab"}
    raw = json.dumps(body).replace('"ab"', '"a\\ud800b"').encode()  # JSON can spell it
    response = client.post(
        "/api/letters", content=raw, headers={"content-type": "application/json"}
    )
    assert "string" in problems(response)[field] or "surrogate" in problems(response)[field]


def test_stacked_combining_marks_are_refused_past_the_limit(client, supporter_data):
    fine = "Zoe\u0301" + "e" + "\u0301" * MAX_COMBINING_RUN
    assert make(client, supporter_data, name=fine).status_code == 200
    zalgo = "e" + "\u0301\u0316\u0324" * 700
    found = problems(make(client, supporter_data, name="Z" + zalgo[:100], message=zalgo[:1500]))
    assert f"more than {MAX_COMBINING_RUN} combining marks" in found["name"]
    assert f"more than {MAX_COMBINING_RUN} combining marks" in found["message"]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("王小明", "U+738B CJK UNIFIED IDEOGRAPH-738B"),
        ("a\ue000b", "U+E000"),
        ("a\uffffb", "U+FFFF"),
        ("a\U000e0100b", "U+E0100"),
    ],
)
def test_characters_no_font_can_print_are_refused_by_name(client, supporter_data, text, named):
    found = problems(make(client, supporter_data, name=text, message=text))
    assert named in found["name"] and named in found["message"]


def test_the_form_explains_unprintable_characters_next_to_the_field(client, supporter_data):
    form = {**supporter_data, "recipients": ONE, "signature_kind": "typed", "name": "王小明"}
    form.pop("signature"), form.pop("message")
    page = client.post("/preview?lang=en", data=form)
    assert page.status_code == 422
    assert "characters our letters cannot print" in page.text


@pytest.mark.parametrize(
    "text",
    [
        "مريم حسين",  # Arabic, right to left
        "שלום עליכם",  # Hebrew
        "Zoë Nguyễn Thị Ánh",  # precomposed and combining accents
        "Ана-Мария ♥ ☺ ☀",  # symbols the fonts have
        "Jo\u200dhn\u00ad Smith\u200e",  # joiners, soft hyphen, a direction mark
        "W" * 120,  # one word as long as the field allows
    ],
)
def test_right_to_left_symbols_and_long_words_are_printed_as_typed(client, supporter_data, text):
    response = make(client, supporter_data, name=text)
    assert response.status_code == 200
    printed = without_direction_marks(squeezed(pdf_text(response.content)))
    visible = without_direction_marks(squeezed(text.replace("\u00ad", "")))
    assert visible in printed


def without_direction_marks(text: str) -> str:
    """pdftotext wraps right-to-left runs in embedding marks; the letters are the same."""
    return re.sub("[\u200b-\u200f\u202a-\u202e]", "", text)


def test_a_message_that_is_one_two_thousand_letter_word_is_printed_whole(client, supporter_data):
    word = "Свобода" * 285 + "!!!!!"
    response = make(client, supporter_data, message=word)
    assert response.status_code == 200
    assert word in squeezed(pdf_text(response.content))


# --- the time budget ----------------------------------------------------------------------------


def test_a_render_that_slips_past_the_limits_is_stopped_at_its_budget(renderer, campaign):
    """The schema keeps such text out; the budget is the wall behind it. 3,000 paragraphs in six
    letters take WeasyPrint about 20 s; the watchdog stops them at one. Its exception may land in
    a garbage-collector callback, which swallows it ("unraisable"): the watchdog raises again.
    The render is measured in this thread's CPU time, not the clock's: on a busy machine a
    second of budget holds less than a second of work, and the work goes no further."""
    slow = Supporter.model_construct(
        **Supporter.model_validate(
            {
                "name": "A",
                "street": "B 1",
                "city": "C",
                "country": "DE",
                "language": "en",
                "signature": {"kind": "none"},
            }
        ).__dict__
    )
    slow.message = "a\n\n" * 3000
    letters = renderer.letters(slow, campaign.recipients, date.today())
    started = time.thread_time()
    with pytest.raises(RenderBudgetExceeded, match="budget of 1 s"):
        renderer.make_pack(letters, "en", budget=1.0)
    assert time.thread_time() - started < 2.0, "the render went on past its budget"
    slow.message = "Short again."
    letters = renderer.letters(slow, campaign.recipients, date.today())
    pdf = renderer.make_pack(letters, "en", budget=10.0).pdf
    assert "Short again." in pdf_text(pdf)


def steps(count: int) -> int:
    """`count` steps of Python work, as layout is: an exception raised into the thread lands in
    one of them."""
    done = 0
    while done < count:
        done += 1
    return done


def work_until(released: threading.Event) -> None:
    """Python work that ends only once `released` is set."""
    while not released.is_set():
        pass


def no_watchdog_left() -> None:
    """Waits for every watchdog to end, then works on: an exception still pending for this
    thread would land here, at its next step."""
    for thread in threading.enumerate():
        if thread.name == "render-budget":
            thread.join(60)
            assert not thread.is_alive(), "a watchdog goes on after its work ended"
    steps(10_000)


def test_the_watchdog_never_leaves_a_stray_exception_behind():
    """Budgets that expire at every moment of the work, even before it starts: each call returns
    or raises RenderBudgetExceeded, and nothing arrives in the thread afterwards. Work that
    cannot end by itself is surely stopped, and work that ends within a budget that cannot expire
    meanwhile surely returns, however fast the machine; in between, either may happen."""
    never = threading.Event()
    for attempt in range(100):
        with pytest.raises(RenderBudgetExceeded):
            within_budget(0.0002 * (attempt % 10), work_until, never)
        assert within_budget(3600, steps, attempt) == attempt
        with contextlib.suppress(RenderBudgetExceeded):
            assert within_budget(0.0002 * (attempt % 10), steps, 100 * attempt) == 100 * attempt
    no_watchdog_left()


def test_a_render_over_budget_is_a_503_with_retry_after(app, client, supporter_data):
    app.state.settings = app.state.settings.model_copy(update={"render_budget_s": 0.001})
    response = make(client, supporter_data)
    assert response.status_code == 503
    assert "render time budget of 0.001 s exceeded" in response.json()["detail"]
    assert response.headers["retry-after"].isdigit()
    assert client.get("/api/stats").json()["generated"] == 0


# --- nothing is fetched -------------------------------------------------------------------------


class Trap(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        Trap.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        self.wfile.write(base64.b64decode(png_data_url().split(",", 1)[1]))

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def trap():
    """A web server on 127.0.0.1 that counts every request it gets."""
    Trap.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Trap)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}", Trap.hits
    server.shutdown()
    server.server_close()


def payloads(host: str) -> list[str]:
    svg = f"<svg xmlns='http://www.w3.org/2000/svg'><image href='http://{host}/svg'/></svg>"
    return [
        f"<img src=http://{host}/img>",
        f'<link rel=stylesheet href="http://{host}/css">',
        f"<style>@import url(http://{host}/import);</style>",
        f"url(//{host}/u)",
        f"@import '//{host}/i';",
        "<img src=file:///etc/passwd>",
        f'<img src="data:image/svg+xml,{svg}">',
        f"<object data=http://{host}/obj></object>",
        f"<iframe src=//{host}/f></iframe>",
    ]


LIMITS = {"name": 120, "street": 200, "postcode": 20, "city": 100, "message": 2000}


def test_markup_smuggled_through_every_field_is_printed_as_text_and_fetches_nothing(
    client, supporter_data, trap
):
    host, hits = trap
    short = host.replace("127.0.0.1", "127.1")
    for payload in payloads(host) + [f"url(//{short})"]:
        fields = {f: payload for f, limit in LIMITS.items() if len(payload) <= limit}
        response = make(client, supporter_data, **fields)
        assert response.status_code == 200, (payload, response.text[:200])
        printed = squeezed(pdf_text(response.content))
        assert squeezed(payload) in printed
        preview = client.post(
            "/preview",
            data={
                **{k: v for k, v in supporter_data.items() if k not in ("signature", "message")},
                **fields,
                "recipients": ONE,
                "signature_kind": "typed",
            },
        )
        assert preview.status_code == 200
        assert "<" not in payload or payload not in preview.text  # shown as text, escaped
    assert hits == []


def test_the_fetcher_refuses_every_url_the_campaign_did_not_ship(renderer, trap, tmp_path):
    host, hits = trap
    secret = tmp_path / "secret.css"
    secret.write_text("body { color: red }")
    templates = renderer.templates_dir.as_uri()
    for url in (
        "file:///etc/passwd",
        secret.as_uri(),
        f"{templates}/../pyproject.toml",
        f"{templates}/../app/settings.py",
        f"http://{host}/direct",
        f"https://{host}/direct",
        "data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg'/>",
        "data:text/css,body{}",
        f"ftp://{host}/x",
    ):
        with pytest.raises(RefusedURL):
            renderer.fetcher.fetch(url)
    assert b"@page" in renderer.fetcher.fetch(f"{templates}/letter.css").read()
    assert hits == []


def test_markup_that_reached_the_renderer_unescaped_still_fetches_nothing(renderer, trap):
    """The second wall: were a template to let markup through, the fetcher still refuses."""
    host, hits = trap
    html = "".join(payloads(host)) + (
        f"<p style=\"background:url('http://{host}/inline')\">x</p>"
        f"<style>@font-face{{font-family:x;src:url(http://{host}/font)}}"
        f"p{{font-family:x;list-style-image:url(file:///etc/hostname)}}</style>"
    )
    pdf = HTML(
        string=html, base_url=renderer.templates_dir.as_uri() + "/", url_fetcher=renderer.fetcher
    ).write_pdf()
    assert pdf.startswith(b"%PDF-")
    assert hits == []
