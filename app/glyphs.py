"""Which characters the letters can print: those some installed font has a glyph for.

When the letter's font lacks a character, Pango falls back to any font fontconfig knows; a
character no font has comes out as an empty box, or vanishes from the PDF's text. The supporter
schema refuses such characters with a message instead of sending an official a box.
"""

import subprocess
import unicodedata
from functools import cache
from pathlib import Path

from fontTools.ttLib import TTCollection, TTFont, TTLibError

from app.settings import Settings

# Characters that are never drawn and need no glyph: joiners, direction marks, soft hyphen.
INVISIBLE_CATEGORIES = frozenset({"Cf"})
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")


def _font_files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["fc-list", "--format", "%{file}\n"], capture_output=True, text=True, check=True
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        listed = []
    files = [Path(name) for name in listed if name]
    if not files:  # no fc-list: the folders fontconfig reads on Debian
        for folder in (Path("/usr/share/fonts"), Path("/usr/local/share/fonts")):
            files += [p for p in folder.rglob("*") if p.suffix.lower() in FONT_SUFFIXES]
    return files + sorted(Settings().fonts_dir.glob("*.ttf"))


def _cmap(path: Path) -> set[int]:
    try:
        if path.suffix.lower() in (".ttc", ".otc"):
            fonts = TTCollection(str(path), lazy=True).fonts
        else:
            fonts = [TTFont(str(path), lazy=True)]
        return {code for font in fonts for code in (font.getBestCmap() or {})}
    except (OSError, TTLibError, AssertionError, KeyError):
        return set()


@cache
def printable() -> frozenset[int]:
    """Every code point some installed font maps to a glyph (read once per process)."""
    codes: set[int] = set()
    for path in _font_files():
        codes |= _cmap(path)
    return frozenset(codes)


def unprintable(text: str) -> list[str]:
    """The characters of `text` no font can print, each once, in order."""
    known = printable()
    found: list[str] = []
    for char in text:
        if (
            ord(char) not in known
            and not char.isspace()
            and unicodedata.category(char) not in INVISIBLE_CATEGORIES
            and char not in found
        ):
            found.append(char)
    return found
