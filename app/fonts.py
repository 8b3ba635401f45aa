"""Builds the handwriting font for typed signatures from the npm package @fontsource/caveat.

Fontsource ships Caveat split into subsets (latin, latin-ext, cyrillic, cyrillic-ext). Kazakh needs
letters from two of them, and WeasyPrint given several same-named subsets mixes up their glyph
tables (pdftotext then reads "Hellи" for "Hello"), so the set-up merges them into one TrueType font.

The pages show the same font only in the preview of a typed signature. For them the set-up writes
a WOFF2 beside the TrueType font, subset to the letters a name can have in the campaign's scripts,
Latin and Cyrillic (Kazakh's letters among them): a third of the TrueType font's size. The letters
keep the whole TrueType font, and so does the check of which characters can be printed
(app/glyphs.py reads the .ttf files).
"""

import sys
import tempfile
from pathlib import Path

from fontTools.merge import Merger
from fontTools.subset import Options, Subsetter
from fontTools.ttLib import TTFont

SUBSETS = ("latin", "latin-ext", "cyrillic", "cyrillic-ext")
# What a name can hold in Latin or Cyrillic: letters with their accents (precomposed or
# combining), Kazakh's Cyrillic letters (Ә Ғ Қ Ң Ө Ұ Ү Һ І, in U+0400-U+04FF), the apostrophes,
# hyphens and dashes names are written with, and digits, for a name like "Louis XIV" or "3rd".
NAME_CHARACTERS = [
    *range(0x0020, 0x007F),  # Basic Latin
    *range(0x00A0, 0x0250),  # Latin-1, Latin Extended-A and -B
    *range(0x0250, 0x02B0),  # IPA letters some alphabets took (Azerbaijani ə, Skolt Sami ʒ)
    *range(0x02B9, 0x02BD),  # modifier letter apostrophes (Uzbek oʻ, Ukrainian transliterations)
    *range(0x0300, 0x0370),  # combining accents
    *range(0x0400, 0x0530),  # Cyrillic and Cyrillic Supplement
    *range(0x1E00, 0x1F00),  # Latin Extended Additional
    *range(0x2010, 0x2027),  # hyphens, dashes, quotation marks
]


def build_handwriting_font(node_modules: Path, target: Path) -> Path:
    files = node_modules / "@fontsource" / "caveat" / "files"
    with tempfile.TemporaryDirectory() as tmp:
        parts = []
        for subset in SUBSETS:
            font = TTFont(files / f"caveat-{subset}-400-normal.woff")
            font.flavor = None
            part = Path(tmp) / f"{subset}.ttf"
            font.save(part)
            parts.append(str(part))
        merged = Merger().merge(parts)
        merged["name"].setName("Campaign Handwriting", 1, 3, 1, 0x409)
        target.parent.mkdir(parents=True, exist_ok=True)
        merged.save(target)
    return target


def build_web_font(source: Path, target: Path) -> Path:
    """The pages' handwriting font: `source` subset to NAME_CHARACTERS, as WOFF2. Its layout
    features stay, so the preview joins and varies the letters as the PDF does."""
    font = TTFont(source)
    options = Options()
    options.flavor = "woff2"
    options.layout_features = ["*"]
    subsetter = Subsetter(options)
    subsetter.populate(unicodes=NAME_CHARACTERS)
    subsetter.subset(font)
    font.flavor = "woff2"
    target.parent.mkdir(parents=True, exist_ok=True)
    font.save(target)
    return target


def main() -> None:
    from app.settings import Settings

    settings = Settings()
    target = settings.fonts_dir / "handwriting.ttf"
    build_handwriting_font(settings.node_modules, target)
    print(f"built {target}", file=sys.stderr)
    web = build_web_font(target, settings.fonts_dir / "handwriting.woff2")
    print(f"built {web}", file=sys.stderr)


if __name__ == "__main__":
    main()
