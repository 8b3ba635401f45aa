"""The letters' words, read out of the service's own HTML, for the ReportLab and Typst versions.

The benchmark compares typesetters on the same letter, so the comparison scripts take their text
from the campaign's templates instead of carrying a second copy that could drift. Reading it out
happens once, before any timing: a hand-written script would hold the same text as constants.
"""

import base64
from dataclasses import dataclass, field
from html.parser import HTMLParser

from app.render import Letter

SECTIONS = ("window", "info", "subject", "body", "demands", "message", "closing", "printed-name")


@dataclass
class LetterText:
    lang: str
    window: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)
    subject: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    demands: list[str] = field(default_factory=list)
    message: list[str] = field(default_factory=list)
    closing: list[str] = field(default_factory=list)
    signature: str = "none"
    signature_image: bytes = b""
    name: str = ""


class _Reader(HTMLParser):
    """Collects each paragraph's text under the innermost campaign class it lies in."""

    def __init__(self, text: LetterText) -> None:
        super().__init__(convert_charrefs=True)
        self.text = text
        self.stack: list[str | None] = []
        self.buffer: list[str] | None = None
        self.in_typed = False

    def _section(self) -> str | None:
        return next((s for s in reversed(self.stack) if s), None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        section = next((c for c in classes if c in SECTIONS), None)
        if tag == "img":
            self.text.signature = "drawn"
            src = dict(attrs).get("src") or ""
            self.text.signature_image = base64.b64decode(src.split(",", 1)[1])
            return
        if "typed" in classes:
            self.text.signature = "typed"
        self.stack.append(section)
        if tag in ("p", "li"):
            self.buffer = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "img" or not self.stack:
            return
        section = self._section()
        self.stack.pop()
        if tag in ("p", "li") and self.buffer is not None and section:
            raw = "".join(self.buffer)
            lines = [" ".join(line.split()) for line in raw.split("\n")]
            value = "\n".join(lines) if section == "message" else " ".join(raw.split())
            if section == "printed-name":
                self.text.name = value
            else:
                getattr(self.text, section).append(value)
            self.buffer = None

    def handle_data(self, data: str) -> None:
        if self.buffer is not None:
            self.buffer.append(data)


def letter_texts(letters: list[Letter], lang: str) -> list[LetterText]:
    texts = []
    for letter in letters:
        text = LetterText(lang=lang)
        _Reader(text).feed(str(letter.html))
        texts.append(text)
    return texts
