"""Staff's plain text made safe for a page: everything escaped, then web addresses made links.

Case updates are written by staff but shown to everyone, so nothing in them is trusted as markup:
the text is escaped as a whole and only http(s) addresses become links, which do not pass on this
page's standing (`nofollow`) or a handle on it (`noopener`).
"""

import re

from markupsafe import Markup, escape

URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
TRAILING = ".,;:!?)]}»\u201d"


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
