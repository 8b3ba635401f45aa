"""Counts that are never wrong: two server processes on one database (SQLite, then PostgreSQL)
take hundreds of downloads and confirmations at once, some confirmations sent twice, and
afterwards every letter is counted exactly once and no request failed.

Each request opens its own connection: kept-alive connections would all land on one process.
The staff session is opened on one server and used on the other, so nothing that matters lives
in a process's memory.
"""

import csv
import io
import random
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, as_completed

import httpx
import pytest
from sqlalchemy import func, select

from app.storage.models import Letter
from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD
from tests.staff_pages import csrf_token

pytestmark = pytest.mark.slow

DOWNLOADS = 200
THREADS = 12
DEADLINE_S = 300  # for all requests together; each takes well under a second
LANGUAGES = ("en", "ru", "kk")
COUNTRIES = ("DE", "KZ", "PL", "FR")


def supporter(number: int, recipients: list[str]) -> dict:
    return {
        "name": f"Supporter {number}",
        "street": "Hauptstraße 5",
        "postcode": "10115",
        "city": "Berlin",
        "country": COUNTRIES[number % len(COUNTRIES)],
        "language": LANGUAGES[number % len(LANGUAGES)],
        "recipients": recipients,
        "message": None,
        "signature": {"kind": "none"},
    }


def download(base_url: str, body: dict) -> tuple[httpx.Response, dict]:
    """On a connection of its own: a module-level call opens and closes one per request."""
    return httpx.post(f"{base_url}/api/letters", json=body, timeout=60), body


def confirm(base_url: str, token: str) -> httpx.Response:
    return httpx.post(f"{base_url}/api/letters/{token}/sent", timeout=60)


def test_two_servers_count_every_letter_exactly_once(app, campaign, staff_account, two_servers):
    servers = two_servers
    officials = [r.id for r in campaign.recipients]
    chooser = random.Random(4)
    bodies = [supporter(n, chooser.sample(officials, 1 + n % 2)) for n in range(DOWNLOADS)]

    failures: list[str] = []
    confirmed: dict[str, list[str]] = {}
    confirmations: list[Future] = []
    pool = ThreadPoolExecutor(THREADS)
    try:
        downloads = [pool.submit(download, servers[n % 2], body) for n, body in enumerate(bodies)]
        deadline = time.monotonic() + DEADLINE_S
        for n, done in enumerate(as_completed(downloads, timeout=DEADLINE_S)):
            response, body = done.result()
            if response.status_code != 200 or response.content[:5] != b"%PDF-":
                failures.append(f"download: {response.status_code} {response.text[:200]}")
                continue
            token = response.headers["letter-token"]
            if n % 3 == 2:
                continue  # never confirmed
            confirmed[token] = body["recipients"]
            times = 2 if n % 3 == 1 else 1  # some twice, on both servers at once
            for repeat in range(times):
                confirmations.append(pool.submit(confirm, servers[(n + repeat) % 2], token))
        for done in as_completed(confirmations, timeout=deadline - time.monotonic()):
            response = done.result()
            if response.status_code != 200:
                failures.append(f"confirmation: {response.status_code} {response.text[:200]}")
            elif response.json()["sent"] != response.json()["letters"]:
                failures.append(f"confirmation counted {response.json()}")
    finally:
        pool.shutdown(cancel_futures=True)  # past the deadline, queued requests are dropped

    assert failures == []
    assert len(confirmations) > DOWNLOADS // 2
    generated = Counter(official for body in bodies for official in body["recipients"])
    sent = Counter(official for chosen in confirmed.values() for official in chosen)

    with app.state.sessionmaker() as db:
        in_db = db.execute(select(func.count(), func.count(Letter.sent_on))).one()
    assert tuple(in_db) == (sum(generated.values()), sum(sent.values()))

    for base_url in servers:
        stats = httpx.get(f"{base_url}/api/stats", timeout=30).json()
        assert stats["generated"] == sum(generated.values())
        assert stats["sent"] == sum(sent.values())
        assert {r["id"]: r["generated"] for r in stats["recipients"]} == {
            o: generated[o] for o in officials
        }
        assert {r["id"]: r["sent"] for r in stats["recipients"]} == {o: sent[o] for o in officials}

    # Staff open the login form on one server, log in on the other, export from the first.
    with httpx.Client(timeout=30) as browser:
        token = csrf_token(browser.get(f"{servers[0]}/login").text)
        credentials = {"email": STAFF_EMAIL, "password": STAFF_PASSWORD, "csrf_token": token}
        assert browser.post(f"{servers[1]}/login", data=credentials).status_code == 303
        export = browser.get(f"{servers[0]}/dashboard/export.csv")
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"), newline="")))
    assert summed(rows, "generated") == generated
    assert summed(rows, "posted") == sent


def summed(rows: list[dict[str, str]], column: str) -> Counter:
    totals: Counter = Counter()
    for row in rows:
        totals[row["official_id"]] += int(row[column])
    return +totals  # officials with no letters drop out, as in the expected counters
