"""Packs composed from parts: each official's fixed text laid out once, the supporter's once a pack.

Most of a letter does not depend on the supporter: the recipient's window, the subject and the body
with its demands are fixed per official and language. They are laid out once (per template
version) with the supporter's parts hidden, and kept as that PDF. A pack then needs one small
WeasyPrint layout of the supporter's parts (sender block, date, message, closing, signature,
name) with the fixed parts removed; flow.py places the supporter's column below each official's
text, WeasyPrint paints the pieces once, and pikepdf lays them over the fixed pages as form
XObjects. Any letter the rules of flow.py cannot place exactly makes the caller render in full.
A label page the supporter asked for (app/render/labels.py) is laid out alone and goes last.
"""

import hashlib
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import pikepdf
from weasyprint import CSS
from weasyprint.document import Document, Page
from weasyprint.formatting_structure import boxes

from app.render.speedups.flow import ORPHANS, WIDOWS, Placement, Row, place
from app.render.speedups.split import fixed_inner_html

TAIL_CLASSES = ("message", "closing")
SCALE = 0.75  # PDF points per CSS pixel


def _classes(box: boxes.Box) -> list[str]:
    element = getattr(box, "element", None)
    if element is None or "::" in (box.element_tag or ""):
        return []
    return (element.get("class") or "").split()


def _walk(box: boxes.Box, path: tuple = ()) -> Iterator[tuple[boxes.Box, tuple]]:
    yield box, path
    if isinstance(box, boxes.ParentBox) and not isinstance(box, boxes.LineBox):
        for child in box.children:
            yield from _walk(child, (*path, box))


def _find(page_box: boxes.Box, name: str) -> tuple[boxes.Box, tuple] | None:
    return next(((b, p) for b, p in _walk(page_box) if name in _classes(b)), None)


def _bottom(box: boxes.Box) -> float:
    own = box.position_y + box.margin_height() if isinstance(box, boxes.LineBox) else None
    if own is None:
        own = box.border_box_y() + box.border_height()
    if isinstance(box, boxes.ParentBox):
        return max([own, *(_bottom(child) for child in box.children)])
    return own


def _plain(box: boxes.Box) -> bool:
    """No padding, border or background that a page break would cut differently."""
    return (
        box.padding_top == box.padding_bottom == 0
        and box.border_top_width == box.border_bottom_width == 0
        and box.background is None
    )


@dataclass(frozen=True)
class Geometry:
    """Where a letter's head block lies and where its supporter column starts, in CSS px."""

    head: tuple[float, float]
    tail_top: float
    tail_class: str


def _geometry(page_box: boxes.Box) -> Geometry | None:
    info = _find(page_box, "info")
    if info is None or not info[1]:
        return None
    head = info[1][-1]
    article = info[1][-2] if len(info[1]) >= 2 else None
    if article is None:
        return None
    children = [c for c in article.children if c is not head]
    tail = [c for c in children if set(_classes(c)) & set(TAIL_CLASSES)]
    if not tail:
        return None
    first = tail[0]
    tail_class = next(c for c in _classes(first) if c in TAIL_CLASSES)
    return Geometry(
        head=(head.border_box_y(), head.border_height()),
        tail_top=first.border_box_y(),
        tail_class=tail_class,
    )


@dataclass
class FixedPack:
    """The fixed parts of one language's letters, one page per official, fonts renamed."""

    fingerprint: tuple
    pdf: bytes
    pages: dict[str, int]
    geometry: dict[str, Geometry]
    page_top: float
    page_bottom: float
    page_width: float = 0.0
    content_width: float = 0.0
    column_css: CSS | None = None
    families: set[str] = field(default_factory=set)
    inner: dict[str, list[str]] = field(default_factory=dict)


def _rename_fonts(pdf: pikepdf.Pdf, salt: str) -> None:
    """Give this render's font subsets names of their own: another render's subset of the same
    font carries the same name, and readers may take one for the other."""
    seen: set[int] = set()
    for page in pdf.pages:
        for font in (page.Resources.get("/Font") or {}).values():
            if font.objgen in seen:
                continue
            seen.add(font.objgen)
            old = str(font.BaseFont)[1:]
            digest = hashlib.md5((salt + old).encode(), usedforsecurity=False).digest()
            tag = "".join(chr(65 + b % 26) for b in digest[:6])
            new = pikepdf.Name("/" + tag + "+" + old.split("+", 1)[-1])
            font.BaseFont = new
            for descendant in font.get("/DescendantFonts") or [font]:
                descendant.BaseFont = new
                if "/FontDescriptor" in descendant:
                    descendant.FontDescriptor.FontName = new


def renamed_fonts(pdf: bytes, salt: str) -> bytes:
    """The PDF with font subset names of its own (as _rename_fonts), to go into another."""
    with pikepdf.open(io.BytesIO(pdf)) as document:
        _rename_fonts(document, salt)
        out = io.BytesIO()
        document.save(out)
    return out.getvalue()


def build_fixed(
    render: Callable[[str], Document],
    fixed_html: str,
    letters_html: dict[str, str],
    key: tuple,
) -> FixedPack | None:
    """Lay out every official's letter with the supporter's parts hidden; None if the letters
    do not each fit one page or lack the parts the fast path composes around."""
    recipient_ids = list(letters_html)
    document = render(fixed_html)
    if len(document.pages) != len(recipient_ids):
        return None
    geometry = {}
    for recipient_id, page in zip(recipient_ids, document.pages, strict=True):
        found = _geometry(page._page_box)
        if found is None:
            return None
        geometry[recipient_id] = found
    page_box = document.pages[0]._page_box
    if any(isinstance(child, boxes.MarginBox) for child in page_box.children):
        return None
    families = {font.family for font in document.fonts.values()}
    return FixedPack(
        fingerprint=key,
        pdf=renamed_fonts(document.write_pdf(), repr(key)),
        pages={rid: index for index, rid in enumerate(recipient_ids)},
        geometry=geometry,
        page_top=page_box.content_box_y(),
        page_bottom=page_box.content_box_y() + page_box.height,
        page_width=page_box.margin_width(),
        content_width=page_box.width,
        families=families,
        inner={rid: fixed_inner_html(html) for rid, html in letters_html.items()},
    )


@dataclass
class Column:
    """The supporter's parts as laid out once: the head block and the rows below the body."""

    geometry: Geometry
    rows: list[Row]
    page_box: boxes.Box
    path: tuple
    head: boxes.Box
    blocks: list[boxes.Box]


def read_column(document: Document) -> Column | None:
    """The supporter's layout, or None where it has a shape flow.py does not place."""
    if len(document.pages) != 1:
        return None
    page_box = document.pages[0]._page_box
    if any(isinstance(child, boxes.MarginBox) for child in page_box.children):
        return None
    geometry = _geometry(page_box)
    info = _find(page_box, "info")
    if geometry is None or info is None:
        return None
    head = info[1][-1]
    path = info[1][:-1]
    article = path[-1]
    blocks = [c for c in article.children if c is not head]
    rows: list[Row] = []
    for block in blocks:
        names = _classes(block)
        if "message" in names and isinstance(block, boxes.BlockBox) and _plain(block):
            for number, paragraph in enumerate(block.children):
                if not (isinstance(paragraph, boxes.BlockBox) and _plain(paragraph)):
                    return None
                style = paragraph.style
                if (style["orphans"], style["widows"]) != (ORPHANS, WIDOWS):
                    return None
                if style["break_inside"] != "auto" or not paragraph.children:
                    return None
                if paragraph.margin_top != 0:
                    return None
                for line in paragraph.children:
                    if not isinstance(line, boxes.LineBox):
                        return None
                    rows.append(Row(line.position_y, line.position_y + line.height, number))
        elif "closing" in names and block is blocks[-1] and _plain(block):
            first = block.children[0] if block.children else None
            if first is not None and first.margin_top > block.margin_top:
                return None
            rows.append(Row(block.border_box_y(), _bottom(block), lead=block.margin_top))
        else:
            return None
    if not _plain(article):
        return None
    return Column(geometry, rows, page_box, path, head, blocks)


def _page_with(column: Column, children: list[boxes.Box]) -> Page:
    node = column.path[-1].copy_with_children(children)
    for ancestor in reversed(column.path[1:-1]):
        node = ancestor.copy_with_children([node])
    return Page(column.path[0].copy_with_children([node]))


def _group_children(column: Column, start: int, end: int) -> list[boxes.Box]:
    """The supporter's boxes holding rows [start, end): message lines, then the closing."""
    rows = column.rows
    children: list[boxes.Box] = []
    message = next((b for b in column.blocks if "message" in _classes(b)), None)
    if message is not None:
        paragraphs = []
        index = 0
        for paragraph in message.children:
            lines = [
                line
                for offset, line in enumerate(paragraph.children)
                if start <= index + offset < end
            ]
            index += len(paragraph.children)
            if lines:
                paragraphs.append(paragraph.copy_with_children(lines))
        if paragraphs:
            children.append(message.copy_with_children(paragraphs))
    if end == len(rows) and rows and rows[-1].paragraph is None:
        children.append(column.blocks[-1])
    return children


@dataclass
class Composition:
    """Per letter: its fixed page and, per page of the letter, the pieces laid over it."""

    pieces: list[tuple[int, int]] = field(default_factory=list)
    letters: list[tuple[str, list[Placement]]] = field(default_factory=list)


def plan(column: Column, fixed: FixedPack, recipient_ids: Sequence[str]) -> Composition | None:
    """Placements for every letter, or None if any letter needs the full render."""
    if column.page_box.width != fixed.content_width:
        return None
    composition = Composition()
    cuts = {0, len(column.rows)}
    for recipient_id in recipient_ids:
        geometry = fixed.geometry[recipient_id]
        if geometry.head != column.geometry.head:
            return None
        if geometry.tail_class != column.geometry.tail_class:
            return None
        delta = geometry.tail_top - column.geometry.tail_top
        placements = place(column.rows, delta, fixed.page_top, fixed.page_bottom)
        if placements is None:
            return None
        cuts.update(p.start for p in placements)
        composition.letters.append((recipient_id, placements))
    ordered = sorted(cuts)
    composition.pieces = list(zip(ordered, ordered[1:], strict=False))
    return composition


def paint(document: Document, column: Column, composition: Composition) -> bytes:
    """One PDF page for the head block, then one per piece of the column, each painted once."""
    pages = [_page_with(column, [column.head])]
    pages += [_page_with(column, _group_children(column, a, b)) for a, b in composition.pieces]
    return document.copy(pages).write_pdf()


def compose(
    fixed: FixedPack, parts_pdf: bytes, composition: Composition, last: bytes | None = None
) -> bytes:
    """The pack: each official's fixed page with the supporter's pieces laid over it, then the
    pages of `last` (the label page) if given."""
    base = pikepdf.open(io.BytesIO(fixed.pdf))
    parts = pikepdf.open(io.BytesIO(parts_pdf))
    forms = [base.copy_foreign(page.as_form_xobject()) for page in parts.pages]
    # The supporter's column is laid out on a tall page; its pieces keep that page's height.
    lift = _height(base.pages[0]) - _height(parts.pages[-1])
    head, pieces = forms[0], dict(zip(composition.pieces, forms[1:], strict=True))
    originals = list(base.pages)
    chosen = []
    for recipient_id, placements in composition.letters:
        first = originals[fixed.pages[recipient_id]]
        pages = [first]
        for placement in placements:
            if placement.page >= len(pages):
                pages.append(_blank_like(base, first))
        for number, page in enumerate(pages):
            names = pikepdf.Dictionary()
            ops = []
            if number == 0:
                names["/Sh"] = head
                ops.append(f"q 1 0 0 1 0 {lift:.6f} cm /Sh Do Q".encode())
            for placement in placements:
                if placement.page != number:
                    continue
                for index, span in enumerate(composition.pieces):
                    if placement.start <= span[0] and span[1] <= placement.end:
                        name = f"/Sp{index}"
                        names[name] = pieces[span]
                        dy = lift - placement.dy * SCALE
                        ops.append(f"q 1 0 0 1 0 {dy:.6f} cm {name} Do Q".encode())
            _overlay(base, page, names, b"\n".join(ops))
        chosen.extend(pages)
    del base.pages[:]
    for page in chosen:
        base.pages.append(page)
    ending = pikepdf.open(io.BytesIO(last)) if last is not None else None
    if ending is not None:
        base.pages.extend(ending.pages)  # copied when saved: the source stays open till then
    out = io.BytesIO()
    base.save(out)
    return out.getvalue()


def _height(page: pikepdf.Page) -> float:
    box = [float(value) for value in page.MediaBox]
    return box[3] - box[1]


def _blank_like(pdf: pikepdf.Pdf, model: pikepdf.Page) -> pikepdf.Page:
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=model.MediaBox,
        Resources=pikepdf.Dictionary(),
        Contents=pdf.make_stream(b""),
    )
    for box in ("/TrimBox", "/BleedBox"):
        if box in model.obj:
            page[box] = model.obj[box]
    return pikepdf.Page(pdf.make_indirect(page))


def _overlay(pdf: pikepdf.Pdf, page: pikepdf.Page, forms: pikepdf.Dictionary, ops: bytes) -> None:
    resources = pikepdf.Dictionary(page.Resources)
    xobjects = pikepdf.Dictionary(resources.get("/XObject") or {})
    for name, form in forms.items():
        xobjects[name] = form
    resources.XObject = xobjects
    page.Resources = resources
    # WeasyPrint leaves its page transformation in force at the end of the page's content.
    page.contents_add(pdf.make_stream(b"q\n"), prepend=True)
    page.contents_add(pdf.make_stream(b"Q\n" + ops), prepend=False)
