"""Counts at scale: the public counter, the dashboard and the CSV export read running counts that
are written in the same transaction as the letter rows, so their cost does not grow with the
number of letters, and they always agree with a count over the rows: after every kind of write,
after a process killed between its two writes, and after a server killed in the middle of a load.
"""

import os
import re
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import event, func, insert, select
from sqlalchemy.orm import Session

import app.storage.counts as counts
from app.settings import SOURCE_ROOT
from app.storage.counts import PUBLIC_MAX_AGE_S, dashboard_figures, differences
from app.storage.db import alembic_config, make_engine
from app.storage.letters import (
    UnknownToken,
    confirm_posted,
    record_pack,
    record_pack_once,
    token_hash,
)
from app.storage.models import Letter, LetterDay, LetterTotal
from app.storage.operations import audit_log
from tests.conftest import postgres_database
from tests.servers import free_port, running
from tests.test_letters import run_cli

DAY = date(2026, 3, 1)
NOTE = {
    "en": "The counter is updated every few seconds.",
    "ru": "Счётчик обновляется раз в несколько секунд.",
    "kk": "Есептегіш бірнеше секунд сайын жаңартылады.",
}


def agree(engine) -> list[str]:
    with engine.connect() as connection:
        return differences(connection)


def count_rows(engine) -> tuple[int, int]:
    with engine.connect() as connection:
        return tuple(connection.execute(select(func.count(), func.count(Letter.sent_on))).one())


def test_running_counts_agree_with_the_rows_after_every_kind_of_write(app, campaign):
    la, committee, prosecutor, security, secretary, ombudsman = campaign.recipients
    with app.state.sessionmaker() as db:
        a = record_pack(db, campaign.recipients, "ru", "DE", DAY)
        b = record_pack(db, [prosecutor, ombudsman], "kk", "KZ", DAY)
        c = record_pack(db, [la], "en", "PL", DAY + timedelta(days=1))
        once = "a-token-minted-with-the-preview"
        record_pack_once(db, once, [committee, security], "ru", "FR", DAY + timedelta(days=1))
        record_pack_once(db, once, [committee, security], "ru", "FR", DAY + timedelta(days=1))
        confirm_posted(db, a, DAY + timedelta(days=2), [prosecutor.id])
        confirm_posted(db, a, DAY + timedelta(days=3))
        confirm_posted(db, a, DAY + timedelta(days=4))
        confirm_posted(db, b, DAY + timedelta(days=2))
        confirm_posted(db, once, DAY + timedelta(days=2), [security.id])
        with pytest.raises(UnknownToken):
            confirm_posted(db, "no-such-token", DAY)
        db.commit()
        assert c

    assert agree(app.state.engine) == []
    with app.state.sessionmaker() as db:
        totals = db.execute(select(func.sum(LetterTotal.generated), func.sum(LetterTotal.sent)))
        assert tuple(totals.one()) == (11, 9)
        days = db.execute(select(LetterDay.day, func.sum(LetterDay.sent)).group_by(LetterDay.day))
        posted = {day: int(n) for day, n in days if n}
    assert posted == {
        DAY + timedelta(days=2): 4,
        DAY + timedelta(days=3): 5,
    }


def test_a_count_that_drifted_from_the_rows_is_reported(app, campaign):
    with app.state.sessionmaker() as db:
        record_pack(db, campaign.recipients[:2], "ru", "DE", DAY)
        db.execute(LetterTotal.__table__.update().values(generated=LetterTotal.generated + 1))
        db.commit()
    found = agree(app.state.engine)
    assert len(found) == 2 and all(line.startswith("totals") for line in found)


@pytest.mark.slow
def test_operators_check_and_rebuild_the_counts_from_the_command_line(
    app, campaign, settings, tmp_path
):
    """After a restore or a bulk load the counts can lag the letters: `letter-campaign counts
    check` names where, `counts rebuild` makes them again from the letters, and the figures
    follow; the rebuild is in the audit log."""
    with app.state.sessionmaker() as db:
        record_pack(db, campaign.recipients, "ru", "DE", DAY)
        db.execute(
            insert(Letter),
            [
                {
                    "token_hash": "f" * 64,
                    "recipient_id": "ombudsman",
                    "language": "kk",
                    "country": "KZ",
                    "generated_on": DAY,
                }
            ],
        )
        db.commit()  # fmt: skip
    env = {"DATABASE_URL": settings.database_url}
    check = run_cli("counts", "check", cwd=tmp_path, env=env)
    assert check.returncode == 1
    assert "counts differ from the letters: totals ('ombudsman', 'kk', 'KZ')" in check.stderr
    assert "days" in check.stderr
    rebuild = run_cli("counts", "rebuild", cwd=tmp_path, env=env)
    assert rebuild.returncode == 0, rebuild.stderr
    assert "the letter counts rebuilt; they agree with the letters" in rebuild.stderr
    again = run_cli("counts", "check", cwd=tmp_path, env=env)
    assert (again.returncode, again.stderr) == (0, "the letter counts agree with the letters\n")
    with app.state.sessionmaker() as db:
        figures = dashboard_figures(db, campaign, 5000, DAY, chart_days=7)
        actions = [entry.action for entry in audit_log(db)]
    assert figures.total.generated == len(campaign.recipients) + 1
    assert actions[0] == "letter counts rebuilt from the letters"


def test_a_rebuild_while_supporters_write_and_post_leaves_counts_that_agree(app, campaign):
    """`counts rebuild` holds writers off while it recounts (a table lock on PostgreSQL, the
    write lock on SQLite): letters made and posted meanwhile are counted once, before or after."""
    written: list[str] = []
    writing, rebuilt = threading.Event(), threading.Event()

    def supporter(number: int) -> None:
        officials = campaign.recipients[number % 3 :][:2]
        while not rebuilt.is_set() or len(written) < 60:
            with app.state.sessionmaker() as db:
                token = record_pack(db, officials, "ru", "DE", DAY)
                db.commit()
                confirm_posted(db, token, DAY + timedelta(days=1), [officials[0].id])
                db.commit()
            written.append(token)
            writing.set()

    with ThreadPoolExecutor(4) as pool:
        writers = [pool.submit(supporter, number) for number in range(4)]
        try:
            assert writing.wait(30)
            before = len(written)
            for _ in range(20):
                writing.clear()
                with app.state.sessionmaker() as db:
                    counts.recount(db.connection())
                    db.commit()
                # Let a writer in before the next rebuild: on SQLite a rebuild that follows at
                # once can take the write lock again ahead of every waiting writer.
                assert writing.wait(30)
            assert len(written) > before, "no letter was written while the counts were rebuilt"
        finally:
            rebuilt.set()  # the writers stop, even when a rebuild failed
        for writer in writers:
            writer.result(timeout=120)

    assert agree(app.state.engine) == []
    assert count_rows(app.state.engine) == (2 * len(written), len(written))
    with app.state.sessionmaker() as db:
        totals = db.execute(select(func.sum(LetterTotal.generated), func.sum(LetterTotal.sent)))
        assert tuple(totals.one()) == (2 * len(written), len(written))


def test_the_numbers_are_read_without_reading_a_single_letter_row(
    app, staff_client, campaign, clock
):
    with app.state.sessionmaker() as db:
        token = record_pack(db, campaign.recipients, "ru", "DE", clock.now.date())
        confirm_posted(db, token, clock.now.date())
        db.commit()
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(app.state.engine, "before_cursor_execute", seen)
    try:
        assert staff_client.get("/api/stats").json()["sent"] == 6
        assert staff_client.get("/").status_code == 200
        assert staff_client.get("/dashboard").status_code == 200
        assert staff_client.get("/dashboard/export.csv").status_code == 200
    finally:
        event.remove(app.state.engine, "before_cursor_execute", seen)
    assert any("letter_totals" in s for s in statements)
    assert any("letter_days" in s for s in statements)
    assert [s for s in statements if re.search(r"\bletters\b", s)] == []


def test_the_counts_answer_while_a_writer_holds_its_transaction_open(
    app, client, campaign, database_url
):
    with app.state.sessionmaker() as db:
        record_pack(db, campaign.recipients, "ru", "DE", DAY)
        db.commit()
    other = make_engine(database_url)
    try:
        with Session(other) as writer:
            record_pack(writer, campaign.recipients, "kk", "KZ", DAY)
            writer.flush()
            # SQLite: the writer holds the database's write lock; PostgreSQL: the counts' rows.
            assert client.get("/api/stats").json()["generated"] == 6
            with app.state.sessionmaker() as db:
                figures = dashboard_figures(db, campaign, 5000, DAY, chart_days=7)
                assert figures.total.generated == 6
            writer.commit()
    finally:
        other.dispose()
    with app.state.sessionmaker() as db:
        assert dashboard_figures(db, campaign, 5000, DAY, chart_days=7).total.generated == 12


# The child writes its letter rows, then stops just before adding them to the running counts.
KILLED_BETWEEN_TWO_WRITES = """
import sys
from datetime import date
from sqlalchemy import event
from sqlalchemy.orm import Session
from app.campaign import load_campaign
from app.storage.db import make_engine
from app.storage.letters import confirm_posted, record_pack
from app.settings import Settings

engine = make_engine(sys.argv[1])

@event.listens_for(engine, "before_cursor_execute")
def stop(conn, cursor, statement, parameters, context, executemany):
    if "letter_totals" in statement:
        print("between the two writes", flush=True)
        sys.stdin.read()

campaign = load_campaign(Settings().campaign_dir)
with Session(engine) as session:
    if sys.argv[2] == "record":
        record_pack(session, campaign.recipients, "ru", "DE", date(2026, 3, 1))
    else:
        confirm_posted(session, sys.argv[2], date(2026, 3, 2))
    session.commit()
"""


def kill_between_two_writes(database_url: str, what: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_BETWEEN_TWO_WRITES, database_url, what],
        cwd=SOURCE_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(SOURCE_ROOT)},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"between the two writes\n"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_a_process_killed_between_its_two_writes_leaves_counts_that_agree(
    app, campaign, database_url
):
    with app.state.sessionmaker() as db:
        token = record_pack(db, campaign.recipients[:3], "en", "PL", DAY)
        db.commit()

    kill_between_two_writes(database_url, "record")
    assert count_rows(app.state.engine) == (3, 0)
    assert agree(app.state.engine) == []

    kill_between_two_writes(database_url, token)
    assert count_rows(app.state.engine) == (3, 0)
    assert agree(app.state.engine) == []

    with app.state.sessionmaker() as db:  # nothing of the dead process still holds a lock
        assert confirm_posted(db, token, DAY).sent == 3
        db.commit()
    assert agree(app.state.engine) == []


PACKS = 240
KILL_AFTER = 80


@pytest.mark.slow
def test_a_server_killed_mid_load_leaves_counts_that_agree_with_the_rows(
    app, campaign, database_url, tmp_path: Path
):
    """Confirmations and downloads from eight clients at once; the server gets SIGKILL after
    some have been answered and while others are in flight."""
    officials = [r.id for r in campaign.recipients]
    with app.state.sessionmaker() as db:
        tokens = [
            record_pack(db, campaign.recipients[: 1 + n % 6], "ru", "DE", DAY) for n in range(PACKS)
        ]
        db.commit()
    env = {"DATABASE_URL": database_url, "SECRET_KEY": "x" * 40, "LOG_LEVEL": "warning"}
    env["WORKERS"] = "1"  # one process: SIGKILL leaves no worker alive
    cli = str(SOURCE_ROOT / ".venv" / "bin" / "letter-campaign")
    port = free_port()
    answered: list[str] = []
    enough = threading.Event()
    body = {
        "name": "Supporter",
        "street": "Hauptstraße 5",
        "postcode": "10115",
        "city": "Berlin",
        "country": "KZ",
        "language": "kk",
        "recipients": officials[:2],
        "signature": {"kind": "none"},
    }

    def work(base: str, n: int) -> None:
        try:
            if n % 10 == 9:
                response = httpx.post(f"{base}/api/letters", json=body, timeout=30)
            else:
                response = httpx.post(f"{base}/api/letters/{tokens[n]}/sent", timeout=30)
                if response.status_code == 200:
                    answered.append(tokens[n])
        except httpx.TransportError:
            return
        if len(answered) >= KILL_AFTER:
            enough.set()

    log = tmp_path / "server.log"
    with (
        running([cli, "serve", "--port", str(port)], env, port, log) as (base, process),
        ThreadPoolExecutor(8) as pool,
    ):
        for n in range(PACKS):
            pool.submit(work, base, n)
        assert enough.wait(timeout=120), log.read_text()[-2000:]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert len(answered) < PACKS * 9 // 10  # killed mid-load, not after it

    assert agree(app.state.engine) == []
    with app.state.sessionmaker() as db:
        posted = db.scalars(select(Letter.token_hash).where(Letter.sent_on.is_not(None))).all()
    assert {token_hash(t) for t in answered} <= set(posted)
    generated, sent = count_rows(app.state.engine)

    port = free_port()
    with running([cli, "serve", "--port", str(port)], env, port, tmp_path / "again.log") as (
        base,
        _,
    ):
        stats = httpx.get(f"{base}/api/stats", timeout=30).json()
    assert (stats["generated"], stats["sent"]) == (generated, sent)


def test_the_public_counter_may_be_seconds_old_and_the_page_says_so(
    app, client, campaign, database_url, monkeypatch
):
    assert client.get("/api/stats").json()["generated"] == 0
    other = make_engine(database_url)  # another server process, as far as this one knows
    try:
        with Session(other) as db:
            record_pack(db, campaign.recipients, "ru", "DE", DAY)
            db.commit()
    finally:
        other.dispose()
    assert client.get("/api/stats").json()["generated"] == 0

    later = counts.monotonic() + PUBLIC_MAX_AGE_S
    monkeypatch.setattr(counts, "monotonic", lambda: later)
    assert client.get("/api/stats").json()["generated"] == 6

    with app.state.sessionmaker() as db:  # this process's own letters show at once
        record_pack(db, campaign.recipients[:1], "ru", "DE", DAY)
        db.commit()
    assert client.get("/api/stats").json()["generated"] == 7

    for lang, note in NOTE.items():
        assert note in client.get(f"/?lang={lang}").text


def test_the_migration_counts_the_letters_recorded_before_it(database_url, tmp_path: Path):
    def check(url: str) -> None:
        config = alembic_config(url)
        command.upgrade(config, "0002")
        engine = make_engine(url)
        try:
            rows = [
                {
                    "token_hash": f"{n % 7:064d}",
                    "recipient_id": f"official-{n % 6}",
                    "language": ("en", "ru", "kk")[n % 3],
                    "country": ("DE", "KZ")[n % 2],
                    "generated_on": DAY + timedelta(days=n % 5),
                    "sent_on": DAY + timedelta(days=5 + n % 3) if n % 4 else None,
                }
                for n in range(200)
            ]
            with engine.begin() as connection:
                connection.execute(insert(Letter.__table__), rows)
            command.upgrade(config, "head")
            assert agree(engine) == []
            with engine.connect() as connection:
                kept = connection.execute(select(func.sum(LetterTotal.generated))).scalar()
            assert kept == 200
        finally:
            engine.dispose()

    if database_url.startswith("sqlite"):
        check(f"sqlite:///{tmp_path / 'before.db'}")
    else:
        with postgres_database() as url:
            check(url)
