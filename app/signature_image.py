"""A drawn signature's image: checked, and made into the image the letters print.

The letters print a signature at most 70 mm wide and 16 mm high (letter.css), and WeasyPrint
puts it into every pack: a JPEG's bytes as they are, a PNG's pixels encoded anew each time (its
colour and its alpha channel, each through Pillow's PNG encoder). So the form sends a JPEG on
white no larger than the letter prints it, and anything else is scaled down to that here, once.
A JPEG goes into the PDF byte for byte, to the officials the letters address: one that carries
anything besides its pixels (EXIF, with its orientation and perhaps a place; comments; another
picture after it) is encoded anew without it.
"""

import base64
import binascii
import io

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


class _TooLarge(Exception):
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
        image.load()  # a JPEG is only known to be readable once decoded
        if fits and _bare(image, raw):
            return None
        return _scaled(ImageOps.exif_transpose(image), "JPEG")


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
