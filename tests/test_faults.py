"""Faults, against real server processes: the database unreachable, a worker killed with kill -9
in the middle of requests, a full disk and a read-only database file. Each time the supporter
gets a friendly page (the API a 503), nothing confirmed to a client is lost or counted twice,
the database stays sound, and the service recovers without a restart."""

import os
import resource
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from app.settings import SOURCE_ROOT
from app.storage.db import migrate
from app.storage.letters import token_hash
from app.storage.models import Letter
from app.storage.staff import add_staff, utc_now
from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD, migrated_database, postgres_database
from tests.servers import free_port, running, spawned_children, until
from tests.staff_pages import csrf_token
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

CLI = str(SOURCE_ROOT / ".venv" / "bin" / "letter-campaign")
SECRET = "a secret of at least thirty-two characters, for tests"
OFFICIALS = ["ombudsman", "prosecutor-general", "state-secretary"]
FIGURES: dict[str, int] = {}  # printed at the end of the run for SECURITY.md


@pytest.fixture(scope="module", autouse=True)
def figures():
    """The run's figures, for SECURITY.md (pytest -s shows them)."""
    yield
    print(f"\nfault figures: {FIGURES}")


def supporter(number: int) -> dict:
    return {
        "name": f"Supporter {number}",
        "street": "Hauptstraße 5",
        "city": "Berlin",
        "country": "DE",
        "language": ("en", "ru", "kk")[number % 3],
        "recipients": OFFICIALS[: 1 + number % 3],
        "signature": {"kind": "none"},
    }


FORM = {
    "name": "Supporter",
    "street": "Hauptstraße 5",
    "city": "Berlin",
    "country": "DE",
    "language": "en",
    "recipients": "ombudsman",
    "signature_kind": "none",
}


def env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET,
        "LOG_LEVEL": "warning",
        **extra,
    }


def add_staff_account(database_url: str) -> None:
    engine = create_engine(database_url)
    from sqlalchemy.orm import Session

    with Session(engine) as db:
        add_staff(db, STAFF_EMAIL, STAFF_PASSWORD, utc_now())
        db.commit()
    engine.dispose()


def log_in(browser: httpx.Client, base: str) -> httpx.Response:
    token = csrf_token(browser.get(f"{base}/login").text)
    credentials = {"email": STAFF_EMAIL, "password": STAFF_PASSWORD, "csrf_token": token}
    return browser.post(f"{base}/login", data=credentials)


def letters_in(database_url: str) -> dict[str, tuple[int, int]]:
    """(letters, posted) per token hash, as the database holds them."""
    engine = create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(Letter.token_hash, func.count(), func.count(Letter.sent_on)).group_by(
                Letter.token_hash
            )
        ).all()
    engine.dispose()
    return {hashed: (letters, sent) for hashed, letters, sent in rows}


def assert_friendly_page(response: httpx.Response, status: int = 503) -> None:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["retry-after"].isdigit()
    assert '<a href="/?lang=' in response.text and "Traceback" not in response.text


# --- the database unreachable --------------------------------------------------------------------


@pytest.fixture
def postgres_behind_a_proxy() -> Iterator[tuple[str, TcpProxy]]:
    with postgres_database() as direct:
        migrate(direct)
        add_staff_account(direct)
        proxy = TcpProxy(("127.0.0.1", 5432))
        proxy.restore()
        try:
            yield direct.replace(":5432/", f":{proxy.port}/"), proxy
        finally:
            proxy.cut()


def test_an_unreachable_database_gives_friendly_503s_and_the_service_recovers_by_itself(
    postgres_behind_a_proxy, tmp_path
):
    url, proxy = postgres_behind_a_proxy
    port = free_port()
    with (
        running([CLI, "serve", "--port", str(port)], env(url), port, tmp_path / "log") as (
            base,
            server,
        ),
        httpx.Client(timeout=20) as staff,
    ):
        made = httpx.post(f"{base}/api/letters", json=supporter(0), timeout=20)
        assert made.status_code == 200
        assert log_in(staff, base).status_code == 303

        proxy.cut()
        FIGURES["faults injected"] = FIGURES.get("faults injected", 0) + 1
        down = httpx.post(f"{base}/api/letters", json=supporter(1), timeout=20)
        assert down.status_code == 503
        assert down.json()["detail"].startswith("database unavailable")
        assert down.headers["retry-after"].isdigit()
        assert (
            httpx.post(f"{base}/api/letters/{made.headers['letter-token']}/sent").status_code == 503
        )
        assert httpx.get(f"{base}/api/stats").status_code == 503
        page = httpx.get(f"{base}/?lang=ru")
        assert_friendly_page(page)
        assert "Сервис временно недоступен" in page.text
        assert_friendly_page(httpx.post(f"{base}/letters", data=FORM))
        assert_friendly_page(staff.get(f"{base}/dashboard"))
        assert_friendly_page(log_in(httpx.Client(timeout=20), base))
        assert httpx.get(f"{base}/readyz").status_code == 503
        assert httpx.get(f"{base}/healthz").status_code == 200

        proxy.restore()
        until(lambda: httpx.get(f"{base}/readyz").status_code == 200, "ready again")
        again = httpx.post(f"{base}/api/letters", json=supporter(2), timeout=20)
        assert again.status_code == 200
        posted = httpx.post(f"{base}/api/letters/{made.headers['letter-token']}/sent")
        assert posted.json() == {"letters": 1, "sent": 1}
        assert staff.get(f"{base}/dashboard").status_code == 200
        assert httpx.get(f"{base}/").status_code == 200
        assert server.poll() is None, "recovered without a restart"


# --- a worker killed in the middle of requests ---------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request, tmp_path) -> Iterator[str]:
    with migrated_database(request.param, tmp_path) as url:
        yield url


REQUESTS = 80
THREADS = 8


def test_a_worker_killed_under_load_loses_no_confirmed_count_and_the_service_goes_on(
    fresh_database, tmp_path
):
    port = free_port()
    command = [CLI, "serve", "--port", str(port), "--workers", "2"]
    confirmed: dict[str, int] = {}  # token -> letters the client was given
    posted: set[str] = set()  # tokens whose confirmation was answered 200
    broken = 0  # requests cut off by the kill
    statuses: list[int] = []
    with running(command, env(fresh_database), port, tmp_path / "log") as (base, server):
        until(lambda: len(spawned_children(server)) == 2, "two workers")
        victim = spawned_children(server)[0]

        def make(number: int) -> tuple[int, httpx.Response | None]:
            try:
                return number, httpx.post(f"{base}/api/letters", json=supporter(number), timeout=60)
            except httpx.TransportError:
                return number, None

        def confirm(token: str) -> tuple[str, httpx.Response | None]:
            try:
                return token, httpx.post(f"{base}/api/letters/{token}/sent", timeout=60)
            except httpx.TransportError:
                return token, None

        with ThreadPoolExecutor(THREADS) as pool:
            futures = [pool.submit(make, n) for n in range(REQUESTS)]
            confirmations = []
            for done_count, future in enumerate(as_completed(futures, timeout=300), start=1):
                if done_count == REQUESTS // 4:
                    os.kill(victim, signal.SIGKILL)
                    FIGURES["faults injected"] = FIGURES.get("faults injected", 0) + 1
                number, response = future.result()
                if response is None:
                    broken += 1
                    continue
                statuses.append(response.status_code)
                if response.status_code == 200:
                    token = response.headers["letter-token"]
                    confirmed[token] = len(supporter(number)["recipients"])
                    if number % 2:
                        confirmations.append(pool.submit(confirm, token))
            for future in as_completed(confirmations, timeout=300):
                token, response = future.result()
                if response is None:
                    broken += 1
                elif response.status_code == 200:
                    posted.add(token)
        assert victim not in spawned_children(server)
        until(lambda: len(spawned_children(server)) == 2, "the killed worker replaced")
        after = [make(REQUESTS + n) for n in range(6)]
        assert [r.status_code for _, r in after if r is not None] == [200] * 6
        for number, response in after:
            confirmed[response.headers["letter-token"]] = len(supporter(number)["recipients"])

    assert set(statuses) == {200}, "a request either completed or was cut off by the kill"
    assert broken < THREADS * 2
    stored = letters_in(fresh_database)
    lost = sum(
        max(0, count - stored.get(token_hash(token), (0, 0))[0])
        for token, count in confirmed.items()
    )
    FIGURES["confirmed letters lost"] = FIGURES.get("confirmed letters lost", 0) + lost
    for token, count in confirmed.items():
        letters, sent = stored[token_hash(token)]
        assert letters == count, "every confirmed letter is stored, none twice"
        if token in posted:
            assert sent == count, "every confirmed posting is stored"
        else:
            assert sent in (0, count), "a confirmation cut off by the kill: all or nothing"
    unconfirmed = set(stored) - {token_hash(t) for t in confirmed}
    assert len(unconfirmed) <= broken, "rows only for requests the kill cut off"
    FIGURES["requests cut off by kill -9"] = FIGURES.get("requests cut off by kill -9", 0) + broken
    FIGURES["packs stored but unconfirmed"] = FIGURES.get("packs stored but unconfirmed", 0) + len(
        unconfirmed
    )
    FIGURES["requests under kill -9"] = FIGURES.get("requests under kill -9", 0) + REQUESTS


# --- a full disk and a read-only database file (SQLite) -------------------------------------------


@contextmanager
def sqlite_server(tmp_path: Path):
    database = tmp_path / "letters.db"
    url = f"sqlite:///{database}"
    migrate(url)
    add_staff_account(url)
    port = free_port()
    with running([CLI, "serve", "--port", str(port)], env(url), port, tmp_path / "log") as (
        base,
        server,
    ):
        yield base, server, database


def integrity(database: Path) -> str:
    with sqlite3.connect(database) as connection:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]


def stored_letters(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT count(*) FROM letters").fetchone()[0]


def test_a_full_disk_gives_503s_keeps_the_database_sound_and_recovers(tmp_path):
    with sqlite_server(tmp_path) as (base, server, database):
        # No file of the server may grow past a little more than the database is now. Python
        # ignores SIGXFSZ, so a write past the limit fails with EFBIG, as on a full disk, and
        # SQLite reports "database or disk is full".
        room = database.stat().st_size + 96 * 1024
        resource.prlimit(server.pid, resource.RLIMIT_FSIZE, (room, resource.RLIM_INFINITY))
        counted = 0
        api_refusals, page_refusals = [], []
        for number in range(300):
            api = httpx.post(f"{base}/api/letters", json=supporter(number), timeout=30)
            form = httpx.post(f"{base}/letters", data=FORM, timeout=30)
            for response, letters in ((api, len(supporter(number)["recipients"])), (form, 1)):
                assert response.status_code in (200, 503), response.text[:300]
                if response.status_code == 200:
                    counted += letters
            if api.status_code == 503:
                api_refusals.append(api)
            if form.status_code == 503:
                page_refusals.append(form)
            if len(api_refusals) >= 3 and page_refusals:
                break
        assert len(api_refusals) >= 3 and page_refusals, "the disk filled up"
        assert api_refusals[0].json()["detail"].startswith("database unavailable")
        assert_friendly_page(page_refusals[0])
        assert httpx.get(f"{base}/").status_code == 200, "reading still works"
        FIGURES["faults injected"] = FIGURES.get("faults injected", 0) + 1

        unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        resource.prlimit(server.pid, resource.RLIMIT_FSIZE, unlimited)  # space is freed
        back = httpx.post(f"{base}/api/letters", json=supporter(3), timeout=30)
        assert back.status_code == 200
        counted += len(supporter(3)["recipients"])
        assert server.poll() is None
    FIGURES["letters before the disk was full"] = counted
    assert integrity(database) == "ok"
    assert stored_letters(database) == counted, "every count confirmed, none invented"


def chattr(flag: str, database: Path) -> None:
    """The database file and its write-ahead log; the shared-memory index SQLite maps into the
    process stays writable, as it would on any disk (it holds no data)."""
    files = [database, database.with_name(database.name + "-wal")]
    subprocess.run(["chattr", flag, *map(str, files)], check=True)


def test_a_read_only_database_file_gives_503s_and_recovers_when_writable_again(tmp_path):
    with sqlite_server(tmp_path) as (base, server, database), httpx.Client(timeout=30) as staff:
        first = httpx.post(f"{base}/api/letters", json=supporter(0), timeout=30)
        assert first.status_code == 200
        chattr("+i", database)  # immutable: even root cannot write it
        try:
            refused = httpx.post(f"{base}/api/letters", json=supporter(1), timeout=30)
            assert refused.status_code == 503
            assert refused.json()["detail"].startswith("database unavailable")
            assert_friendly_page(httpx.post(f"{base}/letters", data=FORM))
            assert_friendly_page(log_in(staff, base))  # a login writes its session
            FIGURES["faults injected"] = FIGURES.get("faults injected", 0) + 1
        finally:
            chattr("-i", database)
        until(lambda: httpx.get(f"{base}/readyz").status_code == 200, "ready")
        assert httpx.post(f"{base}/api/letters", json=supporter(2), timeout=30).status_code == 200
        assert log_in(staff, base).status_code == 303
        assert server.poll() is None
    assert integrity(database) == "ok"
    assert stored_letters(database) == len(supporter(0)["recipients"]) + len(
        supporter(2)["recipients"]
    )
