"""Slowing down password guessing without letting a stranger lock staff out.

Each client (an address, an IPv6 /64, or a browser's device cookie) gets a few free tries and then
a lock that doubles, for itself alone. All clients together get a budget of failures per account
(per hour and per day); once strangers have spent it, only browsers that logged in to the account
before, holding its device cookie, may try. Every refusal looks like a wrong password.
"""

import os
import subprocess
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select

import app.storage.staff as staff
from app.settings import SOURCE_ROOT
from app.storage.models import LoginFailure, Staff
from app.storage.staff import (
    ACCOUNT_CEILINGS,
    DEVICE_MAX_AGE,
    FIRST_LOCK,
    FREE_ATTEMPTS,
    lock_period,
)
from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD
from tests.staff_pages import csrf_token, log_in, refusal

CLI = str(SOURCE_ROOT / ".venv" / "bin" / "letter-campaign")
HOURLY, DAILY = (ceiling for _, ceiling in ACCOUNT_CEILINGS)
OWNER_AT_HOME, OWNER_TRAVELLING = "198.51.100.7", "192.0.2.200"


def browser(app, address: str) -> TestClient:
    """A browser of its own (cookies) at this address."""
    return TestClient(app, client=(address, 40000))


def strangers(app, count: int) -> list[TestClient]:
    return [browser(app, f"203.0.113.{number}") for number in range(1, count + 1)]


@pytest.fixture(autouse=True)
def quick_hashing(monkeypatch) -> None:
    """Argon2 with the least work, for the thousands of guesses here (the real parameters'
    hashes are tested in test_staff_accounts.py); accounts are made after this."""
    monkeypatch.setattr(staff, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    monkeypatch.setattr(staff, "_dummy_hash", None)


@pytest.fixture
def password_checks(app, staff_account, clock, monkeypatch) -> list:
    """The moments at which the account's real password hash was checked, that is, a guess got
    a real answer (a refusal checks a dummy hash instead)."""
    with app.state.sessionmaker() as db:
        real = db.scalar(select(Staff.password_hash).where(Staff.email == STAFF_EMAIL))
    checks, verify = [], staff._verify

    def counted(password_hash: str, password: str) -> bool:
        if password_hash == real:
            checks.append(clock.now)
        return verify(password_hash, password)

    monkeypatch.setattr(staff, "_verify", counted)
    return checks


def guess(client: TestClient, number: int = 0) -> int:
    """A wrong password, sent from the login page the client was last shown."""
    token = client.cookies.get("staff_login_form") or csrf_token(client.get("/login").text)
    attempt = {"email": STAFF_EMAIL, "password": f"wrong guess {number}", "csrf_token": token}
    return client.post("/login", data=attempt, follow_redirects=False).status_code


def spend_the_budget(app, clock) -> None:
    """Strangers at many addresses guess until the account's hourly budget is spent."""
    for number, client in enumerate(strangers(app, 2 * HOURLY // FREE_ATTEMPTS)):
        for attempt in range(FREE_ATTEMPTS):
            assert guess(client, number * 100 + attempt) == 401


def test_a_stranger_guessing_locks_out_only_themselves(app, staff_account, clock, password_checks):
    attacker = browser(app, "203.0.113.5")
    for attempt in range(3 * FREE_ATTEMPTS):
        assert guess(attacker, attempt) == 401
    assert len(password_checks) == FREE_ATTEMPTS  # then locked: no more real answers

    # The owner, on a browser that never logged in before, gets in at once.
    owner = browser(app, OWNER_AT_HOME)
    assert log_in(owner, *staff_account).status_code == 303

    # The stranger stays locked, even with the right password, for a while that doubles.
    assert log_in(attacker, *staff_account).status_code == 401
    clock.now += FIRST_LOCK
    assert guess(attacker) == 401  # a sixth guess, checked
    clock.now += FIRST_LOCK
    assert log_in(attacker, *staff_account).status_code == 401
    assert len(password_checks) == FREE_ATTEMPTS + 2  # the owner's and the sixth guess


def test_an_ipv6_client_is_counted_per_64(app, staff_account, password_checks):
    """One subscriber usually holds a whole /64: its addresses are one client."""
    for number in range(1, 3 * FREE_ATTEMPTS):
        assert guess(browser(app, f"2001:db8:1:2::{number:x}"), number) == 401
    assert len(password_checks) == FREE_ATTEMPTS
    assert log_in(browser(app, "2001:db8:1:3::1"), *staff_account).status_code == 303


@pytest.mark.slow  # hashes a password for each of 600 guesses
def test_guessing_from_many_clients_stays_within_the_accounts_budget(
    app, staff_account, clock, password_checks
):
    """Twelve strangers' addresses guess every half hour for a day and an hour: the account's
    password is checked at most HOURLY times in any hour and DAILY times in any day."""
    started = clock.now
    clients = strangers(app, 12)
    while clock.now < started + timedelta(hours=25):
        for number, client in enumerate(clients):
            assert guess(client, number) == 401
        clock.now += timedelta(minutes=30)

    def most_within(window: timedelta) -> int:
        return max(sum(at <= t < at + window for t in password_checks) for at in password_checks)

    assert most_within(timedelta(hours=1)) == HOURLY
    assert most_within(timedelta(days=1)) == DAILY
    assert len(password_checks) <= DAILY + HOURLY


def test_one_client_alone_cannot_spend_the_accounts_budget(
    app, staff_account, clock, password_checks
):
    """The budget is above what one client can try alone, so a lone stranger cannot close the
    account even to browsers it has never seen."""
    attacker = browser(app, "203.0.113.5")
    started = clock.now
    while clock.now < started + timedelta(days=1):
        assert guess(attacker) == 401
        clock.now += max(lock_period(len(password_checks)), timedelta(seconds=1))  # no sooner
    assert len(password_checks) < DAILY
    assert log_in(browser(app, OWNER_TRAVELLING), *staff_account).status_code == 303


@pytest.mark.slow
def test_with_its_device_cookie_the_owner_gets_in_when_strangers_spent_the_budget(
    app, staff_account, clock, password_checks, database_url
):
    at_home = browser(app, OWNER_AT_HOME)
    assert log_in(at_home, *staff_account).status_code == 303
    assert at_home.cookies.get("staff_device")
    at_home.cookies.delete("staff_session")  # logged out; the browser is still remembered

    spend_the_budget(app, clock)
    assert len(password_checks) == 1 + HOURLY

    # A browser that never logged in is refused like a wrong password, right password or not.
    new_browser = browser(app, OWNER_TRAVELLING)
    unknown = refusal(log_in(new_browser, "nobody@example.org", STAFF_PASSWORD))
    assert refusal(log_in(new_browser, *staff_account)) == unknown
    assert len(password_checks) == 1 + HOURLY
    listed = cli(database_url, "staff", "list").stdout
    assert f"{HOURLY} failed logins in 24 h" in listed
    assert "new browsers refused until" in listed

    # The remembered browser gets in, from wherever it is now.
    travelling = browser(app, OWNER_TRAVELLING)
    travelling.cookies.set("staff_device", at_home.cookies["staff_device"], path="/login")
    assert log_in(travelling, *staff_account).status_code == 303

    # An hour later the hourly budget is back: new browsers may try again.
    clock.now += timedelta(hours=1)
    assert log_in(browser(app, "192.0.2.201"), *staff_account).status_code == 303


def test_a_browser_refused_for_the_spent_budget_costs_the_same_hashing_work(
    app, staff_account, clock, monkeypatch
):
    """One Argon2 check, on a dummy hash, with no connection held: the time an answer takes
    does not tell a spent budget from a wrong password."""
    spend_the_budget(app, clock)
    pool, connections, verify = app.state.engine.pool, [], staff._verify

    def watched(password_hash: str, password: str) -> bool:
        connections.append(pool.checkedout())
        return verify(password_hash, password)

    monkeypatch.setattr(staff, "_verify", watched)
    assert log_in(browser(app, OWNER_TRAVELLING), *staff_account).status_code == 401
    assert connections == [0]


def test_a_device_cookie_opens_only_its_account_and_only_for_a_while(app, staff_account, clock):
    at_home = browser(app, OWNER_AT_HOME)
    assert log_in(at_home, *staff_account).status_code == 303
    remembered = at_home.cookies["staff_device"]
    with app.state.sessionmaker() as db:
        staff.add_staff(db, "other@example.org", "another long password", clock.now)
        db.commit()

    def with_cookie(value: str, email: str, password: str) -> int:
        client = browser(app, OWNER_TRAVELLING)
        client.cookies.set("staff_device", value, path="/login")
        return log_in(client, email, password).status_code

    spend_the_budget(app, clock)
    for number, client in enumerate(strangers(app, 2 * HOURLY // FREE_ATTEMPTS)):
        for attempt in range(FREE_ATTEMPTS):
            log_in(client, "other@example.org", f"wrong {number} {attempt}")
    assert with_cookie(remembered, "other@example.org", "another long password") == 401
    forged = remembered[:-6] + ("AAAAAA" if not remembered.endswith("AAAAAA") else "BBBBBB")
    assert with_cookie(forged, *staff_account) == 401
    assert with_cookie(remembered, *staff_account) == 303

    clock.now += timedelta(seconds=DEVICE_MAX_AGE + 1)
    spend_the_budget(app, clock)
    assert with_cookie(remembered, *staff_account) == 401  # too old: a new browser again


def test_a_stolen_device_cookie_is_locked_after_its_own_free_tries(
    app, staff_account, clock, password_checks
):
    at_home = browser(app, OWNER_AT_HOME)
    assert log_in(at_home, *staff_account).status_code == 303
    stolen = at_home.cookies["staff_device"]
    spend_the_budget(app, clock)
    checks_before = len(password_checks)
    for number in range(3 * FREE_ATTEMPTS):  # from a new address each time
        thief = browser(app, f"192.0.2.{number + 1}")
        thief.cookies.set("staff_device", stolen, path="/login")
        assert guess(thief, number) == 401
    assert len(password_checks) - checks_before == FREE_ATTEMPTS


@pytest.mark.slow
def test_unlock_forgets_the_failures_and_reopens_the_account(
    app, staff_account, clock, database_url
):
    spend_the_budget(app, clock)
    assert log_in(browser(app, OWNER_TRAVELLING), *staff_account).status_code == 401
    assert cli(database_url, "staff", "unlock", STAFF_EMAIL).returncode == 0
    assert "failed logins" not in cli(database_url, "staff", "list").stdout
    assert log_in(browser(app, OWNER_TRAVELLING), *staff_account).status_code == 303


def test_failures_keep_only_a_keyed_hash_of_the_client_and_only_for_a_day(
    app, staff_account, clock
):
    address = "203.0.113.77"
    assert guess(browser(app, address)) == 401
    with app.state.sessionmaker() as db:
        [row] = db.scalars(select(LoginFailure))
    assert address not in row.client and len(row.client) == 64
    assert int(row.client, 16)  # hex of an HMAC, nothing readable

    clock.now += timedelta(days=1, seconds=1)
    assert log_in(browser(app, "192.0.2.9"), "nobody@example.org", "x").status_code == 401
    with app.state.sessionmaker() as db:
        assert db.scalars(select(LoginFailure)).all() == []


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url},
        timeout=60,
    )
