"""Computed styles shared between the packs of one template version.

WeasyPrint computes every element's style afresh for each document, property by property, as
layout and painting ask for them: a large share of a composed pack's CPU (benchmarks/README.md).
Yet the letters of one template version have the same elements, classes and stylesheets in every
pack; only their text differs, and text never changes a computed style. So the documents rendered
with one font configuration (one per template version, app/render/pdf.py) share their styles, each
found by what WeasyPrint computes it from: the stylesheets, the base URL, the parent's style, the
pseudo-element and the declarations that apply, with their weights.

WeasyPrint itself shares one style between like elements of a document, and copies a style before
it changes it for one box (tables, footnotes, flex and grid items, first lines). What it changes
in place is never shared: html and body (the page takes their `overflow` and sets it to visible),
notes and their calls (each gets its anchor), pages and margin boxes (their counters). Nor are
styles when the templates use viewport units (a style would keep the first document's page
size), nor in a document with stylesheets of its own (`<style>`, `<link>`: new objects each
time). Styles hold no element and no text: `attr()`, counters and quotes are resolved when boxes
are built.

Renders with one font configuration never overlap (app/render/fifo.py), and one that fails may
leave a style half computed: the caller forgets the shared styles then (forget_styles), as it does
when the templates change. WeasyPrint releases other than the one this was checked against compute
their styles as they do. tests/test_fast_pdf.py compares packs rendered this way with WeasyPrint
alone, page by page.
"""

import inspect
import logging
import re
import threading
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from weasyprint.css import ComputedStyle, StyleFor
from weasyprint.text.fonts import FontConfiguration

from app.render.speedups import on_checked_release

LOGGER = logging.getLogger("letter_campaign.render")
MAX_STYLES = 5_000  # per template version; this campaign's use about 1,500
MAX_VALUES = 2_000  # the stylesheets' list values (`content`): this campaign's 5
OWN_STYLES = ("html", "body")
UNSHARED_PSEUDO = ("note-call",)
# Kept on the font configuration, so that it goes with it; each document's style numbers are kept
# on its StyleFor.
SHARED = "_letter_campaign_styles"
NUMBERS = "_letter_campaign_numbers"
PARAMETERS = ["self", "element", "parent", "root", "pseudo_type", "base_url", "target_collector"]
VIEWPORT_UNITS = re.compile(r"[0-9.]v(w|h|min|max)\b", re.IGNORECASE)

_install = threading.Lock()
_original = StyleFor.set_computed_styles


@dataclass
class _Shared:
    """Each key a number (a child's key holds its parent's number, not its parent's key), and
    the style computed for each number."""

    numbers: dict[tuple, int] = field(default_factory=dict)
    styles: dict[int, ComputedStyle] = field(default_factory=dict)
    full: bool = False
    # A declared list value (by id; the value is kept, so its id is not reused) and its hashable
    # form: the stylesheets' values come back in every pack.
    hashable: dict[int, tuple[object, object]] = field(default_factory=dict)


def share_styles(font_config: FontConfiguration, templates_dir: Path) -> bool:
    """Documents rendered with this font configuration share their computed styles from now on;
    False where this WeasyPrint is not the one the sharing was checked with, or where the
    templates use viewport units."""
    if not _checked() or _viewport_units(templates_dir):
        return False
    with _install:
        if StyleFor.set_computed_styles is _original:
            StyleFor.set_computed_styles = _set_computed_styles
    if not hasattr(font_config, SHARED):
        setattr(font_config, SHARED, _Shared())
    return True


def forget_styles(font_config: FontConfiguration) -> None:
    """Drops the styles shared so far: a render failed (a style may be half computed), or the
    templates changed (the styles refer to the old font configuration and would keep it)."""
    if hasattr(font_config, SHARED):
        setattr(font_config, SHARED, _Shared())


def styles_kept(font_config: FontConfiguration) -> int:
    """How many styles are kept for sharing: what memory they hold grows with it."""
    shared = getattr(font_config, SHARED, None)
    return len(shared.numbers) if shared is not None else 0


def _viewport_units(templates_dir: Path) -> bool:
    files = [path for path in templates_dir.rglob("*") if path.suffix in (".css", ".j2", ".html")]
    return any(VIEWPORT_UNITS.search(path.read_text(encoding="utf-8")) for path in files)


def _checked() -> bool:
    return on_checked_release() and list(inspect.signature(_original).parameters) == PARAMETERS


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
    key = number = None
    if shared is not None:
        with suppress(Exception):  # never a reason to fail a render: computed as usual
            found = _key(self, shared, element, parent, pseudo_type, base_url)
            number = shared.numbers.get(found)  # type: ignore[arg-type]
            key = found
    if key is None or (number is None and _full(shared)):  # type: ignore[arg-type]
        _original(self, element, parent, root, pseudo_type, base_url, target_collector)
        return
    if number is None:
        number = shared.numbers[key] = len(shared.numbers)  # type: ignore[union-attr]
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
    vars(self).setdefault(NUMBERS, {})[id(style)] = number


def _full(shared: _Shared) -> bool:
    if len(shared.numbers) >= MAX_STYLES and not shared.full:
        shared.full = True
        LOGGER.warning("%d computed styles shared; the next are computed for each pack", MAX_STYLES)
    return shared.full


def _key(
    self: StyleFor,
    shared: _Shared,
    element: object,
    parent: object,
    pseudo_type: str | None,
    base_url: str | None,
) -> tuple | None:
    """What this style is computed from, or None where it is not shared."""
    if not isinstance(getattr(element, "tag", None), str) or pseudo_type in UNSHARED_PSEUDO:
        return None  # a page or margin box, or a note's call
    if parent is None:
        if any(origin == "author" for _, origin, _ in self._sheets):
            return None  # the document's own stylesheets
        above: object = (tuple(sheet for sheet, _, _ in self._sheets), base_url)
    else:
        above = vars(self).get(NUMBERS, {}).get(id(self.get_computed_styles().get((parent, None))))
        if above is None:
            return None
    cascaded = self.get_cascaded_styles().get((element, pseudo_type), {})
    position = cascaded.get("position")
    if position is not None and not isinstance(position[0], str):
        return None  # a running element or a note
    # In the cascade's order: the same rules give the same order, so a like element finds it.
    declared = tuple(
        [(name, _hashable(shared, values), weight) for name, (values, weight) in cascaded.items()]
    )
    return (above, pseudo_type, declared)


def _hashable(shared: _Shared, values: object) -> object:
    if type(values) is not list and not (isinstance(values, tuple) and list in map(type, values)):
        return values
    kept = shared.hashable.get(id(values))  # `content` values are lists, from the stylesheets
    if kept is not None:
        return kept[1]
    if len(shared.hashable) >= MAX_VALUES:
        shared.hashable.clear()
    frozen = _frozen(values)
    shared.hashable[id(values)] = (values, frozen)
    return frozen


def _frozen(value: object) -> object:
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    return value
