"""The picture a shared link shows (Open Graph and Twitter cards), drawn by the service itself so
that no page refers to another host: the campaign's title on a plain background, 1200 x 630."""

import io
from functools import cache

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 1200, 630
MARGIN = 90
BACKGROUND = (17, 42, 70)
ACCENT = (242, 183, 5)
TEXT = (255, 255, 255)


def _font(bold: bool, size: int) -> ImageFont.FreeTypeFont:
    # Pillow finds the font in the system's font folders (Debian's fonts-dejavu-core).
    return ImageFont.truetype("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf", size)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and draw.textlength(candidate, font=font) <= WIDTH - 2 * MARGIN:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines


@cache
def share_image(title: str, subtitle: str) -> bytes:
    """A PNG with the title large and the subtitle below it; the same texts give the same bytes."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 24, HEIGHT), fill=ACCENT)
    title_font, sub_font = _font(True, 60), _font(False, 34)
    title_lines = _wrap(draw, title, title_font)[:4]
    sub_lines = _wrap(draw, subtitle, sub_font)[:3]
    height = len(title_lines) * 76 + 60 + len(sub_lines) * 46
    y = (HEIGHT - height) // 2
    for line in title_lines:
        draw.text((MARGIN, y), line, font=title_font, fill=TEXT)
        y += 76
    draw.line((MARGIN, y + 18, MARGIN + 240, y + 18), fill=ACCENT, width=6)
    y += 60
    for line in sub_lines:
        draw.text((MARGIN, y), line, font=sub_font, fill=TEXT)
        y += 46
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()
