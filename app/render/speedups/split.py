"""How a letter template splits into the officials' fixed parts and the supporter's own.

The fast path (parts.py) relies on the template's classes: `window`, `subject` and `body` hold
text fixed per official and language, `info`, `message` and `closing` the supporter's. Staff
edit the templates, so the split is checked, not assumed, each time the parts are built.
"""

from collections.abc import Sequence
from datetime import date
from html.parser import HTMLParser
from xml.etree import ElementTree

from tinyhtml5 import parse

FIXED_CLASSES = ("window", "subject", "body")
SUPPORTER_CLASSES = ("info", "message", "closing")
HIDE_SUPPORTER = ".info, .message, .closing { visibility: hidden !important; }"
HIDE_FIXED = ".window, .subject, .body { display: none !important; }"
PLACEHOLDER_DAY = date(2000, 1, 1)


def placeholders(lang: str, with_message: bool) -> list[dict]:
    """Two supporters who differ in everything, to tell fixed parts from the supporter's."""
    common = {"language": lang, "country": "DE", "recipients": []}
    return [
        {**common, "name": "A", "street": "B", "postcode": "1", "city": "C",
         "message": "M" if with_message else None, "signature": {"kind": "none"}},
        {**common, "name": "Z", "street": "Y", "city": "X", "country": "FR",
         "message": "N" if with_message else None, "signature": {"kind": "typed"}},
    ]  # fmt: skip


class _Inner(HTMLParser):
    """Finds the source text inside each fixed element of a letter's HTML."""

    VOID = frozenset({"br", "img", "hr", "meta", "link", "input", "wbr", "col", "source"})

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=False)
        self.text = text
        self.line_starts = [0]
        for number, char in enumerate(text):
            if char == "\n":
                self.line_starts.append(number + 1)
        self.stack: list[tuple[str, int, bool]] = []
        self.found: list[str] = []
        self.broken = False

    def _offset(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        classes = set((dict(attrs).get("class") or "").split())
        fixed = bool(classes & set(FIXED_CLASSES)) and not any(f for *_, f in self.stack)
        end = self._offset() + len(self.get_starttag_text() or "")
        self.stack.append((tag, end, fixed))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1][0] != tag:
            self.broken = True
            return
        _, start, fixed = self.stack.pop()
        if fixed:
            self.found.append(self.text[start : self._offset()])


def fixed_inner_html(html: str) -> list[str]:
    """The HTML inside each fixed element, to leave out of the supporter's layout: cheaper to
    drop than to parse, style and hide. Empty when the markup is too loose to tell."""
    parser = _Inner(html)
    parser.feed(html)
    parser.close()
    if parser.broken or parser.stack:
        return []
    return [inner for inner in parser.found if inner.strip()]


def without_fixed(html: str, inner: Sequence[str]) -> str:
    """The letter with its fixed elements emptied; each must occur exactly once to be dropped."""
    html = str(html)
    for part in inner:
        if html.count(part) == 1:
            html = html.replace(part, "")
    return html


def _subtrees(root: ElementTree.Element, names: Sequence[str]) -> list[bytes]:
    found = []
    for element in root.iter():
        if set((element.get("class") or "").split()) & set(names):
            found.append(ElementTree.tostring(element))
    return found


def fixed_html(html: str) -> list[bytes]:
    """The fixed elements of one letter, serialised, to compare two renderings of it."""
    return _subtrees(parse(html), FIXED_CLASSES)


def _text_outside(element: ElementTree.Element, covered: bool = False) -> bool:
    names = set((element.get("class") or "").split())
    covered = covered or bool(names & set(FIXED_CLASSES + SUPPORTER_CLASSES))
    tag = element.tag.rsplit("}", 1)[-1]
    if not covered and (tag == "img" or (element.text or "").strip()):
        return True
    for child in element:
        if not covered and (child.tail or "").strip():
            return True
        if _text_outside(child, covered):
            return True
    return False


def split_is_clean(first: Sequence[str], second: Sequence[str]) -> bool:
    """Whether the template keeps to the split the fast path relies on: the fixed classes hold
    the same HTML whoever the supporter is, the supporter's classes the same HTML whichever the
    official, and nothing lies outside both. Staff edit the templates; this is checked each
    time the parts are built, and a template that breaks the split is rendered in full."""
    trees = [[parse(html) for html in letters] for letters in (first, second)]
    for a, b in zip(*trees, strict=True):
        if _subtrees(a, FIXED_CLASSES) != _subtrees(b, FIXED_CLASSES):
            return False
    for letters in trees:
        if len({tuple(_subtrees(t, SUPPORTER_CLASSES)) for t in letters}) != 1:
            return False
        if any(_text_outside(t) for t in letters):
            return False
    return True
