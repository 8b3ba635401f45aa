"""The daily counts per official as CSV, written while the database cursor is read.

One row per day and official from the first day with letters to the last, zeros included, so a
spreadsheet can chart or sum any column without gaps. UTF-8 with a byte-order mark, because
that is how spreadsheet programs recognise UTF-8 in a CSV file.
"""

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, timedelta

from app.campaign import Campaign
from app.storage.counts import DailyRow

HEADER = ("date", "official_id", "official", "generated", "posted", "paper_letters")
BOM = "\ufeff"
CHUNK = 16 * 1024


def _cell(text: str) -> str:
    """Text a spreadsheet would run as a formula gets a leading apostrophe."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_chunks(rows: Iterable[DailyRow], campaign: Campaign) -> Iterator[str]:
    """CSV text in chunks of about 16 KB; `rows` must come ordered by day."""
    names = {r.id: r.name for r in campaign.recipients}
    order = [r.id for r in campaign.recipients]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow(HEADER)

    def write_day(day: date, found: dict[str, DailyRow]) -> None:
        for rid in order + sorted(found.keys() - set(order)):
            row = found.get(rid)
            counts = (row.generated, row.posted, row.paper) if row else (0, 0, 0)
            writer.writerow((day.isoformat(), rid, _cell(names.get(rid, rid)), *counts))

    day: date | None = None
    found: dict[str, DailyRow] = {}
    for row in rows:
        if row.day != day:
            if day is not None:
                write_day(day, found)
                gap = day + timedelta(days=1)
                while gap < row.day:
                    write_day(gap, {})
                    gap += timedelta(days=1)
            day, found = row.day, {}
            if buffer.tell() >= CHUNK:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        found[row.recipient_id] = row
    if day is not None:
        write_day(day, found)
    yield buffer.getvalue()
