"""Pages without margin boxes skip making them.

For every page WeasyPrint makes all sixteen margin boxes (`@top-left` ... `@bottom-right-corner`),
computes their styles and sizes, and then keeps only those whose `content` generates a box. The
letters have none, so that work is thrown away (a profile's share is in benchmarks/README.md),
for the supporter's column and again for the full render. Here a page first asks each
margin box's style whether it generates; when none does, WeasyPrint's answer is known (no boxes)
and the page gets it at once. A page with any margin box is made by WeasyPrint as before.

Only documents rendered with a font configuration marked by `skip_empty_margin_boxes` are
concerned, and only with the WeasyPrint release this was checked against.
"""

import inspect
import threading
from collections.abc import Iterable

import weasyprint
import weasyprint.layout
from weasyprint.formatting_structure import boxes
from weasyprint.layout import page as page_layout
from weasyprint.text.fonts import FontConfiguration

from app.render.speedups import on_checked_release

MARKED = "_letter_campaign_skip_empty_margin_boxes"
AT_KEYWORDS = tuple(
    f"@{side}-{place}"
    for side, places in (
        ("top", ("left-corner", "left", "center", "right", "right-corner")),
        ("bottom", ("left-corner", "left", "center", "right", "right-corner")),
        ("left", ("top", "middle", "bottom")),
        ("right", ("top", "middle", "bottom")),
    )
    for place in places
)
NOT_GENERATED = ("normal", "inhibit", "none")  # as WeasyPrint 70's make_margin_boxes tests

_install = threading.Lock()
_original = page_layout.make_margin_boxes


def skip_empty_margin_boxes(font_config: FontConfiguration) -> bool:
    """Documents rendered with this font configuration skip margin boxes when a page has none
    from now on; False where this WeasyPrint is not the one this was checked with."""
    if not _checked():
        return False
    with _install:
        if weasyprint.layout.make_margin_boxes is _original:
            weasyprint.layout.make_margin_boxes = _make_margin_boxes
    setattr(font_config, MARKED, True)
    return True


def _checked() -> bool:
    return (
        on_checked_release()
        and list(inspect.signature(_original).parameters) == ["context", "page", "state"]
        and weasyprint.layout.make_margin_boxes in (_original, _make_margin_boxes)
    )


def _make_margin_boxes(
    context: object, page: boxes.PageBox, state: object
) -> Iterable[boxes.MarginBox]:
    if getattr(context.font_config, MARKED, False) and not any(  # type: ignore[attr-defined]
        _generates(context, page, at_keyword) for at_keyword in AT_KEYWORDS
    ):
        return ()
    return _original(context, page, state)


def _generates(context: object, page: boxes.PageBox, at_keyword: str) -> bool:
    style = context.style_for(page.page_type, at_keyword)  # type: ignore[attr-defined]
    return style is not None and style["content"] not in NOT_GENERATED
