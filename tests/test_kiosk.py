"""A write-a-thon: one laptop, many supporters. Organisers create an event on the steering page
and get a kiosk link that makes letters only on the event's day (EVENT_TIME_ZONE) until they end
it; the kiosk is the form for one person after another, keeping nothing typed in the browser; its
packs are held to a limit per event, not per address; the dashboard counts letters per event,
and organisers post an event's letters in one action, counted once even while supporters
confirm theirs. On SQLite and PostgreSQL, and in Chromium."""

import io
import re
import secrets
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pdfplumber
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from app.main import create_app
from app.storage.counts import differences, recount
from app.storage.events import create_event
from app.storage.letters import new_token, record_pack_once
from app.storage.models import AuditEntry, Event, Letter, LetterDay
from app.storage.staff import add_staff, utc_now
from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD, TYPED_FORM
from tests.html_pages import Page
from tests.reading import flat
from tests.servers import free_port, running
from tests.staff_pages import csrf_token, log_in, rows_by_label, tables

STEERING = "/dashboard/steering"
VIEWER = "viewer@example.org"
TWO_LETTERS = {**TYPED_FORM, "recipients": ["ombudsman", "prosecutor-general"]}


# --- as organisers and supporters use it ----------------------------------------------------


def today(app) -> date:
    """The day at the service's clock where the events are (UTC in these tests)."""
    return datetime.now(app.state.settings.event_zone).date()


def new_event(
    staff: TestClient, held_on: date, name: str = "Write for Rights", place: str = "Hall"
):
    token = csrf_token(staff.get(STEERING).text)
    data = {"csrf_token": token, "name": name, "held_on": held_on.isoformat(), "place": place}
    return staff.post("/dashboard/events", data=data, follow_redirects=False)


def kiosk_of(app, name: str = "Write for Rights") -> str:
    with app.state.sessionmaker() as db:
        return f"/kiosk/{db.scalar(select(Event.kiosk_token).where(Event.name == name))}"


def event_id(app, name: str = "Write for Rights") -> int:
    with app.state.sessionmaker() as db:
        return db.scalar(select(Event.id).where(Event.name == name))


def as_data(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    data: dict[str, list[str]] = {}
    for name, value in pairs:
        data.setdefault(name, []).append(value)
    return data


def preview(client: TestClient, kiosk: str, form: dict = TYPED_FORM) -> httpx.Response:
    shown = client.post(f"{kiosk}/preview?lang=en", data=form)
    assert shown.status_code == 200, shown.text[:500]
    return shown


def print_form(shown: httpx.Response) -> dict[str, list[str]]:
    """What "Print my letters" posts without JavaScript (kiosk.js adds show=inline)."""
    pairs = Page(shown.text).form_values("form[data-kiosk-print]")
    return as_data([(name, value) for name, value in pairs if name != "show"])


def print_pack(client: TestClient, kiosk: str, form: dict = TYPED_FORM) -> httpx.Response:
    return client.post(f"{kiosk}/letters?lang=en", data=print_form(preview(client, kiosk, form)))


def letters_at(app) -> dict[int | None, tuple[int, int]]:
    """Per event (None: none): letters and letters posted, counted over the rows."""
    with app.state.sessionmaker() as db:
        rows = db.execute(
            select(Letter.event_id, func.count(), func.count(Letter.sent_on)).group_by(
                Letter.event_id
            )
        )
        return {event: (letters, sent) for event, letters, sent in rows}


def audit_actions(app) -> list[str]:
    with app.state.sessionmaker() as db:
        return list(db.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


@pytest.fixture
def viewer(app) -> TestClient:
    with app.state.sessionmaker() as db:
        add_staff(db, VIEWER, STAFF_PASSWORD, utc_now(), "viewer")
        db.commit()
    with TestClient(app) as client:
        assert log_in(client, VIEWER, STAFF_PASSWORD).status_code == 303
        yield client


@pytest.fixture
def kiosk_client(app) -> TestClient:
    """The laptop at the event: a browser of its own, logged in to nothing."""
    with TestClient(app) as client:
        yield client


# --- events and their links ---------------------------------------------------------------------


def test_organisers_create_an_event_with_its_kiosk_link_and_a_viewer_gets_403(
    app, staff_client, viewer, kiosk_client
):
    created = new_event(staff_client, today(app), place="Abay Avenue 10, Almaty")
    assert created.status_code == 303
    assert created.headers["location"] == f"{STEERING}#events"
    page = Page(staff_client.get(STEERING).text)
    link = page.attr("#events-list a.kiosk-link", "href")
    assert re.fullmatch(r"http://testserver/kiosk/[A-Za-z0-9_-]{32}", link)
    assert "Write for Rights" in page.text("#events-list") and "Abay Avenue 10" in page.text(
        "#events-list"
    )
    assert "packs limited to 300/hour" in page.text("#events-list")  # RATE_LIMIT_EVENT
    assert kiosk_client.get(urlsplit(link).path).status_code == 200
    assert audit_actions(app) == ["event created"]

    token = csrf_token(viewer.get("/dashboard").text)
    number = event_id(app)
    for path, data in [
        ("/dashboard/events", {"name": "Mine", "held_on": today(app).isoformat(), "place": "X"}),
        (f"/dashboard/events/{number}/end", {}),
        (f"/dashboard/events/{number}/posted", {}),
    ]:
        refused = viewer.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert refused.status_code == 403, path
    assert viewer.get(STEERING).status_code == 403
    assert kiosk_client.get(urlsplit(link).path).status_code == 200
    with app.state.sessionmaker() as db:
        assert db.scalar(select(func.count()).select_from(Event)) == 1
    assert audit_actions(app) == ["event created"]


def test_an_event_needs_a_name_a_place_and_a_day_not_gone(app, staff_client):
    for changes, field in [
        ({"name": "  "}, "name"),
        ({"place": ""}, "place"),
        ({"held_on": today(app) - timedelta(days=1)}, "date"),
        ({"name": "x" * 201}, "name"),
    ]:
        arguments = {"held_on": today(app), "name": "Write for Rights", "place": "Hall", **changes}
        refused = new_event(staff_client, **arguments)
        assert refused.status_code == 422, changes
        assert field in Page(refused.text).text("main"), changes
    token = csrf_token(staff_client.get(STEERING).text)
    bad_day = {"csrf_token": token, "name": "W", "held_on": "tomorrow", "place": "Hall"}
    assert staff_client.post("/dashboard/events", data=bad_day).status_code == 422
    with app.state.sessionmaker() as db:
        assert db.scalar(select(func.count()).select_from(Event)) == 0


def test_a_kiosk_link_makes_letters_on_its_day_only_until_staff_end_it(
    app, staff_client, kiosk_client, clock
):
    day = today(app)
    new_event(staff_client, day, name="Today")
    new_event(staff_client, day + timedelta(days=1), name="Tomorrow")
    today_link, tomorrow_link = kiosk_of(app, "Today"), kiosk_of(app, "Tomorrow")

    assert kiosk_client.get(today_link).status_code == 200
    closed = kiosk_client.get(tomorrow_link)
    assert closed.status_code == 410
    assert "This kiosk link is closed" in closed.text
    assert print_pack(kiosk_client, today_link).status_code == 200
    waiting = print_form(preview(kiosk_client, today_link))  # a preview left open overnight

    clock.now += timedelta(days=1)
    assert kiosk_client.get(today_link).status_code == 410
    assert kiosk_client.post(f"{today_link}/preview", data=TYPED_FORM).status_code == 410
    assert kiosk_client.post(f"{today_link}/edit", data=TYPED_FORM).status_code == 410
    late = kiosk_client.post(f"{today_link}/letters", data=waiting)
    assert late.status_code == 410 and "No letters were made" in late.text
    assert kiosk_client.get(tomorrow_link).status_code == 200
    assert letters_at(app) == {event_id(app, "Today"): (1, 0)}

    assert log_in(staff_client, STAFF_EMAIL, STAFF_PASSWORD).status_code == 303  # a day later
    token = csrf_token(staff_client.get(STEERING).text)
    ended = staff_client.post(
        f"/dashboard/events/{event_id(app, 'Tomorrow')}/end",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert ended.headers["location"] == f"{STEERING}#events"
    assert kiosk_client.get(tomorrow_link).status_code == 410
    assert kiosk_client.post(f"{tomorrow_link}/letters", data=waiting).status_code == 410
    assert letters_at(app) == {event_id(app, "Today"): (1, 0)}
    assert audit_actions(app) == ["event created", "event created", "event ended"]
    assert "Ended by staff" in Page(staff_client.get(STEERING).text).text("#events-list")

    assert kiosk_client.get("/kiosk/" + "A" * 32).status_code == 404
    assert kiosk_client.get("/kiosk/not-a-token").status_code == 404


def test_the_event_day_is_the_day_in_event_time_zone(app, staff_client, kiosk_client):
    now = datetime.now(UTC)
    # A zone whose calendar day is not UTC's just now: UTC+14 from 10:00 UTC, else UTC-11.
    zone = "Pacific/Kiritimati" if now.hour >= 10 else "Pacific/Niue"
    app.state.settings = app.state.settings.model_copy(update={"event_time_zone": zone})
    local_day = now.astimezone(ZoneInfo(zone)).date()
    assert local_day != now.date()
    assert new_event(staff_client, local_day, name="There").status_code == 303
    assert kiosk_client.get(kiosk_of(app, "There")).status_code == 200
    in_utc = new_event(staff_client, now.date(), name="UTC")
    if now.date() < local_day:
        assert in_utc.status_code == 422  # a day gone there
    else:
        assert kiosk_client.get(kiosk_of(app, "UTC")).status_code == 410  # not yet there
    assert zone in Page(staff_client.get(STEERING).text).text("main")


# --- nothing typed stays in the browser ---------------------------------------------------------


def test_every_kiosk_answer_is_no_store_and_the_form_asks_for_no_autocomplete(
    app, staff_client, kiosk_client
):
    new_event(staff_client, today(app))
    kiosk = kiosk_of(app)
    empty = kiosk_client.get(f"{kiosk}?lang=en")
    page = Page(empty.text)
    form = page.one("form.supporter-form")
    assert form.get("autocomplete") == "off" and form.get("method") == "post"
    assert form.get("action") == f"{kiosk}/preview?lang=en"
    fields = page.all("form.supporter-form input[type=text], form.supporter-form select, "
                      "form.supporter-form textarea")  # fmt: skip
    assert len(fields) >= 6
    assert {field.get("name"): field.get("autocomplete") for field in fields} == {
        field.get("name"): "off" for field in fields
    }
    # The campaign page as ever offers the browser's autofill.
    assert Page(kiosk_client.get("/?lang=en").text).attr("#name", "autocomplete") == "name"

    shown = preview(kiosk_client, kiosk)
    shown_page = Page(shown.text)
    assert {f.get("method") for f in shown_page.all("form")} == {"post"}
    assert shown_page.attr("form[data-kiosk-print]", "action") == f"{kiosk}/letters?lang=en"
    assert shown_page.attr("form[data-kiosk-next]", "action") == f"{kiosk}/next?lang=en"
    assert shown_page.all("#posted-form, #private-link") == []  # staff post the letters
    edited = kiosk_client.post(f"{kiosk}/edit?lang=en", data=TYPED_FORM)
    assert Page(edited.text).attr("#name", "autocomplete") == "off"
    invalid = kiosk_client.post(f"{kiosk}/preview?lang=en", data={**TYPED_FORM, "name": ""})
    assert invalid.status_code == 422
    printed = kiosk_client.post(f"{kiosk}/letters?lang=en", data=print_form(shown))
    assert printed.headers["content-type"] == "application/pdf"
    assert printed.headers["content-disposition"].startswith("attachment;")
    inline = kiosk_client.post(
        f"{kiosk}/letters?lang=en", data={**print_form(shown), "show": "inline"}
    )
    assert inline.headers["content-disposition"].startswith("inline;")
    # Shown in a frame of the kiosk's own preview, and of no other site's page.
    assert inline.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in inline.headers["content-security-policy"]
    assert empty.headers["x-frame-options"] == "DENY"
    following = kiosk_client.post(f"{kiosk}/next?lang=en", follow_redirects=False)
    assert following.status_code == 303
    assert following.headers["location"] == f"http://testserver{kiosk}?lang=en"
    next_form = kiosk_client.get(following.headers["location"])
    assert Page(next_form.text).attr("#name", "value") == ""
    assert "Мария" not in next_form.text

    unknown = kiosk_client.get("/kiosk/" + "B" * 32)
    answers = {
        200: [empty, shown, edited, printed, inline, next_form],
        303: [following],
        404: [unknown],
        422: [invalid],
    }
    for status, answered in answers.items():
        assert [answer.status_code for answer in answered] == [status] * len(answered)
        assert {answer.headers["cache-control"] for answer in answered} == {"no-store"}


# --- counted under the event, limited per event -------------------------------------------------


def test_a_kiosk_pack_counts_once_under_its_event(app, staff_client, kiosk_client, campaign):
    new_event(staff_client, today(app))
    kiosk = kiosk_of(app)
    shown = preview(kiosk_client, kiosk, TWO_LETTERS)
    for _ in range(2):  # "Print my letters" twice: the same pack, printed again
        printed = kiosk_client.post(f"{kiosk}/letters?lang=en", data=print_form(shown))
        assert printed.status_code == 200
        with pdfplumber.open(io.BytesIO(printed.content)) as pdf:
            assert len(pdf.pages) == 2
            assert "Мария Иванова" in flat(pdf.pages[0].extract_text())
    assert kiosk_client.post("/letters?lang=en", data=TYPED_FORM).status_code == 200  # online
    assert letters_at(app) == {event_id(app): (2, 0), None: (1, 0)}
    with app.state.sessionmaker() as db:
        assert differences(db) == []
    stats = kiosk_client.get("/api/stats").json()
    assert stats["generated"] == 3  # the event's letters are online letters too


def test_counts_check_and_rebuild_cover_the_events(app, staff_client, kiosk_client):
    new_event(staff_client, today(app))
    print_pack(kiosk_client, kiosk_of(app), TWO_LETTERS)
    number = event_id(app)
    with app.state.sessionmaker() as db:
        db.execute(update(Event).values(generated=0))  # as after a bulk load of letters
        db.commit()
        assert differences(db) == [f"event {number}: rows (1, 2, 0), kept (1, 0, 0)"]
        recount(db.connection())
        db.commit()
        assert differences(db) == []
        assert db.execute(select(Event.packs, Event.generated, Event.sent)).one() == (1, 2, 0)


@pytest.fixture
def limited(settings):
    """Small limits, and a secret of their own so that no other test's counters meet these."""
    return settings.model_copy(
        update={
            "rate_limit_letters": "1/day",
            "rate_limit_event": "2/day",
            "rate_limit_forms": "1000/day",
            "secret_key": secrets.token_urlsafe(32),
        }
    )


def test_kiosk_packs_are_held_to_the_event_limit_not_the_address_limit(limited, app):
    limited_app = create_app(limited)
    with limited_app.state.sessionmaker() as db:
        for name in ("First", "Second"):
            create_event(db, name, today(app), "Hall", today(app), "setup", utc_now())
        add_staff(db, STAFF_EMAIL, STAFF_PASSWORD, utc_now(), "organiser")
        db.commit()
    # One client, one event loop: every request below comes from the same address.
    with TestClient(limited_app) as laptop:
        assert laptop.post("/letters?lang=en", data=TYPED_FORM).status_code == 200
        assert laptop.post("/letters/pdf?lang=en", data=TYPED_FORM).status_code == 429
        first, second = kiosk_of(limited_app, "First"), kiosk_of(limited_app, "Second")
        for _ in range(2):
            assert print_pack(laptop, first).status_code == 200
        refused = print_pack(laptop, first)
        assert refused.status_code == 429
        assert "at this event" in refused.text and refused.headers["retry-after"].isdigit()
        assert refused.headers["cache-control"] == "no-store"
        assert print_pack(laptop, second).status_code == 200
        assert log_in(laptop, STAFF_EMAIL, STAFF_PASSWORD).status_code == 303
        assert "packs limited to 2/day" in Page(laptop.get(STEERING).text).text("#events-list")
    first_id, second_id = event_id(limited_app, "First"), event_id(limited_app, "Second")
    assert letters_at(limited_app) == {None: (1, 0), first_id: (2, 0), second_id: (1, 0)}
    limited_app.state.engine.dispose()


# --- the numbers per event, and posting an event's letters ---------------------------------------


def test_the_dashboard_counts_per_event_and_organisers_post_an_events_letters_at_once(
    app, staff_client, kiosk_client, viewer
):
    new_event(staff_client, today(app), name="Almaty")
    new_event(staff_client, today(app), name="Berlin")
    almaty, berlin = kiosk_of(app, "Almaty"), kiosk_of(app, "Berlin")
    confirmed = print_form(preview(kiosk_client, almaty, TWO_LETTERS))
    kiosk_client.post(f"{almaty}/letters", data=confirmed)
    print_pack(kiosk_client, almaty)
    print_pack(kiosk_client, berlin)
    kiosk_client.post("/letters?lang=en", data=TYPED_FORM)
    # Someone kept the token of the first pack and says one letter of it is posted.
    token = confirmed["token"][0]
    said = kiosk_client.post(f"/posted/{token}", data={"recipient": "ombudsman"})
    assert said.status_code == 200
    numbers = rows_by_label(tables(viewer.get("/dashboard").text)["events"])
    assert numbers == {
        "Almaty": ["2", "3", "1", "33.3 %"],
        "Berlin": ["1", "1", "0", "0.0 %"],
    }

    token = csrf_token(staff_client.get(STEERING).text)
    post_almaty = f"/dashboard/events/{event_id(app, 'Almaty')}/posted"
    done = staff_client.post(post_almaty, data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    assert letters_at(app) == {
        event_id(app, "Almaty"): (3, 3),
        event_id(app, "Berlin"): (1, 0),
        None: (1, 0),
    }
    with app.state.sessionmaker() as db:
        assert differences(db) == []
        assert db.scalar(select(func.sum(LetterDay.sent))) == 3
    again = staff_client.post(post_almaty, data={"csrf_token": token}, follow_redirects=False)
    assert again.status_code == 303
    with app.state.sessionmaker() as db:
        assert db.scalar(select(func.sum(LetterDay.sent))) == 3
        details = list(
            db.scalars(select(AuditEntry.detail).where(AuditEntry.action == "event letters posted"))
        )
    assert [detail.split(": ")[-1] for detail in details] == ["2 letters", "0 letters"]
    steering = rows_by_label(tables(staff_client.get(STEERING).text)["events-list"])
    assert [row[1:4] for row in steering.values()] == [["1", "1", "0"], ["2", "3", "3"]]
    row = Page(staff_client.get(STEERING).text).all(
        f"#events-list tr[data-event='{event_id(app, 'Almaty')}'] form"
    )
    assert [form.get("action").rsplit("/", 1)[-1] for form in row] == ["end"]
    assert rows_by_label(tables(viewer.get("/dashboard").text)["events"])["Almaty"] == [
        "2",
        "3",
        "3",
        "100.0 %",
    ]


@pytest.mark.slow
def test_posting_an_event_while_supporters_confirm_counts_every_letter_once(
    app, campaign, staff_account, two_servers
):
    """Organisers post the event's letters on one server, twice, while its supporters confirm
    theirs on both: every letter is posted once, and the running counts agree with the rows."""
    officials = campaign.recipients
    tokens = [new_token() for _ in range(60)]
    with app.state.sessionmaker() as db:
        event = create_event(db, "Rush", today(app), "Hall", today(app), "setup", utc_now())
        for n, token in enumerate(tokens):
            two = officials[n % 3 : n % 3 + 2]
            record_pack_once(db, token, two, "en", "DE", date.today(), event_id=event.id)
        db.commit()
        number = event.id
    with httpx.Client(base_url=two_servers[0], timeout=60) as staff:
        login = csrf_token(staff.get("/login").text)
        credentials = {"email": STAFF_EMAIL, "password": STAFF_PASSWORD, "csrf_token": login}
        assert staff.post("/login", data=credentials).status_code == 303
        form = {"csrf_token": csrf_token(staff.get(STEERING).text)}

        def post_all() -> int:
            return staff.post(f"/dashboard/events/{number}/posted", data=form).status_code

        def confirm(n: int) -> int:
            url = f"{two_servers[n % 2]}/api/letters/{tokens[n]}/sent"
            return httpx.post(url, timeout=60).status_code

        # Six times as many requests at once as a server has threads (WORKER_THREADS=4):
        # a staff form that held SQLite's write lock from its first dependency on, while it
        # waited for a thread for each step after it, stalled here until the busy timeout.
        with ThreadPoolExecutor(24) as pool:
            confirmations = [pool.submit(confirm, n) for n in range(0, 60, 2)]
            postings = [pool.submit(post_all) for _ in range(2)]
            confirmations += [pool.submit(confirm, n) for n in range(1, 60, 2)]
            assert [done.result() for done in confirmations] == [200] * 60
            assert [done.result() for done in postings] == [303] * 2
    with app.state.sessionmaker() as db:
        letters, sent = db.execute(select(func.count(), func.count(Letter.sent_on))).one()
        assert letters == sent == 120
        assert db.scalar(select(func.sum(LetterDay.sent))) == 120
        assert differences(db) == []


# --- in a browser: three supporters in a row ------------------------------------------------------

PRINT_WATCH = """window.print = function () {
  var top = window.top.document.documentElement;
  top.dataset.printed = (top.dataset.printed || "") + document.contentType + ";";
};"""
PEOPLE = [
    {"name": "Aigerim First", "street": "Abay 1", "postcode": "050000", "city": "Almaty",
     "message": "Free them now."},
    {"name": "Boris Second", "street": "Satpaev 2", "postcode": "050001", "city": "Almaty",
     "message": "I write from the write-a-thon."},
    {"name": "Chloé Third", "street": "Rue Haute 3", "postcode": "1000", "city": "Brussels",
     "message": "With care."},
]  # fmt: skip


@pytest.fixture(scope="module")
def kiosk_server(tmp_path_factory):
    """A server on SQLite with an organiser's account, as staff run it at an event."""
    from sqlalchemy.orm import Session

    from app.storage.db import make_engine, migrate

    folder = tmp_path_factory.mktemp("kiosk")
    database_url = f"sqlite:///{folder / 'kiosk.db'}"
    migrate(database_url)
    engine = make_engine(database_url)
    with Session(engine) as db:
        add_staff(db, STAFF_EMAIL, STAFF_PASSWORD, utc_now(), "organiser")
        db.commit()
    engine.dispose()
    port = free_port()
    command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    env = {"DATABASE_URL": database_url, "SECRET_KEY": "kiosk-browser-test-secret"}
    with running(command, env, port, folder / "server.log") as (base_url, _):
        yield base_url


def organiser_creates_an_event(browser, base_url: str, name: str):
    """Logs in, creates the event on the steering page; the staff page and the kiosk link."""
    staff = browser.new_context().new_page()
    staff.set_default_timeout(15_000)
    staff.goto(f"{base_url}/login")
    staff.fill("#email", STAFF_EMAIL)
    staff.fill("#password", STAFF_PASSWORD)
    staff.click("button[type=submit]")
    staff.wait_for_url(f"{base_url}/dashboard")
    staff.goto(f"{base_url}{STEERING}")
    staff.fill("#event-name", name)
    staff.fill("#event-place", "Community hall")
    staff.click("text=Create the event and its kiosk link")
    staff.wait_for_url(f"{base_url}{STEERING}#events")
    row = staff.locator(f"#events-list tr:has-text('{name}')")
    return staff, row.locator("a.kiosk-link").get_attribute("href")


def fill_in(page, person: dict) -> None:
    for field in ("name", "street", "postcode", "city", "message"):
        page.fill(f"#{field}", person[field])
    page.select_option("#country", "KZ" if person["city"] == "Almaty" else "BE")


def assert_empty(page) -> None:
    from playwright.sync_api import expect

    for field in ("name", "street", "postcode", "city", "message"):
        expect(page.locator(f"#{field}")).to_have_value("")
    expect(page.locator("#country")).to_have_value("")
    for person in PEOPLE:
        assert person["name"] not in page.content()


def pdf_text(pdf: bytes) -> str:
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        return flat(" ".join(sheet.extract_text() for sheet in document.pages))


@pytest.mark.browser
def test_three_supporters_in_a_row_print_at_the_kiosk_and_the_dashboard_counts_three_packs(
    browser, kiosk_server
):
    from playwright.sync_api import expect

    staff, link = organiser_creates_an_event(browser, kiosk_server, "Write-a-thon in Almaty")
    context = browser.new_context()
    context.add_init_script(PRINT_WATCH)  # every frame: the pack's too
    packs: list[bytes] = []  # the PDFs as the server sent them (the frame shows a viewer)

    def keep(route) -> None:
        answer = route.fetch()
        if answer.headers["content-type"] == "application/pdf":
            packs.append(answer.body())
        route.fulfill(response=answer)

    context.route(f"{link}/letters*", keep)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{link}?lang=en")
    empty = page.url
    for person in PEOPLE:
        assert_empty(page)
        fill_in(page, person)
        page.click("text=Preview my letters")
        expect(page.locator("h1")).to_have_text("Check your letters")
        page.get_by_role("button", name="Print my letters").click()
        # The print dialog opened on the pack, in the preview's frame.
        page.wait_for_function("() => document.documentElement.dataset.printed")
        assert page.evaluate("document.documentElement.dataset.printed") == "application/pdf;"
        assert person["name"] in pdf_text(packs[-1])
        next_person = page.get_by_role("button", name="Next person")
        expect(next_person).to_be_focused()
        next_person.click()
        page.wait_for_url(empty)
        assert_empty(page)
        # Back shows nobody's letters: the preview is no longer in the history.
        page.go_back()
        assert page.url == empty and "Check your letters" not in page.content()
        assert_empty(page)
    assert len(packs) == len(PEOPLE)
    context.close()

    staff.goto(f"{kiosk_server}/dashboard")
    row = staff.locator("#events tr:has-text('Write-a-thon in Almaty') td")
    expect(row.nth(0)).to_have_text("3")  # packs
    staff.context.close()


@pytest.mark.browser
def test_without_javascript_the_kiosk_pack_downloads_and_next_person_gets_an_empty_form(
    browser, kiosk_server
):
    from playwright.sync_api import expect

    staff, link = organiser_creates_an_event(browser, kiosk_server, "Write-a-thon offline")
    staff.context.close()
    context = browser.new_context(java_script_enabled=False, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{link}?lang=en")
    fill_in(page, PEOPLE[0])
    page.click("text=Preview my letters")
    with page.expect_download() as downloaded:
        page.get_by_role("button", name="Print my letters").click()
    assert re.fullmatch(r"appeal-letters-[0-9-]{10}\.pdf", downloaded.value.suggested_filename)
    assert PEOPLE[0]["name"] in pdf_text(Path(downloaded.value.path()).read_bytes())
    expect(page.locator("h1")).to_have_text("Check your letters")
    page.get_by_role("button", name="Next person").click()
    page.wait_for_url(f"{link}?lang=en")
    assert_empty(page)
    context.close()


@pytest.mark.browser
def test_the_kiosk_form_and_preview_pass_axe(browser, kiosk_server):
    from tests.test_dashboard import axe_violations

    staff, link = organiser_creates_an_event(browser, kiosk_server, "Write-a-thon for axe")
    staff.context.close()
    page = browser.new_context(bypass_csp=True).new_page()  # axe-core is injected inline
    page.set_default_timeout(15_000)
    for lang in ("en", "ru", "kk"):
        page.goto(f"{link}?lang={lang}")
        assert axe_violations(page) == [], lang
    fill_in(page, PEOPLE[2])
    page.click("form.supporter-form button[type=submit]")
    page.wait_for_url(f"{link}/preview?lang=kk")
    assert axe_violations(page) == []
    page.context.close()
