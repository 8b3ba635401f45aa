"""The one schema for a supporter's request, shared by the command line and the web API."""

import base64
import binascii
import io
import re
import unicodedata
from typing import Annotated, Literal

from babel import Locale
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from app.campaign import Language
from app.glyphs import unprintable

MAX_MESSAGE = 2000
# Layout time grows with the number of lines, not characters: 666 one-letter paragraphs took
# 3-5 s for six letters. 40 lines keep the worst accepted pack near one second (SECURITY.md).
MAX_MESSAGE_LINES = 40
# No written language stacks more marks on one letter than this; "Zalgo" text stacks hundreds,
# which overprint the lines around them.
MAX_COMBINING_RUN = 8
MAX_SIGNATURE_BYTES = 300_000
MAX_SIGNATURE_PIXELS = 2400 * 1200
# The letters print a signature at most 70 mm wide and 16 mm high (letter.css): 880 x 200 pixels
# is about 320 dpi there. Every pixel more costs render time and no printer shows it.
SIGNATURE_PRINT_PIXELS = (880, 200)
PNG_DATA_URL = "data:image/png;base64,"
JPEG_DATA_URL = "data:image/jpeg;base64,"
# A data URL's prefix and the image format it must hold. The form sends JPEG on white: WeasyPrint
# embeds a JPEG's bytes as they are, where it encodes a PNG's pixels anew in every pack.
IMAGE_DATA_URLS = {PNG_DATA_URL: "PNG", JPEG_DATA_URL: "JPEG"}
COUNTRIES: frozenset[str] = frozenset(
    code for code in Locale("en").territories if len(code) == 2 and code.isalpha()
) - {"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB", "XK"}

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable_text(value: str) -> str:
    """Text the letters can print as typed: real characters, modest stacks of combining marks,
    and only characters some installed font has (see app/glyphs.py)."""
    if any("\ud800" <= char <= "\udfff" for char in value):
        raise PydanticCustomError("invalid_unicode", "contains a lone surrogate, not a character")
    run = 0
    for char in value:
        run = run + 1 if unicodedata.category(char) in ("Mn", "Me") else 0
        if run > MAX_COMBINING_RUN:
            raise PydanticCustomError(
                "combining_marks",
                "has more than {max} combining marks in a row",
                {"max": MAX_COMBINING_RUN},
            )
    missing = unprintable(value)
    if missing:
        named = ", ".join(
            f"U+{ord(char):04X} {unicodedata.name(char, '(unassigned)')}" for char in missing[:5]
        )
        raise PydanticCustomError(
            "unprintable_character",
            "has characters no font of the letters can print: {characters}",
            {"characters": named},
        )
    return value


def _single_line(value: str) -> str:
    if _CONTROL_LINE.search(value):
        raise ValueError("must not contain control characters or line breaks")
    return value


Line = Annotated[str, StringConstraints(strip_whitespace=True)]


class Drawn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["drawn"]
    image: str = Field(max_length=MAX_SIGNATURE_BYTES * 4 // 3 + len(JPEG_DATA_URL) + 4)

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        prefix = next((p for p in IMAGE_DATA_URLS if value.startswith(p)), None)
        if prefix is None:
            raise ValueError(
                "must be a PNG or JPEG image given as a data:image/png;base64 or"
                " data:image/jpeg;base64 URL"
            )
        kind = IMAGE_DATA_URLS[prefix]
        try:
            raw = base64.b64decode(value[len(prefix) :], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("is not valid base64") from None
        if len(raw) > MAX_SIGNATURE_BYTES:
            raise ValueError(f"is larger than {MAX_SIGNATURE_BYTES} bytes")
        try:
            with Image.open(io.BytesIO(raw), formats=[kind]) as image:
                width, height = image.size
                if width * height > MAX_SIGNATURE_PIXELS:
                    raise ValueError(f"is larger than {MAX_SIGNATURE_PIXELS} pixels")
                # Pillow checks a PNG's chunks without decoding it; a JPEG only by decoding.
                image.verify() if kind == "PNG" else image.load()
            if width > SIGNATURE_PRINT_PIXELS[0] or height > SIGNATURE_PRINT_PIXELS[1]:
                return _print_sized(raw, prefix)
        except Image.DecompressionBombError:
            # Pillow refuses to even open images far over its own cap: over ours too.
            raise ValueError(f"is larger than {MAX_SIGNATURE_PIXELS} pixels") from None
        except ValueError:
            raise
        except Exception:
            raise ValueError(f"is not a readable {kind} image") from None
        return value


def _print_sized(raw: bytes, prefix: str) -> str:
    """The signature scaled down to what the letter prints. WeasyPrint encodes a PNG signature's
    pixels anew in every pack: a pad drawn on a high-density screen (1,000 x 330 pixels) added
    about 20 ms to a six-letter pack, as much as the rest of the supporter's part."""
    kind = IMAGE_DATA_URLS[prefix]
    kept_modes, other_mode, options = {
        "PNG": (("RGBA", "RGB", "LA", "L"), "RGBA", {"compress_level": 1}),
        "JPEG": (("RGB", "L"), "RGB", {"quality": 92}),
    }[kind]
    with Image.open(io.BytesIO(raw), formats=[kind]) as image:
        image = image if image.mode in kept_modes else image.convert(other_mode)
        image.thumbnail(SIGNATURE_PRINT_PIXELS, Image.Resampling.BOX)
        buffer = io.BytesIO()
        image.save(buffer, kind, **options)
    return prefix + base64.b64encode(buffer.getvalue()).decode()


class Typed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["typed"]


class OnPaper(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["none"]


Signature = Annotated[Drawn | Typed | OnPaper, Field(discriminator="kind")]


class Supporter(BaseModel):
    """What a supporter gives us for one pack of letters. Nothing of it is stored."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[Line, StringConstraints(min_length=1, max_length=120)]
    street: Annotated[Line, StringConstraints(min_length=1, max_length=200)]
    postcode: Annotated[Line, StringConstraints(max_length=20)] | None = None
    city: Annotated[Line, StringConstraints(min_length=1, max_length=100)]
    country: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True)]
    language: Language
    recipients: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list, max_length=20
    )
    message: Annotated[str, StringConstraints(max_length=MAX_MESSAGE)] | None = None
    signature: Signature

    @field_validator("name", "street", "postcode", "city")
    @classmethod
    def _no_control(cls, value: str | None) -> str | None:
        return None if value is None else printable_text(_single_line(value))

    @field_validator("message")
    @classmethod
    def _message(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
        if _CONTROL.search(value):
            raise ValueError("must not contain control characters")
        lines = value.count("\n") + 1
        if lines > MAX_MESSAGE_LINES:
            raise PydanticCustomError(
                "too_many_lines",
                "has {lines} lines; at most {max} are allowed",
                {"lines": lines, "max": MAX_MESSAGE_LINES},
            )
        return printable_text(value) or None

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if value not in COUNTRIES:
            raise ValueError("must be a two-letter ISO 3166 country code")
        return value

    def message_paragraphs(self) -> list[str]:
        """Paragraphs as the supporter typed them, split on blank lines; single breaks kept."""
        if not self.message:
            return []
        return [p.strip() for p in re.split(r"\n\s*\n", self.message) if p.strip()]
