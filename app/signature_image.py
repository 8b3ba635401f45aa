"""A drawn signature's image: checked, and made into the image the letters print.

The letters print a signature at most 70 mm wide and 16 mm high (letter.css), and WeasyPrint
puts it into every pack: a JPEG's bytes as they are, a PNG's pixels encoded anew each time (its
colour and its alpha channel, each through Pillow's PNG encoder). So the form sends a JPEG on
white no larger than the letter prints it, and anything else is scaled down to that here, once.
A JPEG goes into the PDF byte for byte, to the officials the letters address: one that carries
anything besides its pixels (EXIF, with its orientation and perhaps a place; comments; another
picture after it) is encoded anew without it.

Decoding is bounded before it starts: by pixels (the header gives the size), and for a JPEG by
its scans, as each scan of a progressive JPEG is decoded over the whole image. Twelve bytes can
make a scan, so a crafted signature of a few hundred kilobytes holds tens of thousands of them
(SECURITY.md has the figures).
"""

import base64
import binascii
import io
import re

from PIL import Image, ImageOps

PNG_DATA_URL = "data:image/png;base64,"
JPEG_DATA_URL = "data:image/jpeg;base64,"
DATA_URLS = {PNG_DATA_URL: "PNG", JPEG_DATA_URL: "JPEG"}
MAX_BYTES = 300_000
# More than the form ever sent (its pad at two pixels per CSS pixel: 1,152 x 384).
MAX_PIXELS = 1200 * 400
# About 320 dpi at 70 x 16 mm: more than a printer shows of a pen stroke.
PRINT_PIXELS = (880, 200)
JPEG_QUALITY = 92
END_OF_IMAGE = b"\xff\xd9"
# Progressive JPEGs from browsers and libjpeg have about 10 scans; a baseline one has 1.
MAX_SCANS = 32
START_OF_IMAGE, START_OF_SCAN, END_OF_IMAGE_MARKER = 0xD8, 0xDA, 0xD9
# A marker as libjpeg finds it: 0xFF (fill bytes may repeat it), then a byte other than 0x00 (a
# 0xFF in scan data) and other than the restart markers and TEM, which scan data may hold.
MARKER = re.compile(rb"\xff+([^\x00\x01\xd0-\xd7\xff])")


class _TooLarge(Exception):
    pass


class _TooManyScans(Exception):
    pass


def printable(value: str) -> str:
    """The data URL of the image the letters print; ValueError, saying why, for anything that
    is not a readable PNG or JPEG within the caps."""
    prefix = next((p for p in DATA_URLS if value.startswith(p)), None)
    if prefix is None:
        raise ValueError(
            "must be a PNG or JPEG image given as a data:image/png;base64 or"
            " data:image/jpeg;base64 URL"
        )
    kind = DATA_URLS[prefix]
    try:
        raw = base64.b64decode(value[len(prefix) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not valid base64") from None
    if len(raw) > MAX_BYTES:
        raise ValueError(f"is larger than {MAX_BYTES} bytes")
    try:
        redone = _redone(raw, kind)
    except (_TooLarge, Image.DecompressionBombError):
        # Pillow refuses to even open images far over its own cap: over ours too.
        raise ValueError(f"is larger than {MAX_PIXELS} pixels") from None
    except _TooManyScans:
        raise ValueError(
            f"is a JPEG of more than {MAX_SCANS} scans; save it as a baseline JPEG or a PNG"
        ) from None
    except Exception:
        raise ValueError(f"is not a readable {kind} image") from None
    if redone is None:
        return value
    return prefix + base64.b64encode(redone).decode()


def _redone(raw: bytes, kind: str) -> bytes | None:
    """None when the image can be printed as it is, else the image to print instead."""
    with Image.open(io.BytesIO(raw), formats=[kind]) as image:
        if image.width * image.height > MAX_PIXELS:
            raise _TooLarge
        fits = image.width <= PRINT_PIXELS[0] and image.height <= PRINT_PIXELS[1]
        if kind == "PNG":
            image.verify()  # the chunks' checksums, without decoding the pixels
            if fits:
                return None
            with Image.open(io.BytesIO(raw), formats=["PNG"]) as again:  # verify() spent the first
                return _scaled(again, "PNG")
        if _scans(raw) > MAX_SCANS:
            raise _TooManyScans
        image.load()  # a JPEG is only known to be readable once decoded
        if fits and _bare(image, raw):
            return None
        return _scaled(ImageOps.exif_transpose(image), "JPEG")


def _scans(raw: bytes) -> int:
    """How many scans libjpeg would decode in a JPEG, counted up to one past MAX_SCANS.

    It walks the markers as libjpeg reads them: a segment's length skips its contents (an EXIF
    thumbnail's own scan is not counted), scan data is searched for the next marker, bytes
    between segments are passed over, and the image ends at its end-of-image marker."""
    count, position = 0, 2
    while count <= MAX_SCANS:
        found = MARKER.search(raw, position)
        if found is None:
            break
        marker, position = found[1][0], found.end()
        if marker in (END_OF_IMAGE_MARKER, START_OF_IMAGE):
            break  # libjpeg stops at the end, and refuses a second start
        if marker == START_OF_SCAN:
            count += 1
        length = int.from_bytes(raw[position : position + 2], "big")
        if length < 2:
            break  # libjpeg stops at a segment that cannot be read
        position += length
    return count


def _bare(image: Image.Image, raw: bytes) -> bool:
    """A JPEG holding its pixels and nothing else (a JFIF header at most)."""
    return (
        image.format == "JPEG"
        and all(data.startswith(b"JFIF\0") for _marker, data in image.applist)
        and "comment" not in image.info
        and raw.endswith(END_OF_IMAGE)
        and raw.count(END_OF_IMAGE) == 1
    )


def _scaled(image: Image.Image, kind: str) -> bytes:
    if kind == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    elif kind == "PNG" and image.mode not in ("RGBA", "RGB", "LA", "L"):
        image = image.convert("RGBA")
    image.thumbnail(PRINT_PIXELS, Image.Resampling.BOX)
    image.info = {}  # Pillow would write a comment or colour profile it read back out
    buffer = io.BytesIO()
    if kind == "JPEG":
        image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    else:
        image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()
