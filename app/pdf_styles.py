"""Computed styles shared between the packs of one template version.

WeasyPrint computes every element's style afresh for each document, property by property, as
layout and painting ask for them: about a fifth of a composed pack's CPU (py-spy, 2026-12-01).
Yet the letters of one template version have the same elements, classes and stylesheets in every
pack; only their text differs, and text never changes a computed style. So the documents rendered
with one font configuration (one per template version, app/pdf.py) share their styles, each
found by what WeasyPrint computes it from: the stylesheets, the base URL, the parent's style, the
pseudo-element and the declarations that apply, with their weights. Anything else (a page's or
margin box's style, a declaration that cannot be compared) is computed as WeasyPrint does.

WeasyPrint itself shares one style between like elements of a document and copies a style before
changing it for one box (tables, first lines and letters). One change it makes in place: the
viewport takes the `overflow` of the root or body and sets theirs to visible; so html and body
get styles of their own in each document. Styles hold no element and no text (`attr()`, counters
and quotes are resolved when boxes are built). tests/test_fast_pdf.py compares packs rendered
this way with WeasyPrint's own, page by page.
"""

import threading
from contextlib import suppress
from dataclasses import dataclass, field
from operator import itemgetter

from weasyprint.css import ComputedStyle, StyleFor
from weasyprint.text.fonts import FontConfiguration

MAX_STYLES = 20_000  # per template version; this campaign's use about 2,000
OWN_STYLES = ("html", "body")
# Kept on WeasyPrint's own objects, so that they go with them: the shared styles with the font
# configuration (which each style refers to), each document's styles' numbers with its StyleFor.
SHARED = "_letter_campaign_styles"
NUMBERS = "_letter_campaign_numbers"

_install = threading.Lock()
_original = StyleFor.set_computed_styles


@dataclass
class _Shared:
    """Each key a number (a child's key holds its parent's number, not its parent's key), and
    the style computed for each number."""

    numbers: dict[tuple, int] = field(default_factory=dict)
    styles: dict[int, ComputedStyle] = field(default_factory=dict)
    frozen: dict[int, tuple[object, tuple]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def number(self, key: tuple) -> int:
        with self.lock:
            return self.numbers.setdefault(key, len(self.numbers))

    def comparable(self, values: object) -> object:
        """The values, or for a list (as in `content`) a tuple, made once for each list."""
        try:
            hash(values)
            return values
        except TypeError:
            pass
        kept = self.frozen.get(id(values))  # kept alive here, so no other list has its id
        if kept is None:
            kept = (values, _frozen(values))
            if len(self.frozen) < MAX_STYLES:
                self.frozen[id(values)] = kept
        return kept[1]


def share_styles(font_config: FontConfiguration) -> None:
    """Documents rendered with this font configuration share their computed styles from now on."""
    with _install:
        if StyleFor.set_computed_styles is _original:
            StyleFor.set_computed_styles = _set_computed_styles
    if not hasattr(font_config, SHARED):
        setattr(font_config, SHARED, _Shared())


def _set_computed_styles(
    self: StyleFor,
    element: object,
    parent: object,
    root: object = None,
    pseudo_type: str | None = None,
    base_url: str | None = None,
    target_collector: object = None,
) -> None:
    shared = getattr(self.font_config, SHARED, None)
    key = None
    # A WeasyPrint release without these internals: computed as WeasyPrint does.
    with suppress(AttributeError):
        key = shared and _key(self, shared, element, parent, pseudo_type, base_url)
    if key is None or (key not in shared.numbers and len(shared.numbers) >= MAX_STYLES):
        _original(self, element, parent, root, pseudo_type, base_url, target_collector)
        return
    number = shared.number(key)
    computed = self.get_computed_styles()
    own = pseudo_type is None and element.tag in OWN_STYLES  # type: ignore[attr-defined]
    style = None if own else shared.styles.get(number)
    if style is None:
        _original(self, element, parent, root, pseudo_type, base_url, target_collector)
        style = computed[element, pseudo_type]
        if not own:
            shared.styles[number] = style
    else:
        computed[element, pseudo_type] = style
        if target_collector and style["anchor"]:
            target_collector.collect_anchor(style["anchor"])  # type: ignore[attr-defined]
    if not hasattr(self, NUMBERS):
        setattr(self, NUMBERS, {})
    getattr(self, NUMBERS)[id(style)] = number


def _key(
    self: StyleFor,
    shared: _Shared,
    element: object,
    parent: object,
    pseudo_type: str | None,
    base_url: str | None,
) -> tuple | None:
    """What this style is computed from, or None where it cannot be shared."""
    if not isinstance(getattr(element, "tag", None), str):
        return None  # a page or margin box
    if parent is None:
        above: object = (tuple(sheet for sheet, _, _ in self._sheets), base_url)
    else:
        above = getattr(self, NUMBERS, {}).get(id(self.get_computed_styles().get((parent, None))))
        if above is None:
            return None
    cascaded = self.get_cascaded_styles().get((element, pseudo_type), {})
    declared = tuple(
        (name, shared.comparable(values), weight)
        for name, (values, weight) in sorted(cascaded.items(), key=itemgetter(0))
    )
    try:
        hash(declared)
    except TypeError:
        return None
    return (above, pseudo_type, declared)


def _frozen(value: object) -> object:
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    return value
