"""Builds the handwriting font for typed signatures from the npm package @fontsource/caveat.

Fontsource ships Caveat split into subsets (latin, latin-ext, cyrillic, cyrillic-ext). Kazakh needs
letters from two of them, and WeasyPrint given several same-named subsets mixes up their glyph
tables (pdftotext then reads "Hellи" for "Hello"), so the set-up merges them into one TrueType font.
"""

import sys
import tempfile
from pathlib import Path

from fontTools.merge import Merger
from fontTools.ttLib import TTFont

SUBSETS = ("latin", "latin-ext", "cyrillic", "cyrillic-ext")


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


def main() -> None:
    from app.settings import Settings

    settings = Settings()
    target = settings.fonts_dir / "handwriting.ttf"
    build_handwriting_font(settings.node_modules, target)
    print(f"built {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
