"""Reading PDFs back the way a person's tools do: poppler's pdftotext and pdffonts."""

import re
import subprocess
from pathlib import Path


def pdf_text(pdf: bytes | Path, *, layout: bool = False) -> str:
    args = ["pdftotext", "-enc", "UTF-8"] + (["-layout"] if layout else []) + ["-", "-"]
    data = pdf.read_bytes() if isinstance(pdf, Path) else pdf
    return subprocess.run(args, input=data, capture_output=True, check=True).stdout.decode()


def page_texts(pdf: bytes) -> list[str]:
    return pdf_text(pdf).split("\f")[:-1]


def flat(text: str) -> str:
    """Whitespace folded and hyphens dropped, so a sentence wrapped over lines still matches:
    pdftotext joins "high-" at a line's end and "quality" on the next into "highquality"."""
    return re.sub(r"\s+", " ", text.replace("-\n", "")).replace("-", "").strip()


def pdf_fonts(pdf: bytes, tmp_path: Path) -> list[dict[str, str]]:
    path = tmp_path / "fonts.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, text=True)
    rows = []
    for line in out.stdout.splitlines()[2:]:
        cols = line.split()
        rows.append({"name": cols[0], "emb": cols[-5], "sub": cols[-4], "uni": cols[-3]})
    return rows


def squeezed(text: str) -> str:
    """No whitespace at all: for text that may break anywhere (long words, URLs)."""
    return re.sub(r"\s+", "", flat(text))


def without_page_numbers(pages: list[str]) -> str:
    return "\n".join(re.sub(r"\n\s*\d+\s*$", "", page) for page in pages)
