"""Where the supporter's closing part of a letter falls on that letter's pages.

The fast path lays the supporter's own text out once per pack, as a column of rows (the lines of
each message paragraph, then the closing as one block), and places that column below each
official's fixed text. Placing it must give exactly the pages WeasyPrint 70 would give, so this
follows its rules for the cases it knows and answers None for every other case: the caller then
renders the pack in full. The cases handled:

- the column fits on the first page;
- a message paragraph breaks between two lines, keeping two lines on each side (orphans and
  widows of 2, moving one line over as WeasyPrint does when only one would be left);
- a message paragraph that cannot keep two lines on the first page starts the second page;
- a closing (break-inside: avoid) that does not fit starts the second page.

The rest of the column must then fit on the second page. A line that continues its paragraph
there starts at the page's content top; a paragraph or the closing that starts there keeps its
top margin (WeasyPrint 70 keeps it; measured), given as the row's `lead`. A message that starts
on the second page, a third page, or a row ending within rounding of the page's bottom: None.
"""

from dataclasses import dataclass

ORPHANS = WIDOWS = 2
# WeasyPrint's own tolerance (LayoutContext.overflows); closer than NEAR to it is too close to call.
FUDGE = 1e-9
NEAR = 1e-6


@dataclass(frozen=True)
class Row:
    """A line of a message paragraph, or a block (paragraph None) that goes to one page whole."""

    top: float
    bottom: float
    paragraph: int | None = None
    lead: float = 0.0


@dataclass(frozen=True)
class Placement:
    """Rows [start, end) of the column go on the letter's page `page`, moved down by dy px."""

    start: int
    end: int
    page: int
    dy: float


def _overflows(bottom: float, page_bottom: float) -> bool | None:
    limit = page_bottom * (1 + FUDGE)
    if abs(bottom - limit) < NEAR:
        return None
    return bottom > limit


def _first_overflow(rows: list[Row], delta: float, page_bottom: float) -> int | None | bool:
    """Index of the first row that overflows, len(rows) if none does, False if too close."""
    for index, row in enumerate(rows):
        over = _overflows(row.bottom + delta, page_bottom)
        if over is None:
            return False
        if over:
            return index
    return len(rows)


def _break_before(rows: list[Row], index: int) -> int | None:
    """Where the second page starts when rows[index] is the first that does not fit."""
    paragraph = rows[index].paragraph
    if paragraph is None:
        return index
    first = index
    while first > 0 and rows[first - 1].paragraph == paragraph:
        first -= 1
    last = index
    while last + 1 < len(rows) and rows[last + 1].paragraph == paragraph:
        last += 1
    kept = index - first
    after = last - index
    if after == 0 and kept - ORPHANS >= WIDOWS - 1:
        return index - 1
    if after > 0 and kept >= ORPHANS:
        return index
    # The paragraph cannot break here: it moves to the next page whole, unless it is the first.
    return first if first > 0 else None


def place(
    rows: list[Row], delta: float, page_top: float, page_bottom: float
) -> list[Placement] | None:
    """Placements of the column for a letter whose column starts `delta` px below the layout's."""
    if not rows:
        return []
    overflow = _first_overflow(rows, delta, page_bottom)
    if overflow is False:
        return None
    if overflow == len(rows):
        return [Placement(0, len(rows), 0, delta)]
    split = _break_before(rows, overflow)
    if split is None or (split == 0 and rows[0].paragraph is not None):
        return None
    rest = rows[split:]
    starts_box = split == 0 or rows[split - 1].paragraph != rest[0].paragraph
    dy = page_top + (rest[0].lead if starts_box else 0.0) - rest[0].top
    if _first_overflow(rest, dy, page_bottom) != len(rest):
        return None
    placements = [Placement(0, split, 0, delta)] if split else []
    return [*placements, Placement(split, len(rows), 1, dy)]
