"""Staff accounts: made on the command line, Argon2-hashed, logged in with a signed session cookie
held in the database, CSRF-protected forms, failed logins slowed per client (and per account in
test_login_throttle.py), and nothing staff-only for anyone without a live session."""

import hashlib
import os
import pty
import re
import select
import signal
import subprocess
import time
from datetime import timedelta
from http.cookies import SimpleCookie

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlalchemy import select as sql_select

from app.settings import SOURCE_ROOT
from app.storage.letters import record_pack
from app.storage.models import AuditEntry, LoginFailure, Staff, StaffSession
from app.storage.staff import FIRST_LOCK, FREE_ATTEMPTS, add_staff, utc_now
from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD
from tests.staff_pages import csrf_token, dashboard_token, log_in, refusal

CLI = str(SOURCE_ROOT / ".venv" / "bin" / "letter-campaign")
STAFF_URLS = [
    ("GET", "/dashboard"),
    ("GET", "/dashboard/steering"),
    ("GET", "/dashboard/staff"),
    ("POST", "/logout"),
    ("POST", "/dashboard/paper-letters"),
    ("POST", "/dashboard/paper-letters/1/delete"),
    ("POST", "/dashboard/staff/1/role"),
]


def cli(database_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url},
        timeout=60,
    )


def fetch(app, method: str, url: str, cookies: dict[str, str], **kwargs):
    """One request from a browser holding exactly these cookies."""
    header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    return TestClient(app).request(
        method, url, headers={"Cookie": header} if header else {}, follow_redirects=False, **kwargs
    )


def staff_rows(app) -> list[Staff]:
    with app.state.sessionmaker() as db:
        return list(db.scalars(sql_select(Staff).order_by(Staff.email)))


def failure_count(app) -> int:
    with app.state.sessionmaker() as db:
        return db.scalar(sql_select(func.count()).select_from(LoginFailure))


def session_count(app) -> int:
    with app.state.sessionmaker() as db:
        return db.scalar(sql_select(func.count()).select_from(StaffSession))


def cookie_attributes(response) -> dict[str, str]:
    header = next(h for h in response.headers.get_list("set-cookie") if "staff_session=" in h)
    parsed = SimpleCookie()
    parsed.load(header)
    morsel = parsed["staff_session"]
    return {key: str(morsel[key]) for key in morsel if morsel[key]} | {"value": morsel.value}


# --- the command line -----------------------------------------------------------------------------


@pytest.mark.slow
def test_staff_add_reads_the_password_from_a_pipe_and_keeps_only_an_argon2_hash(
    app, client, database_url
):
    done = cli(database_url, "staff", "add", "Press@Example.org", stdin="a long staff password\n")
    assert done.returncode == 0, done.stderr
    [staff] = staff_rows(app)
    assert staff.email == "press@example.org"
    assert staff.password_hash.startswith("$argon2id$")
    assert "a long staff password" not in staff.password_hash
    assert log_in(client, "press@example.org", "a long staff password").status_code == 303
    with app.state.sessionmaker() as db:
        [entry] = db.scalars(sql_select(AuditEntry))
    assert (entry.action, entry.detail) == ("staff account added", "press@example.org (organiser)")
    assert entry.actor.startswith("command line")


@pytest.mark.slow  # runs the command on a terminal
def test_staff_add_asks_twice_on_a_terminal(app, client, database_url):
    def run_on_a_terminal(first: str, second: str) -> tuple[int, str]:
        """Answer each password prompt as it appears on the terminal; return code and screen."""
        pid, terminal = pty.fork()
        if pid == 0:
            env = {**os.environ, "DATABASE_URL": database_url}
            os.execve(CLI, [CLI, "staff", "add", "tty@example.org"], env)  # noqa: S606
        screen, since_answer, answers = b"", b"", [first, second]
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([terminal], [], [], deadline - time.monotonic())
                chunk = os.read(terminal, 1024) if ready else b""
                if not chunk:
                    break
                screen += chunk
                since_answer += chunk
                if answers and since_answer.rstrip().endswith(b":"):
                    os.write(terminal, answers.pop(0).encode() + b"\n")
                    since_answer = b""
        except OSError:  # EIO: the command ended and closed the terminal
            pass
        finally:
            os.close(terminal)
        finished, status = os.waitpid(pid, os.WNOHANG)
        if not finished:  # still waiting for an answer: a failure, not a hang
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), screen.decode(errors="replace")

    code, transcript = run_on_a_terminal("a long staff password", "a different password")
    assert code != 0
    assert "differ" in transcript
    assert staff_rows(app) == []

    code, transcript = run_on_a_terminal("a long staff password", "a long staff password")
    assert code == 0, transcript
    assert "Password for tty@example.org" in transcript
    assert "a long staff password" not in transcript  # not echoed
    assert log_in(client, "tty@example.org", "a long staff password").status_code == 303


@pytest.mark.slow
def test_staff_add_refuses_a_short_password_a_bad_email_and_a_second_account(app, database_url):
    short = cli(database_url, "staff", "add", "a@example.org", stdin="short\n")
    assert short.returncode != 0 and "at least 12 characters" in short.stderr
    bad = cli(database_url, "staff", "add", "not-an-email", stdin="a long staff password\n")
    assert bad.returncode != 0 and "not an email address" in bad.stderr
    assert (
        cli(database_url, "staff", "add", "a@example.org", stdin="a long password 1\n").returncode
        == 0
    )
    again = cli(database_url, "staff", "add", "A@example.org", stdin="a long password 2\n")
    assert again.returncode != 0 and "already has an account" in again.stderr
    assert [s.email for s in staff_rows(app)] == ["a@example.org"]


@pytest.mark.slow
def test_staff_list_and_remove_which_logs_the_account_out(app, staff_client, database_url):
    listed = cli(database_url, "staff", "list")
    assert listed.returncode == 0
    assert listed.stdout.splitlines() == [
        f"{STAFF_EMAIL}\torganiser\tcreated {utc_now():%Y-%m-%d}\t1 sessions"
    ]

    removed = cli(database_url, "staff", "remove", STAFF_EMAIL)
    assert removed.returncode == 0, removed.stderr
    assert cli(database_url, "staff", "list").stdout == ""
    assert staff_client.get("/dashboard", follow_redirects=False).headers["location"] == "/login"
    assert log_in(staff_client, STAFF_EMAIL, STAFF_PASSWORD).status_code == 401
    missing = cli(database_url, "staff", "remove", STAFF_EMAIL)
    assert missing.returncode != 0 and "no account" in missing.stderr
    with app.state.sessionmaker() as db:
        actions = db.scalars(sql_select(AuditEntry.action)).all()
    assert actions == ["staff account removed"]


@pytest.mark.slow
def test_staff_commands_refuse_a_database_that_was_not_migrated(tmp_path):
    done = cli(f"sqlite:///{tmp_path / 'new.db'}", "staff", "list")
    assert done.returncode != 0
    assert "run `letter-campaign migrate`" in done.stderr


# --- logging in and out ---------------------------------------------------------------------------


def test_login_sets_a_signed_httponly_samesite_cookie_that_expires(app, client, staff_account):
    response = log_in(client, *staff_account)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    cookie = cookie_attributes(response)
    assert "httponly" in cookie
    assert cookie["samesite"].lower() in ("lax", "strict")
    assert cookie["max-age"] == str(app.state.settings.session_max_age)
    assert "secure" not in cookie  # plain http here; see the https test below
    token, signature = cookie["value"].rsplit(".", 1)
    with app.state.sessionmaker() as db:
        [row] = db.scalars(sql_select(StaffSession))
    assert row.id_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in row.id_hash

    page = client.get("/dashboard")
    assert page.status_code == 200 and STAFF_EMAIL in page.text

    tampered = token + "." + signature[::-1]
    assert fetch(app, "GET", "/dashboard", {"staff_session": tampered}).status_code == 303


def test_over_https_and_in_production_the_cookie_is_secure(app, staff_account):
    with TestClient(app, base_url="https://testserver") as client:
        response = log_in(client, *staff_account)
        assert response.status_code == 303
        assert "secure" in cookie_attributes(response)
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"environment": "production"})
    # Behind a proxy that speaks http to us, while the browser is on https and sends the cookie.
    token = csrf_token(TestClient(app).get("/login").text)
    credentials = {"email": STAFF_EMAIL, "password": STAFF_PASSWORD, "csrf_token": token}
    behind_a_proxy = fetch(app, "POST", "/login", {"staff_login_form": token}, data=credentials)
    assert behind_a_proxy.status_code == 303
    assert "secure" in cookie_attributes(behind_a_proxy)


def test_logout_deletes_the_session_so_the_old_cookie_opens_nothing(app, staff_client):
    old_cookie = staff_client.cookies["staff_session"]
    response = staff_client.post(
        "/logout", data={"csrf_token": dashboard_token(staff_client)}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert session_count(app) == 0

    replay = fetch(app, "GET", "/dashboard", {"staff_session": old_cookie})
    assert replay.status_code == 303 and replay.headers["location"] == "/login"
    assert (
        fetch(app, "GET", "/dashboard/export.csv", {"staff_session": old_cookie}).status_code == 401
    )


@pytest.mark.slow  # hashes a password for each of many guesses
def test_a_failed_login_never_tells_whether_the_account_exists_or_is_locked(
    app, client, staff_account
):
    """Unknown address, wrong password, locked account: the same answer, so a stranger guessing
    addresses cannot learn which belong to staff."""
    unknown = refusal(log_in(client, "nobody@example.org", STAFF_PASSWORD))
    assert unknown[0] == 401 and "Wrong email or password." in unknown[1]
    assert refusal(log_in(client, STAFF_EMAIL, "not the password at all")) == unknown
    for attempt in range(2 * FREE_ATTEMPTS):  # the account locks on the way
        assert refusal(log_in(client, STAFF_EMAIL, f"guess {attempt}")) == unknown
        assert refusal(log_in(client, "nobody@example.org", f"guess {attempt}")) == unknown
    assert refusal(log_in(client, *staff_account)) == unknown  # locked: even the right password
    assert session_count(app) == 0


def test_logging_in_again_replaces_the_session(app, staff_client):
    first = staff_client.cookies["staff_session"]
    token = csrf_token(TestClient(app).get("/login").text)
    credentials = {"email": STAFF_EMAIL, "password": STAFF_PASSWORD, "csrf_token": token}
    cookies = {"staff_session": first, "staff_login_form": token}
    again = fetch(app, "POST", "/login", cookies, data=credentials)
    assert again.status_code == 303
    second = cookie_attributes(again)["value"]
    assert second != first
    assert session_count(app) == 1
    assert fetch(app, "GET", "/dashboard", {"staff_session": first}).status_code == 303
    assert fetch(app, "GET", "/dashboard", {"staff_session": second}).status_code == 200


def test_a_session_expires_after_session_max_age(app, staff_client, clock):
    assert staff_client.get("/dashboard", follow_redirects=False).status_code == 200
    clock.now += timedelta(seconds=app.state.settings.session_max_age - 60)
    assert staff_client.get("/dashboard", follow_redirects=False).status_code == 200
    clock.now += timedelta(seconds=61)
    expired = staff_client.get("/dashboard", follow_redirects=False)
    assert expired.status_code == 303 and expired.headers["location"] == "/login"
    assert staff_client.get("/dashboard/export.csv").status_code == 401


# --- CSRF -----------------------------------------------------------------------------------------


def test_the_login_form_needs_its_own_token(app, client, staff_account):
    def attempt(token: str) -> int:
        return client.post(
            "/login",
            data={"email": STAFF_EMAIL, "password": STAFF_PASSWORD, "csrf_token": token},
            follow_redirects=False,
        ).status_code

    assert attempt("") == 403  # no token at all
    mine = csrf_token(client.get("/login").text)
    other = csrf_token(TestClient(app).get("/login").text)
    assert attempt(other) == 403  # a token from somebody else's form
    # A token we did not sign, in both places: one character of the signature changed (not the
    # last one, whose low bits base64 ignores; "xx" there once left a valid signature).
    at = len(mine) - 8
    unsigned = mine[:at] + ("A" if mine[at] != "A" else "B") + mine[at + 1 :]
    credentials = {"email": STAFF_EMAIL, "password": STAFF_PASSWORD, "csrf_token": unsigned}
    assert (
        fetch(app, "POST", "/login", {"staff_login_form": unsigned}, data=credentials).status_code
        == 403
    )
    assert session_count(app) == 0
    assert log_in(client, *staff_account).status_code == 303


def test_staff_forms_refuse_a_missing_or_wrong_csrf_token(app, staff_client):
    for data in ({}, {"csrf_token": "forged"}):
        refused = staff_client.post("/logout", data=data, follow_redirects=False)
        assert refused.status_code == 403
        assert "was refused" in refused.text
    assert session_count(app) == 1
    assert staff_client.get("/dashboard", follow_redirects=False).status_code == 200


# --- slowing down guessing ------------------------------------------------------------------------


def test_every_refused_login_does_the_same_hashing_work_holding_no_connection(
    app, client, staff_account, monkeypatch
):
    """Unknown address, wrong password, locked account: one Argon2 check each, with no database
    transaction open, so neither the time an answer takes nor a supporter's write waiting on
    the database lock tells them apart."""
    import app.storage.staff as staff

    pool, connections, verify = app.state.engine.pool, [], staff._verify

    def watched(password_hash: str, password: str) -> bool:
        connections.append(pool.checkedout())
        return verify(password_hash, password)

    monkeypatch.setattr(staff, "_verify", watched)
    log_in(client, "nobody@example.org", STAFF_PASSWORD)
    for attempt in range(FREE_ATTEMPTS):
        log_in(client, STAFF_EMAIL, f"guess {attempt}")
    assert log_in(client, *staff_account).status_code == 401  # locked
    assert connections == [0] * (FREE_ATTEMPTS + 2)


@pytest.mark.slow
def test_an_account_locked_by_guessing_is_unlocked_from_the_command_line(
    app, client, staff_account, database_url
):
    for attempt in range(FREE_ATTEMPTS):
        log_in(client, STAFF_EMAIL, f"guess {attempt}")
    assert log_in(client, *staff_account).status_code == 401
    assert "locked until" in cli(database_url, "staff", "list").stdout
    unlocked = cli(database_url, "staff", "unlock", STAFF_EMAIL.upper())
    assert unlocked.returncode == 0, unlocked.stderr
    assert log_in(client, *staff_account).status_code == 303
    missing = cli(database_url, "staff", "unlock", "nobody@example.org")
    assert missing.returncode != 0 and "no account" in missing.stderr
    with app.state.sessionmaker() as db:
        actions = db.scalars(sql_select(AuditEntry.action)).all()
    assert actions == ["staff account unlocked"]


def test_repeated_failed_logins_lock_the_client_for_longer_each_time(
    app, client, staff_account, clock
):
    for attempt in range(1, FREE_ATTEMPTS + 1):
        assert log_in(client, STAFF_EMAIL, f"guess number {attempt}").status_code == 401
    # Locked now: even the right password is refused, and without checking it.
    assert log_in(client, *staff_account).status_code == 401
    assert session_count(app) == 0
    assert failure_count(app) == FREE_ATTEMPTS  # a refusal while locked is no failure

    clock.now += FIRST_LOCK + timedelta(seconds=1)
    assert log_in(client, STAFF_EMAIL, "another wrong guess").status_code == 401
    clock.now += FIRST_LOCK + timedelta(seconds=1)
    assert log_in(client, *staff_account).status_code == 401  # the second lock is twice as long

    # Another account is not affected.
    with app.state.sessionmaker() as db:
        add_staff(db, "other@example.org", "another long password", clock.now)
        db.commit()
    assert log_in(client, "other@example.org", "another long password").status_code == 303

    clock.now += FIRST_LOCK
    client.cookies.clear()
    assert log_in(client, *staff_account).status_code == 303
    assert failure_count(app) == 0  # forgotten once the client got in


# --- nothing for anyone else ----------------------------------------------------------------------


def test_every_staff_url_needs_a_live_session_and_tells_nothing(app, campaign, clock):
    with app.state.sessionmaker() as db:
        record_pack(db, campaign.recipients, "en", "DE", clock.now.date())
        db.commit()
    cookies = {
        "none": None,
        "forged": "made-up-session-id.bad-signature",
        "unsigned": "made-up-session-id",
    }
    for name, cookie in cookies.items():
        sent = {"staff_session": cookie} if cookie else {}
        for method, url in STAFF_URLS:
            response = fetch(app, method, url, sent)
            assert response.status_code == 303, (name, url)
            assert response.headers["location"] == "/login"
            assert not re.search(r"\d", response.text), (name, url)  # not a single count
        export = fetch(app, "GET", "/dashboard/export.csv", sent)
        assert export.status_code == 401, name
        assert not re.search(r"\d", export.text)
        assert "no-store" in export.headers["cache-control"]
