"""The CSV export of daily counts per official: a streamed UTF-8 download with a header row and
one row per day and official, that parses back to the numbers of the public /api/stats."""

import csv
import io
from collections import Counter
from datetime import date, timedelta

from sqlalchemy import text

from app.export import HEADER, csv_chunks
from app.storage.counts import DailyRow, stream_daily_rows
from app.storage.letters import confirm_posted, record_pack
from tests.staff_pages import dashboard_token

EXPORT = "/dashboard/export.csv"


def exported_rows(client) -> list[dict[str, str]]:
    response = client.get(EXPORT)
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))


def record_days(app, campaign, first: date, days: int) -> None:
    """A varying number of downloads each day, some posted a day later, some never."""
    recipients = campaign.recipients
    with app.state.sessionmaker() as db:
        for offset in range(days):
            day = first + timedelta(days=offset)
            for pack in range(offset % 4):
                chosen = recipients[pack : pack + 1 + offset % 3]
                token = record_pack(db, chosen, "ru", "KZ", day)
                if pack % 2 == 0:
                    confirm_posted(db, token, day + timedelta(days=1))
        db.commit()


def test_the_export_parses_back_to_the_numbers_of_api_stats(app, staff_client, campaign, clock):
    today = clock.now.date()
    record_days(app, campaign, today - timedelta(days=20), 19)
    for official, number in (("ombudsman", "25"), ("prosecutor-general", "4")):
        staff_client.post(
            "/dashboard/paper-letters",
            data={
                "csrf_token": dashboard_token(staff_client),
                "official": official,
                "number": number,
                "date": str(today - timedelta(days=30)),
            },
        )

    rows = exported_rows(staff_client)
    stats = staff_client.get("/api/stats").json()
    assert stats["generated"] > 0 and stats["sent"] > 0
    generated, posted, paper = Counter(), Counter(), Counter()
    for row in rows:
        generated[row["official_id"]] += int(row["generated"])
        posted[row["official_id"]] += int(row["posted"])
        paper[row["official_id"]] += int(row["paper_letters"])
    assert sum(generated.values()) == stats["generated"]
    assert sum(posted.values()) == stats["sent"]
    for official in stats["recipients"]:
        assert generated[official["id"]] == official["generated"], official["id"]
        assert posted[official["id"]] == official["sent"], official["id"]
    assert +paper == {"ombudsman": 25, "prosecutor-general": 4}


def test_one_row_per_day_and_official_from_the_first_letter_to_the_last(
    app, staff_client, campaign
):
    first = date(2025, 12, 30)
    record_days(app, campaign, first, 6)
    rows = exported_rows(staff_client)
    assert list(rows[0]) == list(HEADER)
    # The first downloads come on the 2nd day; the last posting the day after the 6th.
    days = [str(first + timedelta(days=n)) for n in range(1, 7)]
    officials = [r.id for r in campaign.recipients]
    assert [(row["date"], row["official_id"]) for row in rows] == [
        (day, official) for day in days for official in officials
    ]
    names = {r.id: r.name for r in campaign.recipients}
    assert all(row["official"] == names[row["official_id"]] for row in rows)
    new_year = {row["official_id"]: row for row in rows if row["date"] == "2026-01-01"}
    # That day: downloads to 3 and to 3 officials; the one of 31 December (2 officials) posted.
    assert [new_year[o]["generated"] for o in officials] == ["1", "2", "2", "1", "0", "0"]
    assert [new_year[o]["posted"] for o in officials] == ["1", "1", "0", "0", "0", "0"]
    third = {row["official_id"]: row for row in rows if row["date"] == "2026-01-03"}
    assert [third[o]["generated"] for o in officials] == ["0"] * 6
    assert [third[o]["posted"] for o in officials] == ["1", "0", "1", "0", "0", "0"]


def test_the_export_is_a_utf8_csv_download_for_spreadsheets(staff_client, app, campaign):
    record_days(app, campaign, date(2026, 1, 1), 3)
    response = staff_client.get(EXPORT)
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    assert response.headers["content-disposition"].endswith('.csv"')
    assert response.headers["cache-control"] == "no-store"
    assert "content-length" not in response.headers  # streamed, not built whole
    assert response.content.startswith("\ufeff".encode())
    body = response.content.decode("utf-8-sig")
    assert body.split("\r\n")[0] == ",".join(HEADER)
    assert body.endswith("\r\n")


def test_an_empty_campaign_exports_the_header_alone(staff_client):
    assert staff_client.get(EXPORT).content.decode("utf-8-sig") == ",".join(HEADER) + "\r\n"


def test_a_long_campaign_is_written_in_chunks_while_rows_are_still_being_read(campaign):
    read = []

    def rows():
        for n in range(3000):
            read.append(n)
            yield DailyRow(date(2020, 1, 1) + timedelta(days=n), "ombudsman", n, 0, 0)

    chunks = csv_chunks(rows(), campaign)
    first = next(chunks)
    assert first.startswith("\ufeff" + ",".join(HEADER))
    assert 0 < len(read) < 3000
    body = first + "".join(chunks)
    assert len(read) == 3000
    parsed = list(csv.reader(io.StringIO(body.lstrip("\ufeff"), newline="")))
    assert len(parsed) == 1 + 3000 * 6
    last_day = str(date(2020, 1, 1) + timedelta(days=2999))
    ombudsman = campaign.recipient("ombudsman").name
    assert parsed[-1] == [last_day, "ombudsman", ombudsman, "2999", "0", "0"]


def test_the_database_is_read_through_a_cursor_not_all_at_once(app, campaign, database_url):
    record_days(app, campaign, date(2026, 1, 1), 10)
    with app.state.engine.connect() as connection:
        rows = stream_daily_rows(connection)
        first = next(rows)
        assert first.day == date(2026, 1, 2)
        if connection.dialect.name == "postgresql":
            declared = connection.execute(
                text("SELECT count(*) FROM pg_cursors WHERE statement ILIKE 'DECLARE%'")
            ).scalar()
            assert declared == 1  # a server-side cursor, fetched a batch at a time
        assert sum(1 for _ in rows) > 0
