"""A drawn signature's decoding work is bounded before it starts: a JPEG of thousands of scans
(each decoded over the whole image) is refused with a 422 naming the signature without being
decoded, while progressive JPEGs as browsers and Pillow make them still work."""

import base64
import io
from urllib.parse import urlencode

import pytest
from PIL import Image

from tests.conftest import TYPED_FORM, drawn_signature
from tests.html_pages import Page

FORM = {**TYPED_FORM, "signature_kind": "drawn"}


def progressive_jpeg(width: int = 300, height: int = 100) -> bytes:
    page = Image.new("RGB", (width, height), "white")
    stroke = drawn_signature(width, height)
    page.paste(stroke, mask=stroke.getchannel("A"))
    buffer = io.BytesIO()
    page.save(buffer, "JPEG", progressive=True, quality=92)
    return buffer.getvalue()


def many_scans(width: int, height: int, size: int) -> bytes:
    """A progressive greyscale JPEG followed by as many more scans as fit in `size` bytes. Each
    scan is 12 bytes: a header for the image's one component and its AC coefficients, and one
    Huffman code saying "no coefficients in the next N blocks", N being every block."""
    image = drawn_signature(width, height).convert("L")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", progressive=True)
    raw = buffer.getvalue().removesuffix(b"\xff\xd9")
    blocks = -(-width // 8) * -(-height // 8)
    run = blocks.bit_length() - 1  # the symbol EOBn: 2**n blocks, plus n more bits
    # An AC table (class 1, id 1) with one code, "0", of length 1, for EOBn.
    table = bytes([0x11, 1] + [0] * 15 + [run << 4])
    huffman = b"\xff\xc4" + (2 + len(table)).to_bytes(2, "big") + table
    bits = "0" + format(blocks - (1 << run), f"0{run}b")
    bits += "1" * (-len(bits) % 8)
    data = int(bits, 2).to_bytes(len(bits) // 8, "big")
    assert b"\xff" not in data
    # SOS: one component (1), AC table 1, coefficients 1 to 63, no successive approximation.
    scan = b"\xff\xda\x00\x08\x01\x01\x01\x01\x3f\x00" + data
    count = (size - len(raw) - len(huffman) - 2) // len(scan)
    return raw + huffman + scan * count + b"\xff\xd9"


def as_data_url(raw: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(raw).decode()


@pytest.fixture(scope="module")
def crafted() -> str:
    """The crafted signature, within every other cap, and one Pillow can decode (slowly)."""
    raw = many_scans(1200, 400, 299_000)
    assert len(raw) < 300_000
    with Image.open(io.BytesIO(raw)) as image:
        assert image.size == (1200, 400)
        image.load()
    return as_data_url(raw)


def test_a_jpeg_of_thousands_of_scans_is_refused_by_the_api_without_decoding(
    client, supporter_data, crafted, decoded
):
    signature = {"kind": "drawn", "image": crafted}
    response = client.post("/api/letters", json={**supporter_data, "signature": signature})
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"][:2] == ["body", "signature"]
    assert "JPEG of more than 32 scans" in problem["msg"]
    assert decoded == []
    assert client.get("/api/stats").json()["generated"] == 0


def test_the_form_refuses_it_at_the_signature_too(client, crafted, decoded):
    body = urlencode({**FORM, "signature_image": crafted})
    headers = {"content-type": "application/x-www-form-urlencoded"}
    response = client.post("/preview?lang=en", content=body, headers=headers)
    assert response.status_code == 422
    shown = Page(response.text)
    assert [e.get("id") for e in shown.all(".error-message")] == ["signature-error"]
    assert "Draw your signature in the box" in shown.text("#signature-error")
    assert decoded == []


def test_a_progressive_jpeg_as_pillow_makes_it_is_printed(client, supporter_data):
    image = as_data_url(progressive_jpeg())
    signature = {"kind": "drawn", "image": image}
    response = client.post("/api/letters", json={**supporter_data, "signature": signature})
    assert response.status_code == 200, response.text[:300]
    assert response.content.startswith(b"%PDF-")
    body = urlencode({**FORM, "signature_image": image})
    headers = {"content-type": "application/x-www-form-urlencoded"}
    preview = client.post("/preview?lang=en", content=body, headers=headers)
    assert preview.status_code == 200
    assert Page(preview.text).all('.sheet .signature img[src^="data:image/jpeg"]')
