"""A second factor for staff: `letter-campaign staff totp EMAIL` enrols a time-based one-time
password (RFC 6238) and ten recovery codes; the account then gives a six-digit code after its
password. A code opens one login, a recovery code one login ever, and wrong codes count towards
the same throttle as wrong passwords. REQUIRE_TOTP says which roles must have one.
"""

import os
import re
import subprocess
from datetime import timedelta

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

import app.storage.staff as staff
from app.main import create_app
from app.settings import SOURCE_ROOT, Settings
from app.storage.models import AuditEntry, LoginFailure, RecoveryCode, Staff, StaffSession
from app.storage.staff import FIRST_LOCK, FREE_ATTEMPTS
from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD
from tests.html_pages import Page
from tests.staff_pages import csrf_token, log_in

CLI = str(SOURCE_ROOT / ".venv" / "bin" / "letter-campaign")
SUITE_TITLE = "Free Almat Zhumagulov and Kenzhebek Abishev"  # tests/campaigns/suite
RECOVERY_CODE = re.compile(r"^[a-z0-9]{5}-[a-z0-9]{5}$", re.MULTILINE)
STEP = timedelta(seconds=30)
PUBLIC = "https://letters.example.org"


def cli(database_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url},
        timeout=60,
    )


def enrol(database_url: str, email: str = STAFF_EMAIL) -> tuple[pyotp.TOTP, list[str], str]:
    """Enrols the account as an admin would; returns its authenticator (read from the printed
    URI, as an app reads it), its recovery codes and everything the command printed."""
    done = cli(database_url, "staff", "totp", email)
    assert done.returncode == 0, done.stderr
    uri = re.search(r"otpauth://\S+", done.stdout)
    assert uri, done.stdout
    return pyotp.parse_uri(uri.group(0)), RECOVERY_CODE.findall(done.stdout), done.stdout


def browser(app, address: str = "198.51.100.7") -> TestClient:
    """A browser of its own (cookies) at this address."""
    return TestClient(app, client=(address, 40000))


def give_password(client: TestClient, email: str = STAFF_EMAIL, password: str = STAFF_PASSWORD):
    """The login form's first step; for an account with a second factor, on to the code."""
    response = log_in(client, email, password)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/login/code"
    assert "staff_session=" not in response.headers.get("set-cookie", "")
    return response


def give_code(client: TestClient, code: str):
    """The second step, sent from the code form the client is shown."""
    form = client.get("/login/code", follow_redirects=False)
    assert form.status_code == 200
    data = {"code": code, "csrf_token": csrf_token(form.text)}
    return client.post("/login/code", data=data, follow_redirects=False)


def logged_in(response) -> bool:
    return (
        response.status_code == 303
        and response.headers["location"] == "/dashboard"
        and "staff_session=" in response.headers.get("set-cookie", "")
    )


def codes_around(totp: pyotp.TOTP, clock) -> set[str]:
    """The codes the service may take now: this step's and its neighbours'."""
    return {totp.at(clock.now + offset * STEP) for offset in (-1, 0, 1)}


def count(app, table) -> int:
    with app.state.sessionmaker() as db:
        return db.scalar(select(func.count()).select_from(table))


def audit_entries(app) -> list[tuple[str, str]]:
    with app.state.sessionmaker() as db:
        return [
            (e.action, e.detail) for e in db.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]


def make_role(app, email: str, role: str) -> None:
    with app.state.sessionmaker() as db:
        db.execute(update(Staff).where(Staff.email == email).values(role=role))
        db.commit()


def require(app, which: str) -> None:
    app.state.settings = app.state.settings.model_copy(update={"require_totp": which})


# --- enrolling and logging in --------------------------------------------------------------------


@pytest.mark.slow
def test_an_enrolled_account_logs_in_with_the_code_its_uri_gives(
    app, client, staff_account, clock, database_url
):
    totp, codes, printed = enrol(database_url)
    assert totp.issuer == SUITE_TITLE and totp.name == STAFF_EMAIL
    assert (totp.digits, totp.interval) == (6, 30)
    assert "▀" in printed or "▄" in printed  # the QR code, drawn in the terminal
    assert len(codes) == len(set(codes)) == 10
    with app.state.sessionmaker() as db:
        hashes = db.scalars(select(RecoveryCode.code_hash)).all()
    assert len(hashes) == 10 and all(h.startswith("$argon2id$") for h in hashes)
    assert audit_entries(app) == [("second factor enrolled", STAFF_EMAIL)]
    listed = cli(database_url, "staff", "list")
    assert "\tsecond factor" in listed.stdout
    assert totp.secret not in listed.stdout + listed.stderr

    # The password alone opens nothing.
    give_password(client)
    assert count(app, StaffSession) == 0
    assert client.get("/dashboard", follow_redirects=False).headers["location"] == "/login"

    response = give_code(client, totp.at(clock.now))
    assert logged_in(response)
    assert client.get("/dashboard").status_code == 200


@pytest.mark.slow
def test_a_code_opens_one_login_only(app, client, staff_account, clock, database_url):
    totp, _, _ = enrol(database_url)
    code = totp.at(clock.now)
    give_password(client)
    assert logged_in(give_code(client, code))

    # Seen over a shoulder, or caught on the way: the same code again, from elsewhere.
    thief = browser(app, "203.0.113.5")
    give_password(thief)
    refused = give_code(thief, code)
    assert refused.status_code == 401
    assert "used already" in Page(refused.text).text("#login-error")
    assert not logged_in(refused)
    # The previous step's code, still within the window allowed for a clock that is off, is
    # older than the one used: refused too.
    assert give_code(thief, totp.at(clock.now - STEP)).status_code == 401
    assert count(app, LoginFailure) == 2  # both counted, as wrong passwords are

    clock.now += STEP
    other = browser(app, "198.51.100.8")
    give_password(other)
    assert logged_in(give_code(other, totp.at(clock.now)))


@pytest.mark.slow
def test_wrong_codes_count_towards_the_same_throttle_as_wrong_passwords(
    app, client, staff_account, clock, database_url
):
    totp, _, _ = enrol(database_url)
    for attempt in range(FREE_ATTEMPTS - 2):
        assert log_in(client, STAFF_EMAIL, f"wrong guess {attempt}").status_code == 401
    give_password(client)  # right: forgets only its own try
    assert count(app, LoginFailure) == FREE_ATTEMPTS - 2
    right = totp.at(clock.now)
    wrong = next(c for c in ("000000", "111111", "222222") if c not in codes_around(totp, clock))
    assert give_code(client, wrong).status_code == 401
    assert give_code(client, "not a code").status_code == 401
    assert count(app, LoginFailure) == FREE_ATTEMPTS

    # Locked now: the right code is refused, and giving the password again does not help.
    assert give_code(client, right).status_code == 401
    assert log_in(client, *staff_account).status_code == 401
    assert count(app, LoginFailure) == FREE_ATTEMPTS and count(app, StaffSession) == 0
    # Another browser, elsewhere, is not locked.
    owner = browser(app, "192.0.2.200")
    give_password(owner)
    assert logged_in(give_code(owner, right))

    clock.now += FIRST_LOCK
    give_password(client)
    assert logged_in(give_code(client, totp.at(clock.now)))
    assert count(app, LoginFailure) == 0  # forgotten once the client got in


@pytest.mark.slow
def test_a_recovery_code_opens_one_login_and_never_another(
    app, client, staff_account, clock, database_url, monkeypatch
):
    _, codes, _ = enrol(database_url)
    pool, connections, verify = app.state.engine.pool, [], staff._verify

    def watched(code_hash: str, code: str) -> bool:
        connections.append(pool.checkedout())
        return verify(code_hash, code)

    monkeypatch.setattr(staff, "_verify", watched)
    give_password(client)
    assert logged_in(give_code(client, codes[3]))
    assert set(connections) == {0}  # the slow hash checks hold no database connection

    again = browser(app, "198.51.100.8")
    give_password(again)
    assert give_code(again, codes[3]).status_code == 401
    clock.now += timedelta(days=2)
    give_password(again)
    assert give_code(again, codes[3]).status_code == 401
    # Typed as people type them: capitals, a space for the hyphen.
    give_password(again)
    assert logged_in(give_code(again, codes[4].upper().replace("-", " ")))
    with app.state.sessionmaker() as db:
        used = db.scalars(select(RecoveryCode).where(RecoveryCode.used_at.is_not(None))).all()
    assert len(used) == 2


@pytest.mark.slow
def test_enrolling_again_replaces_the_secret_and_the_codes_and_remove_removes_it(
    app, client, staff_account, clock, database_url
):
    first, old_codes, _ = enrol(database_url)
    second, new_codes, _ = enrol(database_url)
    assert first.secret != second.secret and not set(old_codes) & set(new_codes)
    give_password(client)
    assert give_code(client, first.at(clock.now)).status_code == 401
    assert give_code(client, old_codes[0]).status_code == 401
    assert logged_in(give_code(client, second.at(clock.now)))

    removed = cli(database_url, "staff", "totp", STAFF_EMAIL, "--remove")
    assert removed.returncode == 0, removed.stderr
    assert count(app, RecoveryCode) == 0
    assert "second factor" not in cli(database_url, "staff", "list").stdout
    assert logged_in(log_in(browser(app), *staff_account))  # the password alone again
    again = cli(database_url, "staff", "totp", STAFF_EMAIL, "--remove")
    assert again.returncode != 0 and "no second factor" in again.stderr
    nobody = cli(database_url, "staff", "totp", "nobody@example.org")
    assert nobody.returncode != 0 and "no account" in nobody.stderr
    assert [action for action, _ in audit_entries(app)] == [
        "second factor enrolled",
        "second factor enrolled",
        "second factor removed",
    ]


def test_the_code_form_needs_a_right_password_first(app, client, staff_account, clock):
    assert client.get("/login/code", follow_redirects=False).headers["location"] == "/login"
    forged = client.post(
        "/login/code", data={"code": "123456", "csrf_token": "forged"}, follow_redirects=False
    )
    assert forged.status_code == 403 and count(app, StaffSession) == 0


@pytest.mark.slow
def test_the_password_step_expires(app, client, staff_account, clock, database_url):
    totp, _, _ = enrol(database_url)
    give_password(client)
    token = csrf_token(client.get("/login/code").text)
    clock.now += timedelta(seconds=staff.SECOND_STEP_MAX_AGE + 1)
    late = {"code": totp.at(clock.now), "csrf_token": token}
    response = client.post("/login/code", data=late, follow_redirects=False)
    assert response.status_code == 403 and count(app, StaffSession) == 0
    assert "expired" in Page(response.text).text(".error")


# --- REQUIRE_TOTP --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("required", "refused"),
    [
        ("admin", {"admin"}),
        ("organiser", {"organiser", "admin"}),
        ("all", {"viewer", "organiser", "admin"}),
    ],
)
def test_a_role_that_must_use_a_second_factor_cannot_reach_the_dashboard_until_enrolled(
    app, staff_account, clock, required, refused
):
    require(app, required)
    for role in ("viewer", "organiser", "admin"):
        make_role(app, STAFF_EMAIL, role)
        response = log_in(browser(app), *staff_account)
        if role in refused:
            assert response.status_code == 403
            page = Page(response.text)
            assert "letter-campaign staff totp staff@example.org" in page.text("main")
            assert "staff_session=" not in response.headers.get("set-cookie", "")
        else:
            assert logged_in(response), role
    assert count(app, StaffSession) == 3 - len(refused)


@pytest.mark.slow
def test_once_enrolled_a_role_that_must_use_it_logs_in_with_its_code(
    app, client, staff_account, clock, database_url
):
    require(app, "admin")
    make_role(app, STAFF_EMAIL, "admin")
    assert log_in(client, *staff_account).status_code == 403
    totp, _, _ = enrol(database_url)
    give_password(client)
    assert logged_in(give_code(client, totp.at(clock.now)))


def test_in_production_admins_must_enrol_unless_require_totp_is_none(
    app, database_url, staff_account, monkeypatch
):
    make_role(app, STAFF_EMAIL, "admin")

    def log_in_to_production():  # with its settings read from its environment
        settings = Settings(
            database_url=database_url,
            secret_key="a production secret of at least 32 characters",
            environment="production",
            public_url=PUBLIC,
        )
        served = create_app(settings)
        try:
            with TestClient(served, base_url=PUBLIC) as production:
                return log_in(production, *staff_account)
        finally:
            served.state.engine.dispose()

    assert log_in_to_production().status_code == 403  # production's default: admins
    monkeypatch.setenv("REQUIRE_TOTP", "None")
    assert logged_in(log_in_to_production())
    monkeypatch.delenv("REQUIRE_TOTP")
    assert Settings().require_totp == "none"  # development (make run) asks nobody
    monkeypatch.setenv("REQUIRE_TOTP", "sometimes")
    with pytest.raises(ValueError, match="require_totp"):
        Settings()
