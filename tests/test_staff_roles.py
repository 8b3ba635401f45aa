"""Staff roles: a viewer reads the numbers and the export, an organiser also steers the campaign,
an admin also changes roles. The server checks the role on every page and form, whatever the
page offers: a form sent by a role that may not (with its CSRF token right) is 403 and changes
nothing. Roles come from the command line and the admins' page; existing accounts became
organisers when the roles came."""

from contextlib import ExitStack
from datetime import date, timedelta

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.routes import dashboard, staff_admin, steering
from app.settings import SOURCE_ROOT
from app.storage.db import alembic_config, make_engine
from app.storage.events import create_event
from app.storage.letters import confirm_posted, record_pack
from app.storage.models import AuditEntry, Base, Staff
from app.storage.offline import record_paper_letters
from app.storage.operations import add_update, pause_official
from app.storage.staff import add_staff, utc_now
from tests.conftest import postgres_database
from tests.html_pages import Page
from tests.servers import free_port, running
from tests.staff_pages import csrf_token, log_in
from tests.test_staff_accounts import cli

PASSWORD = "a long staff password"
EMAILS = {role: f"{role}@example.org" for role in ("viewer", "organiser", "admin")}
STEERING, STAFF_PAGE = "/dashboard/steering", "/dashboard/staff"


@pytest.fixture
def accounts(app, campaign) -> dict[str, int]:
    """One account of each role, and something for every form to change: a paused official,
    a case update, paper letters, letters counted."""
    ids = {}
    with app.state.sessionmaker() as db:
        for role, email in EMAILS.items():
            ids[role] = add_staff(db, email, PASSWORD, utc_now(), role).id
        pause_official(db, campaign, "prosecutor-general", "Ill", "setup")
        record_paper_letters(
            db, "ombudsman", 12, date.today(), "Stall", ids["organiser"], utc_now(), "setup"
        )
        add_update(db, date(2026, 5, 1), {"en": "Hearing set."}, "setup")
        create_event(db, "Write-a-thon", date.today(), "Hall", date.today(), "setup", utc_now())
        token = record_pack(db, campaign.recipients, "en", "DE", date.today())
        confirm_posted(db, token, date.today())
        db.commit()
    return ids


@pytest.fixture
def logged_in(app, accounts):
    """A browser-like client logged in as the given role."""
    with ExitStack() as stack:

        def as_role(role: str) -> TestClient:
            client = stack.enter_context(TestClient(app))
            assert log_in(client, EMAILS[role], PASSWORD).status_code == 303
            return client

        yield as_role


def paper_entry_id(app) -> int:
    from app.storage.models import OfflineLetters

    with app.state.sessionmaker() as db:
        return db.scalar(select(OfflineLetters.id))


def event_id(app) -> int:
    from app.storage.models import Event

    with app.state.sessionmaker() as db:
        return db.scalar(select(Event.id))


def update_id(app) -> int:
    from app.storage.models import CaseUpdate

    with app.state.sessionmaker() as db:
        return db.scalar(select(CaseUpdate.id))


def steering_posts(app) -> list[tuple[str, dict[str, str]]]:
    """Every steering form, each with values an organiser's post would be done with."""
    today = date.today().isoformat()
    return [
        ("/dashboard/campaign-state", {"action": "close", "message_en": "Closed."}),
        ("/dashboard/officials/ombudsman/pause", {"reason": "Moved"}),
        ("/dashboard/officials/prosecutor-general/resume", {}),
        ("/dashboard/officials/ombudsman/verify", {"source_url": "https://example.org/x"}),
        ("/dashboard/replies", {"official": "ombudsman", "received_on": today, "summary": "No."}),
        ("/dashboard/updates", {"posted_on": today, "text_en": "Planted."}),
        (f"/dashboard/updates/{update_id(app)}/delete", {}),
        ("/dashboard/paper-letters", {"official": "ombudsman", "number": "9", "date": today}),
        (f"/dashboard/paper-letters/{paper_entry_id(app)}/delete", {}),
        ("/dashboard/events", {"name": "Write-a-thon", "held_on": today, "place": "Library"}),
        (f"/dashboard/events/{event_id(app)}/end", {}),
        (f"/dashboard/events/{event_id(app)}/posted", {}),
    ]


def admin_posts(accounts: dict[str, int]) -> list[tuple[str, dict[str, str]]]:
    return [
        (f"/dashboard/staff/{accounts['viewer']}/role", {"role": "admin"}),
        (f"/dashboard/staff/{accounts['admin']}/role", {"role": "viewer"}),
        (f"/dashboard/staff/{accounts['organiser']}/role", {"role": "admin"}),
    ]


def every_row(app) -> dict[str, list[tuple]]:
    """The whole database, table by table: what a refused form must leave as it was."""
    with app.state.sessionmaker() as db:
        return {
            table.name: sorted(db.execute(select(table)).all(), key=repr)
            for table in Base.metadata.sorted_tables
        }


def send(client: TestClient, path: str, data: dict[str, str]):
    """Post the form with the session's own CSRF token, as the page would."""
    token = csrf_token(client.get("/dashboard").text)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


def test_the_forms_listed_here_are_every_staff_form(app, accounts):
    """A form added later must join these lists, and so these tests."""
    listed = {path for path, _ in steering_posts(app) + admin_posts(accounts)}
    routes = [
        route
        for router in (dashboard.router, steering.router, staff_admin.router)
        for route in router.routes
        if "POST" in route.methods and route.path not in ("/login", "/logout")
    ]
    for route in routes:
        assert any(route.path_regex.match(path) for path in listed), route.path


def test_a_viewer_posting_any_steering_or_admin_form_gets_403_and_nothing_changes(
    app, accounts, logged_in
):
    viewer = logged_in("viewer")
    before = every_row(app)
    for path, data in steering_posts(app) + admin_posts(accounts):
        refused = send(viewer, path, data)
        assert refused.status_code == 403, path
        assert "Your account may not do this" in refused.text
        assert "your account is viewer" in refused.text
    assert every_row(app) == before
    assert "Planted." not in viewer.get("/?lang=en").text


def test_an_organiser_sends_every_steering_form_but_no_admin_form(app, accounts, logged_in):
    organiser = logged_in("organiser")
    before = every_row(app)
    for path, data in admin_posts(accounts):
        assert send(organiser, path, data).status_code == 403, path
    assert every_row(app) == before
    for path, data in steering_posts(app):
        done = send(organiser, path, data)
        assert done.status_code == 303, (path, done.text)
        assert done.headers["location"].startswith(f"{STEERING}#")
    assert "Planted." in organiser.get("/?lang=en").text
    with app.state.sessionmaker() as db:
        roles = dict(db.execute(select(Staff.email, Staff.role)).all())
    assert roles == {email: role for role, email in EMAILS.items()}


def links_and_forms(page: str) -> tuple[list[str], list[str]]:
    """The staff pages the navigation offers, and where the page's forms post."""
    found = Page(page)
    return found.texts("nav.pages a"), [form.get("action") for form in found.all("form")]


def test_each_role_is_offered_exactly_its_pages_and_forms(accounts, logged_in):
    viewer, organiser, admin = (logged_in(role) for role in ("viewer", "organiser", "admin"))
    assert links_and_forms(viewer.get("/dashboard").text) == (["Numbers"], ["/logout"])
    assert links_and_forms(organiser.get("/dashboard").text) == (
        ["Numbers", "Steering"],
        ["/logout"],
    )
    assert links_and_forms(admin.get("/dashboard").text)[0] == [
        "Numbers",
        "Steering",
        "Staff accounts",
    ]
    for client in (viewer, organiser, admin):
        assert client.get("/dashboard/export.csv").status_code == 200
    assert viewer.get(STEERING).status_code == 403
    assert viewer.get(STAFF_PAGE).status_code == 403
    assert organiser.get(STAFF_PAGE).status_code == 403
    links, forms = links_and_forms(organiser.get(STEERING).text)
    assert links == ["Numbers", "Steering"]
    assert "/dashboard/campaign-state" in forms and "/dashboard/paper-letters" in forms
    assert not any(form.startswith(STAFF_PAGE) for form in forms)
    assert admin.get(STEERING).status_code == 200
    links, forms = links_and_forms(admin.get(STAFF_PAGE).text)
    assert links == ["Numbers", "Steering", "Staff accounts"]
    assert sorted(forms) == sorted(
        ["/logout"] + [f"{STAFF_PAGE}/{accounts[role]}/role" for role in EMAILS]
    )


def test_an_admin_changes_a_role_at_once_and_the_audit_log_says_who(app, accounts, logged_in):
    admin, viewer = logged_in("admin"), logged_in("viewer")
    page = Page(admin.get(STAFF_PAGE).text)
    listed = {
        row.get("data-staff"): [cell.text or "" for cell in row][:2]
        for row in page.all("#staff-accounts tbody tr")
    }
    assert listed[str(accounts["viewer"])][1] == "viewer"
    assert viewer.get(STEERING).status_code == 403

    promoted = send(admin, f"{STAFF_PAGE}/{accounts['viewer']}/role", {"role": "organiser"})
    assert promoted.status_code == 303 and promoted.headers["location"] == STAFF_PAGE
    assert viewer.get(STEERING).status_code == 200  # the same session, on its next request
    with app.state.sessionmaker() as db:
        [entry] = db.scalars(select(AuditEntry).where(AuditEntry.action == "staff role changed"))
    assert (entry.actor, entry.detail) == (
        EMAILS["admin"],
        "viewer@example.org: viewer -> organiser",
    )


def test_the_last_admin_keeps_the_role_and_a_wrong_role_is_named(app, accounts, logged_in):
    admin = logged_in("admin")
    before = every_row(app)
    alone = send(admin, f"{STAFF_PAGE}/{accounts['admin']}/role", {"role": "organiser"})
    assert alone.status_code == 409
    assert "admin@example.org is the only admin" in Page(alone.text).text("#staff-error")
    wrong = send(admin, f"{STAFF_PAGE}/{accounts['viewer']}/role", {"role": "root"})
    assert wrong.status_code == 422
    assert "role" in Page(wrong.text).text("#staff-error")
    missing = send(admin, f"{STAFF_PAGE}/999999/role", {"role": "viewer"})
    assert missing.status_code == 404
    forged = admin.post(
        f"{STAFF_PAGE}/{accounts['viewer']}/role", data={"role": "admin", "csrf_token": "forged"}
    )
    assert forged.status_code == 403
    assert every_row(app) == before

    assert send(admin, f"{STAFF_PAGE}/{accounts['organiser']}/role", {"role": "admin"}).is_redirect
    stepped_down = send(admin, f"{STAFF_PAGE}/{accounts['admin']}/role", {"role": "organiser"})
    assert stepped_down.status_code == 303
    assert admin.get(STAFF_PAGE).status_code == 403
    assert admin.get(STEERING).status_code == 200


# --- the command line ----------------------------------------------------------------------------


def roles_in(app) -> dict[str, str]:
    with app.state.sessionmaker() as db:
        return dict(db.execute(select(Staff.email, Staff.role)).all())


@pytest.mark.slow
def test_the_command_line_adds_accounts_with_a_role_and_changes_it(app, database_url):
    stdin = PASSWORD + "\n"
    assert cli(database_url, "staff", "add", "a@example.org", stdin=stdin).returncode == 0
    viewer = cli(database_url, "staff", "add", "v@example.org", "--role", "viewer", stdin=stdin)
    assert viewer.returncode == 0 and "as viewer" in viewer.stderr
    wrong = cli(database_url, "staff", "add", "x@example.org", "--role", "owner", stdin=stdin)
    assert wrong.returncode == 2 and "viewer, organiser, admin" in wrong.stderr
    assert roles_in(app) == {"a@example.org": "organiser", "v@example.org": "viewer"}

    made = cli(database_url, "staff", "role", "A@example.org", "admin")
    assert made.returncode == 0, made.stderr
    assert "a@example.org is now admin (was organiser)" in made.stderr
    listed = cli(database_url, "staff", "list")
    assert [line.split("\t")[:2] for line in listed.stdout.splitlines()] == [
        ["a@example.org", "admin"],
        ["v@example.org", "viewer"],
    ]
    last = cli(database_url, "staff", "role", "a@example.org", "viewer")
    assert last.returncode == 2 and "only admin" in last.stderr
    unknown = cli(database_url, "staff", "role", "nobody@example.org", "viewer")
    assert unknown.returncode == 2 and "no account for nobody@example.org" in unknown.stderr
    bad = cli(database_url, "staff", "role", "v@example.org", "superuser")
    assert bad.returncode == 2
    assert roles_in(app) == {"a@example.org": "admin", "v@example.org": "viewer"}
    with app.state.sessionmaker() as db:
        log = db.execute(select(AuditEntry.action, AuditEntry.detail).order_by(AuditEntry.id)).all()
    assert [tuple(row) for row in log] == [
        ("staff account added", "a@example.org (organiser)"),
        ("staff account added", "v@example.org (viewer)"),
        ("staff role changed", "a@example.org: organiser -> admin"),
    ]


# --- the migration -------------------------------------------------------------------------------


def test_accounts_made_before_roles_become_organisers(database_url, tmp_path):
    def check(url: str) -> None:
        config = alembic_config(url)
        command.upgrade(config, "0005")
        engine = make_engine(url)
        try:
            staff = Base.metadata.tables["staff"]
            with engine.begin() as connection:
                connection.execute(
                    text(
                        "INSERT INTO staff (email, password_hash, created_at)"
                        " VALUES ('old@example.org', 'x', :now)"
                    ),
                    {"now": utc_now()},
                )
            command.upgrade(config, "0006")
            with engine.connect() as connection:
                assert connection.execute(select(staff.c.email, staff.c.role)).all() == [
                    ("old@example.org", "organiser")
                ]
            command.downgrade(config, "0005")
            command.upgrade(config, "head")
        finally:
            engine.dispose()

    if database_url.startswith("sqlite"):
        check(f"sqlite:///{tmp_path / 'before-roles.db'}")
    else:
        with postgres_database() as url:
            check(url)


# --- in a real browser ---------------------------------------------------------------------------

PAGES_OF = {
    "viewer": ["Numbers"],
    "organiser": ["Numbers", "Steering"],
    "admin": ["Numbers", "Steering", "Staff accounts"],
}
SCREENS = {390: {"width": 390, "height": 844}, 1280: {"width": 1280, "height": 800}}


@pytest.fixture
def served(tmp_path, campaign):
    """A server on a database with an account of each role and a month of letters."""
    from app.storage.db import migrate

    database_url = f"sqlite:///{tmp_path / 'roles.db'}"
    migrate(database_url)
    engine = make_engine(database_url)
    today = date.today()
    with Session(engine) as db:
        for role, email in EMAILS.items():
            add_staff(db, email, PASSWORD, utc_now(), role)
        for day in range(30):
            when = today - timedelta(days=day)
            for n in range(day % 7 + 1):
                token = record_pack(db, campaign.recipients[: n % 5 + 1], "en", "DE", when)
                if n % 2:
                    confirm_posted(db, token, when)
        db.commit()
    engine.dispose()
    port = free_port()
    command = [str(SOURCE_ROOT / ".venv" / "bin" / "letter-campaign"), "serve", "--port", str(port)]
    env = {"DATABASE_URL": database_url, "SECRET_KEY": "browser-test-secret"}
    with running(command, env, port, tmp_path / "server.log") as (base_url, _):
        yield base_url


def browser_log_in(browser, base_url: str, role: str, **options):
    context = browser.new_context(bypass_csp=True, **options)  # axe-core is injected inline
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base_url}/login")
    page.fill("#email", EMAILS[role])
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/dashboard")
    return context, page


def offered(page) -> tuple[list[str], list[str]]:
    links = page.locator("nav.pages a").all_inner_texts()
    forms = page.eval_on_selector_all("form", "fs => fs.map(f => f.getAttribute('action'))")
    return links, forms


@pytest.mark.browser
def test_each_role_finds_exactly_its_pages_and_forms_in_a_browser(served):
    from playwright.sync_api import sync_playwright

    from tests.test_dashboard import axe_violations, wider_than_the_window

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        for role, pages in PAGES_OF.items():
            context, page = browser_log_in(browser, served, role, viewport=SCREENS[1280])
            assert offered(page) == (pages, ["/logout"]), role
            for name, path in [("Steering", STEERING), ("Staff accounts", STAFF_PAGE)]:
                if name in pages:
                    page.goto(f"{served}/dashboard")
                    page.click(f"nav.pages >> text={name}")
                    page.wait_for_url(f"{served}{path}")
                    assert page.locator("nav.pages [aria-current=page]").inner_text() == name
                    assert axe_violations(page) == []
                    assert wider_than_the_window(page) <= 0
                else:
                    refused = page.goto(f"{served}{path}")
                    assert refused.status == 403, (role, path)
                    assert "Your account may not do this" in page.inner_text("main")
            if "Steering" in pages:
                page.goto(f"{served}{STEERING}")
                links, forms = offered(page)
                assert links == pages
                assert {"/dashboard/campaign-state", "/dashboard/replies", "/dashboard/updates",
                        "/dashboard/paper-letters"} <= set(forms)  # fmt: skip
                assert not any(form.startswith(STAFF_PAGE) for form in forms)
            if "Staff accounts" in pages:
                page.goto(f"{served}{STAFF_PAGE}")
                rows = page.locator("#staff-accounts tbody th").all_inner_texts()
                assert rows == sorted(EMAILS.values())
                viewer_row = page.locator(f"#staff-accounts tr:has-text('{EMAILS['viewer']}')")
                viewer_row.locator("select").select_option("organiser")
                viewer_row.locator("button").click()
                page.wait_for_url(f"{served}{STAFF_PAGE}")
                assert viewer_row.locator("td").first.inner_text() == "organiser"
            context.close()
        browser.close()


@pytest.mark.browser
def test_the_numbers_come_first_on_a_phone_and_a_desktop_and_ranges_need_no_javascript(served):
    from playwright.sync_api import sync_playwright

    from tests.test_dashboard import axe_violations, wider_than_the_window

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        for width, viewport in SCREENS.items():
            context, page = browser_log_in(browser, served, "admin", viewport=viewport)
            page.screenshot(path=f"/tmp/dash-{width}.png")
            totals = page.locator("#totals").bounding_box()
            progress = page.locator("#progress-text").bounding_box()
            assert progress["y"] < totals["y"] < viewport["height"], width
            assert totals["y"] + totals["height"] <= viewport["height"], width
            assert wider_than_the_window(page) <= 0, width
            assert axe_violations(page) == []
            context.close()

        context, page = browser_log_in(
            browser, served, "viewer", viewport=SCREENS[390], java_script_enabled=False
        )
        page.click("nav.ranges >> text=Last 7 days")
        page.wait_for_url(f"{served}/dashboard?days=7#chart-heading")
        assert page.locator("#days tbody tr").count() == 7
        assert page.locator("svg rect[data-series]").count() == 2 * 7
        page.click("nav.ranges >> text=Everything")
        page.wait_for_url(f"{served}/dashboard?days=all#chart-heading")
        assert page.locator("#days tbody tr").count() == 30
        context.close()
        browser.close()
