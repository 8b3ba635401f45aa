"""Staff's plain text made safe for a page: everything escaped, then web addresses made links;
and, before it is stored, cleaned of control characters.

Case updates are written by staff but shown to everyone, so nothing in them is trusted as markup:
the text is escaped as a whole and only http(s) addresses become links, which do not pass on this
page's standing (`nofollow`) or a handle on it (`noopener`).
"""

import re
import unicodedata

from markupsafe import Markup, escape

URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
TRAILING = ".,;:!?)]}»\u201d"
NOT_IN_XML = "\ufffe\uffff"


def plain_text(text: str) -> str:
    """The text with every kind of line break as a newline, stripped, and without control
    characters (but tabs) or lone surrogates.

    Staff paste from Word, whose manual line break is a vertical tab (U+000B): it is meant as a
    line break, so it becomes one rather than a refusal over a character nobody can see. The other
    control characters mean nothing in plain text; XML cannot hold them, and one in a case update
    broke the Atom feed."""
    lines = text.splitlines()  # \r\n, \r, \x0b, \x0c, \x1c-\x1e, \x85, \u2028, \u2029 too
    return "\n".join(
        "".join(ch for ch in line if ch == "\t" or not _unprintable(ch)) for line in lines
    ).strip()


def first_line(text: str, width: int = 80) -> str:
    """What stands for a text in a title or a list."""
    return (text.splitlines() or [""])[0][:width]


def _unprintable(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cs") or ch in NOT_IN_XML


def _link(url: str) -> str:
    return f'<a href="{escape(url)}" rel="nofollow noopener">{escape(url)}</a>'


def linkify(text: str) -> Markup:
    """The text as HTML: escaped, line breaks kept, http(s) URLs as links."""
    out: list[str] = []
    position = 0
    for match in URL.finditer(text):
        url = match.group(0)
        kept = url.rstrip(TRAILING)
        if kept.count("(") > kept.count(")") and url[len(kept) :].startswith(")"):
            kept += ")"
        if len(kept) <= len("https://"):
            continue
        out.append(str(escape(text[position : match.start()])))
        out.append(_link(kept))
        position = match.start() + len(kept)
    out.append(str(escape(text[position:])))
    html = "".join(out).replace("\r\n", "\n").replace("\n", "<br>\n")
    return Markup(html)  # noqa: S704 (built from escaped parts only)
