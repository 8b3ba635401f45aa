"""Many supporters at once, on a real server (one web process, two render processes), on SQLite
and on PostgreSQL: 50 previews, 50 whole journeys (preview, create, download) and 10 clients that
send half a body and stall, all at once, each on a connection of its own. Every normal request
answers 200, /healthz answers while the journeys wait for a lock or a render, the stalled clients
are answered 408 once the body's time is up, and afterwards every letter is counted exactly once.
How fast /healthz answers under load is measured by benchmarks/burst.py, not here."""

import asyncio
import os
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import Engine, func, select

from app.settings import SOURCE_ROOT
from app.storage.models import Letter
from tests.html_pages import Page
from tests.servers import free_port, running, spawned_children, until

pytestmark = pytest.mark.slow

PREVIEWS = 50
JOURNEYS = 50
STALLED = 10
BODY_TIMEOUT_S = 5
FORM = {"content-type": "application/x-www-form-urlencoded"}


def supporter(number: int) -> list[tuple[str, str]]:
    officials = ["prosecutor-general", "ombudsman", "la-155-1"]
    return [
        ("name", f"Асель Жүсіпова {number}"),
        ("street", "Hauptstraße 5"),
        ("postcode", "10115"),
        ("city", "Berlin"),
        ("country", ("DE", "KZ", "PL")[number % 3]),
        ("language", ("ru", "kk", "en")[number % 3]),
        *[("recipients", official) for official in officials],
        ("message", "Прошу вас вмешаться." if number % 2 else ""),
        ("signature_kind", "typed"),
    ]


@pytest.fixture
def server(app, database_url: str, tmp_path: Path):
    """`letter-campaign serve` as `make run` starts it, with two render processes, warmed up."""
    port = free_port()
    env = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "a shared secret of at least thirty-two characters",
        "LOG_LEVEL": "warning",
        "RENDER_PROCESSES": "2",
        "BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        # A busy machine makes each pack slower, and a pack is refused once its expected wait
        # passes this bound (test_overload.py tests that): here every pack waits its turn.
        "RENDER_MAX_WAIT_S": "600",
    }
    cli = str(SOURCE_ROOT / ".venv" / "bin" / "letter-campaign")
    with running([cli, "serve", "--port", str(port)], env, port, tmp_path / "server.log") as (
        url,
        process,
    ):
        until(lambda: httpx.get(f"{url}/readyz").status_code == 200, "warmed up", 180)
        yield url, process


class Burst:
    """Where the journeys are: how many asked for their letters and for their pack, and how many
    were answered; an event is set once every journey has asked."""

    def __init__(self) -> None:
        self.asked = {"create": 0, "download": 0}
        self.answered = {"create": 0, "download": 0}
        self.all_asked = {"create": asyncio.Event(), "download": asyncio.Event()}

    async def post(
        self, http: httpx.AsyncClient, step: str, path: str, values: list[tuple[str, str]]
    ) -> httpx.Response:
        self.asked[step] += 1
        if self.asked[step] == JOURNEYS:
            self.all_asked[step].set()
        response = await http.post(path, content=urlencode(values), headers=FORM)
        self.answered[step] += 1
        return response


async def preview(http: httpx.AsyncClient, number: int) -> Page:
    response = await http.post("/preview", content=urlencode(supporter(number)), headers=FORM)
    assert response.status_code == 200, response.text[:500]
    return Page(response.text)


async def journey(http: httpx.AsyncClient, number: int, burst: Burst) -> bytes:
    shown = await preview(http, number)
    thanks = await burst.post(http, "create", "/letters", shown.form_values("form.decide"))
    assert thanks.status_code == 200, thanks.text[:500]
    values = Page(thanks.text).form_values("#download")
    pdf = await burst.post(http, "download", "/letters/pdf", values)
    assert pdf.status_code == 200, pdf.text[:500]
    return pdf.content


async def person(base_url: str, work, *args):  # noqa: ANN001, ANN201
    """One supporter on a connection of their own."""
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        return await work(http, *args)


def stalled(base_url: str) -> socket.socket:
    """A client that sends its headers and half of its body, then nothing more."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    body = urlencode(supporter(0)).encode()
    head = (
        f"POST /preview HTTP/1.1\r\nHost: {host}\r\nContent-Type: {FORM['content-type']}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock.sendall(head + body[: len(body) // 2])
    return sock


@contextmanager
def letters_locked(engine: Engine) -> Iterator[None]:
    """Holds the lock a new letter needs: SQLite's one write lock, PostgreSQL's on the table."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("LOCK TABLE letters IN EXCLUSIVE MODE")
        else:
            connection.exec_driver_sql("DELETE FROM letters WHERE 0 = 1")
        yield


async def health(base_url: str) -> list[int]:
    """/healthz asked 20 times, one after another."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        return [(await http.get("/healthz")).status_code for _ in range(20)]


def test_previews_journeys_and_stalled_bodies_at_once(server, app):
    """While every journey waits for the database's lock, then while every download waits for a
    render process (both are held), /healthz still answers: the event loop never waits for a
    lock, a render or a slow body."""
    url, process = server
    slow = [stalled(url) for _ in range(STALLED)]
    renderers = spawned_children(process)
    assert len(renderers) == 2
    burst = Burst()

    async def held() -> dict:
        seen = {}
        with letters_locked(app.state.engine):
            async with asyncio.timeout(120):
                await burst.all_asked["create"].wait()
            seen["health, letters locked"] = await health(url)
            seen["created meanwhile"] = burst.answered["create"]
        async with asyncio.timeout(120):
            await burst.all_asked["download"].wait()
        seen["health, renders stopped"] = await health(url)
        seen["downloaded meanwhile"] = burst.answered["download"]
        for pid in renderers:
            os.kill(pid, signal.SIGCONT)
        return seen

    async def everyone():
        work = [person(url, preview, n) for n in range(PREVIEWS)]
        work += [person(url, journey, n, burst) for n in range(JOURNEYS)]
        return await asyncio.gather(*work, held())

    for pid in renderers:
        os.kill(pid, signal.SIGSTOP)
    try:
        *results, seen = asyncio.run(everyone())
    finally:
        for pid in renderers:
            os.kill(pid, signal.SIGCONT)
    assert seen == {
        "health, letters locked": [200] * 20,
        "created meanwhile": 0,
        "health, renders stopped": [200] * 20,
        "downloaded meanwhile": 0,
    }
    pdfs = results[PREVIEWS:]
    assert all(pdf.startswith(b"%PDF") for pdf in pdfs)

    for sock in slow:
        sock.settimeout(BODY_TIMEOUT_S + 30)
        answer = sock.recv(200)
        sock.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer

    with httpx.Client(base_url=url) as http:
        stats = http.get("/api/stats").json()
    assert stats["generated"] == JOURNEYS * 3
    with app.state.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Letter)) == JOURNEYS * 3
