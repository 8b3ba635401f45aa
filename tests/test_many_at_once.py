"""Many supporters at once, on a real server (one web process, two render processes), on SQLite
and on PostgreSQL: 50 previews, 50 whole journeys (preview, create, download) and 10 clients that
send half a body and stall, all at once, each on a connection of its own. Every normal request
answers 200, /healthz answers throughout (99 % within 100 ms), the stalled clients are answered
408 once the body's time is up, and afterwards every letter is counted exactly once."""

import asyncio
import multiprocessing
import socket
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import func, select

from app.settings import SOURCE_ROOT
from app.storage.models import Letter
from tests.html_pages import Page
from tests.servers import free_port, running

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
    """`letter-campaign serve` as `make run` starts it, with two render processes."""
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
        _,
    ):
        yield url


async def preview(http: httpx.AsyncClient, number: int) -> Page:
    response = await http.post("/preview", content=urlencode(supporter(number)), headers=FORM)
    assert response.status_code == 200, response.text[:500]
    return Page(response.text)


async def journey(http: httpx.AsyncClient, number: int) -> bytes:
    shown = await preview(http, number)
    values = shown.form_values("form.decide")
    thanks = await http.post("/letters", content=urlencode(values), headers=FORM)
    assert thanks.status_code == 200, thanks.text[:500]
    values = Page(thanks.text).form_values("#download")
    pdf = await http.post("/letters/pdf", content=urlencode(values), headers=FORM)
    assert pdf.status_code == 200, pdf.text[:500]
    return pdf.content


async def person(base_url: str, work, number: int):  # noqa: ANN001, ANN201
    """One supporter on a connection of their own."""
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        return await work(http, number)


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


def probe_health(base_url: str, stop, results) -> None:  # noqa: ANN001 (multiprocessing)
    """Asks /healthz every 20 ms until `stop` is set, timing each answer; in a process of its own,
    so that the clients' work in this one does not delay it."""
    seconds, failures = [], []
    with httpx.Client(base_url=base_url, timeout=30) as http:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                if http.get("/healthz").status_code != 200:
                    failures.append("status")
            except httpx.HTTPError as exc:
                failures.append(type(exc).__name__)
            seconds.append(time.perf_counter() - started)
            stop.wait(0.02)
    results.put((seconds, failures))


@contextmanager
def health_probe(base_url: str) -> Iterator[dict]:
    context = multiprocessing.get_context("spawn")
    stop, results = context.Event(), context.Queue()
    process = context.Process(target=probe_health, args=(base_url, stop, results), daemon=True)
    process.start()
    found: dict = {}
    try:
        yield found
    finally:
        stop.set()
        found["seconds"], found["failures"] = results.get(timeout=60)
        process.join(30)


def test_previews_journeys_and_stalled_bodies_at_once(server, app):
    slow = [stalled(server) for _ in range(STALLED)]

    async def everyone():
        work = [person(server, preview, n) for n in range(PREVIEWS)]
        work += [person(server, journey, n) for n in range(JOURNEYS)]
        return await asyncio.gather(*work)

    with health_probe(server) as probe:
        results = asyncio.run(everyone())
    pdfs = results[PREVIEWS:]
    assert all(pdf.startswith(b"%PDF") for pdf in pdfs)
    seconds = probe["seconds"]
    assert not probe["failures"]
    assert len(seconds) > 20
    cuts = statistics.quantiles(seconds, n=100)
    print(
        f"\n/healthz during the burst: {len(seconds)} probes, median {cuts[49] * 1000:.1f}"
        f" ms, p99 {cuts[98] * 1000:.1f} ms, slowest {max(seconds) * 1000:.1f} ms"
    )
    # The event loop never stopped: no probe waited behind a render, a slow body or a database
    # lock (with 40 worker threads, the default, one waited 4 s). A probe is a single request
    # on a machine the burst keeps busy, so the bound is on the 99th percentile.
    assert cuts[98] < 0.1
    assert max(seconds) < 1

    for sock in slow:
        sock.settimeout(BODY_TIMEOUT_S + 30)
        answer = sock.recv(200)
        sock.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer

    with httpx.Client(base_url=server) as http:
        stats = http.get("/api/stats").json()
    assert stats["generated"] == JOURNEYS * 3
    with app.state.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Letter)) == JOURNEYS * 3
