"""Many people post the same forms at once, on SQLite and on PostgreSQL.

Every form a browser posts is sent here by several browsers at the same moment (a barrier
releases them together), each on a connection of its own, to two server processes on one
database; the supporter's journey on the campaign's own page and the JSON API are sent at once
by the tests named in ELSEWHERE. Every answer is the one a single post gets, never a 500 or a
503; the rows are exactly what was posted, none lost and none counted twice; the running counts
agree with the rows afterwards; and what may happen once happens once: a code opens one login,
an update or an entry of paper letters is deleted once, an event is ended once, and the last
admin keeps the role.
"""

import functools
import importlib
import pkgutil
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import date
from typing import TypeVar

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import func, select

from app.storage.counts import differences
from app.storage.events import create_event
from app.storage.letters import new_token, record_pack, record_pack_once
from app.storage.models import (
    AuditEntry,
    Base,
    CampaignState,
    CaseUpdate,
    EmbedCount,
    Event,
    Letter,
    LetterTotal,
    LoginFailure,
    OfficialCheck,
    OfficialPause,
    OfflineLetters,
    RecoveryCode,
    Reply,
    Staff,
    StaffSession,
)
from app.storage.offline import record_paper_letters
from app.storage.operations import add_update, pause_official, set_state
from app.storage.staff import enrol_second_factor, utc_now
from tests.conftest import STAFF_PASSWORD, TYPED_FORM, serving_twice
from tests.html_pages import Page
from tests.staff_pages import STEERING, csrf_token, log_in
from tests.test_embed import FRIENDS, embedded_form, filled, post
from tests.test_kiosk import TWO_LETTERS, letters_at, print_form, today

pytestmark = pytest.mark.slow

Item = TypeVar("Item")
Result = TypeVar("Result")
SITE = FRIENDS  # the one site the servers' embed is open to

# Every route a browser or client posts to: sent at once here, or by the test named.
SENT_HERE = {
    "/edit",
    "/posted/{token}",
    "/embed/edit",
    "/embed/preview",
    "/embed/letters",
    "/embed/letters/pdf",
    "/kiosk/{token}/preview",
    "/kiosk/{token}/edit",
    "/kiosk/{token}/letters",
    "/kiosk/{token}/next",
    "/login",
    "/login/code",
    "/logout",
    "/dashboard/campaign-state",
    "/dashboard/officials/{recipient_id}/pause",
    "/dashboard/officials/{recipient_id}/resume",
    "/dashboard/officials/{recipient_id}/verify",
    "/dashboard/replies",
    "/dashboard/updates",
    "/dashboard/updates/{update_id}/delete",
    "/dashboard/paper-letters",
    "/dashboard/paper-letters/{entry_id}/delete",
    "/dashboard/events",
    "/dashboard/events/{event_id}/end",
    "/dashboard/events/{event_id}/posted",
    "/dashboard/staff/{staff_id}/role",
}
ELSEWHERE = {
    "/api/letters": "tests/test_concurrency.py",
    "/api/letters/{token}/sent": "tests/test_concurrency.py",
    "/preview": "tests/test_many_at_once.py",
    "/letters": "tests/test_many_at_once.py",
    "/letters/pdf": "tests/test_many_at_once.py",
}


@pytest.fixture(scope="module")
def servers(database_url: str, tmp_path_factory) -> Iterator[tuple[str, str]]:
    """Two server processes on the database for the module's tests (each test's `app` empties
    it first); the embed is open to SITE."""
    folder = tmp_path_factory.mktemp("servers")
    with serving_twice(database_url, folder, EMBED_ORIGINS=SITE) as both:
        yield both


def at_once(call: Callable[[Item], Result], items: Iterable[Item]) -> list[Result]:
    """`call` for each item, each in a thread of its own, all released at the same moment;
    the results in the items' order. A call that raises fails the test with its exception."""
    items = list(items)
    together = threading.Barrier(len(items))

    def released(item: Item) -> Result:
        together.wait(timeout=60)
        return call(item)

    with ThreadPoolExecutor(len(items)) as pool:
        futures = [pool.submit(released, item) for item in items]
        return [future.result(timeout=120) for future in futures]


@contextmanager
def browsers(servers: tuple[str, str], count: int) -> Iterator[list[httpx.Client]]:
    """`count` browsers, each with cookies and a connection of its own; browser n talks to
    server n % 2."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(httpx.Client(base_url=servers[n % 2], timeout=60))
            for n in range(count)
        ]


def tab(browser: httpx.Client, server: str) -> httpx.Client:
    """Another tab of `browser`: its cookies, a connection of its own, to `server`."""
    return httpx.Client(base_url=server, cookies=browser.cookies, timeout=60)


def statuses(responses: list[httpx.Response]) -> list[int]:
    return [response.status_code for response in responses]


def rows(app: FastAPI, table: type[Base]) -> int:
    with app.state.sessionmaker() as db:
        return db.scalar(select(func.count()).select_from(table))


def audited(app: FastAPI) -> Counter:
    """The audit log's actions, but for what the test set up itself (actor `setup`)."""
    with app.state.sessionmaker() as db:
        return Counter(db.scalars(select(AuditEntry.action).where(AuditEntry.actor != "setup")))


def consistent(app: FastAPI) -> list[str]:
    """Where the running counts disagree with the letter rows: nowhere, if all went well."""
    with app.state.sessionmaker() as db:
        return differences(db)


def test_every_post_route_is_sent_at_once_here_or_by_the_test_named():
    """A form added later must join these lists, and so these tests."""
    package = importlib.import_module("app.routes")
    posted = set()
    for module in pkgutil.iter_modules(package.__path__):
        router = importlib.import_module(f"app.routes.{module.name}").router
        posted |= {route.path for route in router.routes if "POST" in route.methods}
    assert posted == SENT_HERE | ELSEWHERE.keys()
    assert not SENT_HERE & ELSEWHERE.keys()


# --- supporters ----------------------------------------------------------------------------------


def test_supporters_in_the_embed_preview_edit_create_twice_and_download_at_once(app, servers):
    """Each supporter clicks "Create my letters" twice, and the two posts reach different
    servers at the same moment: the pack is counted once, for the embed's site."""
    people = 3
    with browsers(servers, 2 * people) as clicks:
        first = clicks[::2]
        forms = at_once(lambda n: embedded_form(first[n], SITE), range(people))
        typed = [
            [(k, v) for k, v in filled(form, name=f"Ada Framewell {n}") if k != "recipients"]
            + [("recipients", "ombudsman"), ("recipients", "prosecutor-general")]
            for n, form in enumerate(forms)
        ]
        previews = at_once(
            lambda n: post(first[n], "/embed/preview?lang=en", typed[n]), range(people)
        )
        assert statuses(previews) == [200] * people
        decided = [Page(page.text).form_values("form.decide") for page in previews]

        edits = at_once(lambda n: post(first[n], "/embed/edit?lang=en", decided[n]), range(people))
        assert statuses(edits) == [200] * people
        for n, edit in enumerate(edits):
            assert ("name", f"Ada Framewell {n}") in Page(edit.text).form_values("form")
        assert rows(app, Letter) == 0

        thanks = at_once(
            lambda n: post(clicks[n], "/embed/letters?lang=en", decided[n // 2]),
            range(2 * people),
        )
        assert statuses(thanks) == [200] * 2 * people
        downloads = [Page(page.text).form_values("#download") for page in thanks]
        assert downloads[::2] == downloads[1::2]  # both clicks: the same letters
        assert rows(app, Letter) == 2 * people
        with app.state.sessionmaker() as db:
            counted = db.execute(select(EmbedCount.origin, EmbedCount.packs, EmbedCount.generated))
            assert counted.all() == [(SITE, people, 2 * people)]

        pdfs = at_once(
            lambda n: post(first[n], "/embed/letters/pdf?lang=en", downloads[2 * n]),
            range(people),
        )
    assert statuses(pdfs) == [200] * people
    assert all(pdf.content.startswith(b"%PDF-") for pdf in pdfs)
    assert rows(app, Letter) == 2 * people  # a download counts nothing
    assert consistent(app) == []


def test_supporters_at_a_kiosk_preview_edit_print_twice_and_leave_at_once(app, servers):
    """At one event's kiosk, each "Print my letters" is clicked twice, the posts reaching
    different servers at the same moment: each pack prints twice and is counted once, under the
    event."""
    people = 3
    with app.state.sessionmaker() as db:
        event = create_event(db, "Write-a-thon", today(app), "Hall", today(app), "setup", utc_now())
        db.commit()
        kiosk, number = f"/kiosk/{event.kiosk_token}", event.id
    forms = [{**TWO_LETTERS, "name": f"Aigerim {n}"} for n in range(people)]
    with browsers(servers, 2 * people) as clicks:
        first = clicks[::2]
        previews = at_once(
            lambda n: first[n].post(f"{kiosk}/preview?lang=en", data=forms[n]), range(people)
        )
        assert statuses(previews) == [200] * people
        printing = [print_form(page) for page in previews]

        edits = at_once(
            lambda n: first[n].post(f"{kiosk}/edit?lang=en", data=printing[n]), range(people)
        )
        assert statuses(edits) == [200] * people
        for n, edit in enumerate(edits):
            assert ("name", f"Aigerim {n}") in Page(edit.text).form_values("form")

        packs = at_once(
            lambda n: clicks[n].post(f"{kiosk}/letters?lang=en", data=printing[n // 2]),
            range(2 * people),
        )
        assert statuses(packs) == [200] * 2 * people
        assert all(pack.content.startswith(b"%PDF-") for pack in packs)

        left = at_once(lambda n: first[n].post(f"{kiosk}/next?lang=en"), range(people))
    assert statuses(left) == [303] * people
    assert all(answer.headers["location"].endswith(f"{kiosk}?lang=en") for answer in left)
    assert letters_at(app) == {number: (2 * people, 0)}
    with app.state.sessionmaker() as db:
        counted = db.execute(select(Event.packs, Event.generated, Event.sent)).one()
    assert tuple(counted) == (people, 2 * people, 0)
    assert consistent(app) == []


def test_supporters_edit_and_say_their_letters_are_posted_twice_at_once(app, servers, campaign):
    """Each pack is said posted in full from two browsers and one letter of it from a third,
    all at once, while someone tries a link that names no letters."""
    packs = 5
    officials = campaign.recipients[:3]
    with app.state.sessionmaker() as db:
        tokens = [record_pack(db, officials, "ru", "DE", date.today()) for _ in range(packs)]
        db.commit()
    forms = [{**TYPED_FORM, "name": f"Мария {n}"} for n in range(packs)]
    said = [(token, which) for token in tokens for which in ("", "", officials[1].id)]
    said.append((new_token(), ""))
    with browsers(servers, len(said)) as people:
        edits = at_once(lambda n: people[n].post("/edit?lang=en", data=forms[n]), range(packs))
        assert statuses(edits) == [200] * packs
        for n, edit in enumerate(edits):
            assert ("name", f"Мария {n}") in Page(edit.text).form_values("form")

        answers = at_once(
            lambda n: people[n].post(
                f"/posted/{said[n][0]}?lang=en", data={"recipient": said[n][1]}
            ),
            range(len(said)),
        )
    assert statuses(answers) == [303] * 3 * packs + [404]
    for (token, _), answer in zip(said[:-1], answers[:-1], strict=True):
        assert answer.headers["location"].endswith(f"/posted/{token}?lang=en#posted")
    with app.state.sessionmaker() as db:
        letters, sent = db.execute(select(func.count(), func.count(Letter.sent_on))).one()
        totals = db.execute(select(func.sum(LetterTotal.generated), func.sum(LetterTotal.sent)))
        assert tuple(totals.one()) == (letters, sent) == (3 * packs, 3 * packs)
    assert consistent(app) == []


# --- staff logging in and out --------------------------------------------------------------------


@functools.cache
def password_hash() -> str:
    """STAFF_PASSWORD hashed as the service hashes passwords (Argon2 with its defaults), once
    for the run: hashing is slow on purpose."""
    return PasswordHasher().hash(STAFF_PASSWORD)


def add_accounts(app: FastAPI, emails: list[str], role: str = "organiser") -> dict[str, int]:
    """Accounts with STAFF_PASSWORD, as `letter-campaign staff add` writes them; their ids."""
    with app.state.sessionmaker() as db:
        accounts = [
            Staff(email=email, password_hash=password_hash(), created_at=utc_now(), role=role)
            for email in emails
        ]
        db.add_all(accounts)
        db.commit()
        return {account.email: account.id for account in accounts}


def sessions_of(app: FastAPI) -> Counter:
    """How many sessions each account has open."""
    with app.state.sessionmaker() as db:
        return Counter(db.scalars(select(StaffSession.staff_id)))


def test_staff_log_in_from_two_browsers_each_and_out_again_at_once(app, servers):
    """Three organisers log in from two browsers each while someone guesses another account's
    password twice, all at once; then every browser logs out at once."""
    emails = [f"organiser{n}@example.org" for n in range(3)]
    ids = add_accounts(app, [*emails, "guessed@example.org"])
    tries = [(email, STAFF_PASSWORD) for email in emails for _ in range(2)]
    tries += [("guessed@example.org", f"wrong guess {n}") for n in range(2)]
    with browsers(servers, len(tries)) as people:
        answers = at_once(lambda n: log_in(people[n], *tries[n]), range(len(tries)))
        assert statuses(answers) == [303] * 6 + [401] * 2
        assert {answer.headers["location"] for answer in answers[:6]} == {"/dashboard"}
        assert sessions_of(app) == {ids[email]: 2 for email in emails}
        assert rows(app, LoginFailure) == 2  # each wrong guess, and nothing else

        tokens = [csrf_token(browser.get("/dashboard").text) for browser in people[:6]]
        out = at_once(lambda n: people[n].post("/logout", data={"csrf_token": tokens[n]}), range(6))
    assert statuses(out) == [303] * 6
    assert {answer.headers["location"] for answer in out} == {"/login"}
    assert rows(app, StaffSession) == 0


def test_a_code_sent_from_several_browsers_at_once_opens_one_login(app, servers):
    """Three browsers send one account's six-digit code at once, two browsers another account's
    recovery code, and a third account its own code meanwhile: each code opens exactly one
    login, and the codes refused count as failed tries."""
    shared, recovered, other = [f"staff{n}@example.org" for n in range(3)]
    ids = add_accounts(app, [shared, recovered, other])
    with app.state.sessionmaker() as db:
        _, recovery = enrol_second_factor(db, db.get(Staff, ids[recovered]), "Campaign")
        # Recovery codes are hashed, slowly on purpose: the others have only an authenticator.
        authenticators = {}
        for email in [shared, other]:
            staff = db.get(Staff, ids[email])
            staff.totp_secret = pyotp.random_base32()
            authenticators[email] = pyotp.TOTP(staff.totp_secret)
        db.commit()
    who = [shared] * 3 + [recovered] * 2 + [other]
    with browsers(servers, len(who)) as people:
        passwords = at_once(lambda n: log_in(people[n], who[n], STAFF_PASSWORD), range(len(who)))
        assert statuses(passwords) == [303] * len(who)
        assert {answer.headers["location"] for answer in passwords} == {"/login/code"}

        forms = [csrf_token(browser.get("/login/code").text) for browser in people]
        codes = [
            recovery[0] if email == recovered else authenticators[email].now() for email in who
        ]
        answers = at_once(
            lambda n: people[n].post(
                "/login/code", data={"code": codes[n], "csrf_token": forms[n]}
            ),
            range(len(who)),
        )
    answered: dict[str, list[int]] = {}
    for email, answer in zip(who, answers, strict=True):
        answered.setdefault(email, []).append(answer.status_code)
    assert sorted(answered[shared]) == [303, 401, 401]
    assert sorted(answered[recovered]) == [303, 401]
    assert answered[other] == [303]
    assert sessions_of(app) == {ids[email]: 1 for email in ids}
    with app.state.sessionmaker() as db:
        assert db.scalar(select(func.count()).where(RecoveryCode.used_at.is_not(None))) == 1
        failures = Counter(db.scalars(select(LoginFailure.staff_id)))
    assert failures[ids[shared]] == 2
    assert failures[ids[other]] == 0


# --- staff steering the campaign ---------------------------------------------------------------


def test_organisers_send_every_steering_form_at_once(app, servers, campaign):
    """Three organisers, in a tab of their own for each form, send every steering form at the
    same moment: each does all that was asked, and the audit log has a line for each."""
    emails = [f"organiser{n}@example.org" for n in range(3)]
    add_accounts(app, emails)
    day, event_day = date.today(), today(app)
    with app.state.sessionmaker() as db:
        set_state(db, "open", {}, "setup")
        pause_official(db, campaign, "prosecutor-general", "Ill", "setup")
        add_update(db, day, {"en": "Posted in error."}, "setup")
        record_paper_letters(db, "ombudsman", 12, day, "Stall", None, utc_now(), "setup")
        event = create_event(db, "Write-a-thon", event_day, "Hall", event_day, "setup", utc_now())
        for _ in range(4):
            two = campaign.recipients[:2]
            record_pack_once(db, new_token(), two, "en", "DE", day, event_id=event.id)
        db.commit()
        update_id, entry_id = db.scalar(select(CaseUpdate.id)), db.scalar(select(OfflineLetters.id))
        number = event.id
    on = {"received_on": day.isoformat(), "posted_on": day.isoformat(), "date": day.isoformat()}
    forms = [
        ("/dashboard/campaign-state", {"action": "pause", "message_en": "paused: a hearing"}),
        ("/dashboard/campaign-state", {"action": "close", "message_en": "closed: released"}),
        ("/dashboard/campaign-state", {"action": "open", "message_en": "open: write again"}),
        ("/dashboard/officials/ombudsman/pause", {"reason": "Moved"}),
        ("/dashboard/officials/la-155-1/pause", {"reason": "On leave"}),
        ("/dashboard/officials/prosecutor-general/resume", {}),
        ("/dashboard/officials/state-secretary/verify", {"source_url": "https://example.org/a"}),
        ("/dashboard/officials/state-secretary/verify", {"source_url": "https://example.org/b"}),
        ("/dashboard/replies", {"official": "ombudsman", "summary": "No.", **on}),
        ("/dashboard/replies", {"official": "la-155-1", "summary": "Yes.", **on}),
        ("/dashboard/updates", {"text_en": "Hearing set.", **on}),
        ("/dashboard/updates", {"text_en": "Appeal filed.", **on}),
        (f"/dashboard/updates/{update_id}/delete", {}),
        ("/dashboard/paper-letters", {"official": "ombudsman", "number": "9", **on}),
        ("/dashboard/paper-letters", {"official": "ombudsman", "number": "30", **on}),
        (f"/dashboard/paper-letters/{entry_id}/delete", {}),
        ("/dashboard/events", {"name": "Almaty", "place": "Library", "held_on": f"{event_day}"}),
        ("/dashboard/events", {"name": "Berlin", "place": "Café", "held_on": f"{event_day}"}),
        (f"/dashboard/events/{number}/end", {}),
        (f"/dashboard/events/{number}/posted", {}),
    ]
    with browsers(servers, len(emails)) as organisers, ExitStack() as stack:
        logins = at_once(lambda n: log_in(organisers[n], emails[n], STAFF_PASSWORD), range(3))
        assert statuses(logins) == [303] * 3
        tokens = [csrf_token(organiser.get(STEERING).text) for organiser in organisers]
        tabs = [
            stack.enter_context(tab(organisers[n % 3], servers[n % 2])) for n in range(len(forms))
        ]
        answers = at_once(
            lambda n: tabs[n].post(forms[n][0], data={**forms[n][1], "csrf_token": tokens[n % 3]}),
            range(len(forms)),
        )
    assert statuses(answers) == [303] * len(forms)

    with app.state.sessionmaker() as db:
        state = db.get(CampaignState, 1)
        assert set(state.message) == {"en"}
        assert state.message["en"].startswith(f"{state.state}: ")  # one post's, whole
        paused = dict(db.execute(select(OfficialPause.recipient_id, OfficialPause.reason)).all())
        assert paused == {"ombudsman": "Moved", "la-155-1": "On leave"}
        assert db.scalar(select(func.count()).select_from(OfficialCheck)) == 2
        assert db.scalar(select(func.count()).select_from(Reply)) == 2
        texts = {update.text["en"] for update in db.scalars(select(CaseUpdate))}
        assert texts == {"Hearing set.", "Appeal filed."}
        assert sorted(db.scalars(select(OfflineLetters.count))) == [9, 30]
        events = {event.name: event for event in db.scalars(select(Event))}
        assert sorted(events) == ["Almaty", "Berlin", "Write-a-thon"]
        assert len({event.kiosk_token for event in events.values()}) == 3
        assert events["Write-a-thon"].ended_at is not None
        assert events["Write-a-thon"].sent == 8
    assert letters_at(app) == {number: (8, 8)}
    assert consistent(app) == []
    assert audited(app) == {
        "campaign paused": 1,
        "campaign closed": 1,
        "campaign open": 1,
        "official paused": 2,
        "official resumed": 1,
        "official checked": 2,
        "reply recorded": 2,
        "case update posted": 2,
        "case update deleted": 1,
        "paper letters recorded": 2,
        "paper letters deleted": 1,
        "event created": 2,
        "event ended": 1,
        "event letters posted": 1,
    }


ORGANISER = "organiser@example.org"
TABS = 4


@pytest.fixture
def from_tabs(app, servers) -> Iterator[Callable[[str, dict[str, str]], list[int]]]:
    """Sends a steering form from TABS tabs of one organiser at the same moment, the tabs on
    both servers; the statuses of the answers."""
    add_accounts(app, [ORGANISER])
    with browsers(servers, 1) as (organiser,):
        assert log_in(organiser, ORGANISER, STAFF_PASSWORD).status_code == 303
        token = csrf_token(organiser.get(STEERING).text)

        def send(path: str, data: dict[str, str]) -> list[int]:
            def one(n: int) -> int:
                with tab(organiser, servers[n % 2]) as browser:
                    return browser.post(path, data={**data, "csrf_token": token}).status_code

            return at_once(one, range(TABS))

        yield send


def test_a_first_change_of_state_or_a_pause_sent_from_several_tabs_at_once_is_made_once(
    app, from_tabs
):
    """Each tab's change is made and audited; the state and the pause are one row each."""
    assert from_tabs("/dashboard/campaign-state", {"action": "pause"}) == [303] * TABS
    assert from_tabs("/dashboard/officials/ombudsman/pause", {"reason": "Moved"}) == [303] * TABS
    assert (rows(app, CampaignState), rows(app, OfficialPause)) == (1, 1)
    assert audited(app) == {"campaign paused": TABS, "official paused": TABS}


def test_an_update_or_paper_letters_deleted_from_several_tabs_at_once_are_deleted_once(
    app, from_tabs
):
    """The first tab deletes, the others find nothing to delete."""
    with app.state.sessionmaker() as db:
        add_update(db, date.today(), {"en": "Posted in error."}, "setup")
        record_paper_letters(db, "ombudsman", 12, date.today(), "", None, utc_now(), "setup")
        db.commit()
        update_id, entry_id = db.scalar(select(CaseUpdate.id)), db.scalar(select(OfflineLetters.id))
    once = [303] + [404] * (TABS - 1)
    assert sorted(from_tabs(f"/dashboard/updates/{update_id}/delete", {})) == once
    assert sorted(from_tabs(f"/dashboard/paper-letters/{entry_id}/delete", {})) == once
    assert (rows(app, CaseUpdate), rows(app, OfflineLetters)) == (0, 0)
    assert audited(app) == {"case update deleted": 1, "paper letters deleted": 1}


def test_an_event_ended_and_its_letters_posted_from_several_tabs_at_once_are_so_once(
    app, from_tabs, campaign
):
    """The event is ended once; each tab's posting is audited, and only the first found letters
    to post."""
    with app.state.sessionmaker() as db:
        event = create_event(db, "Rush", today(app), "Hall", today(app), "setup", utc_now())
        for _ in range(3):
            two = campaign.recipients[:2]
            record_pack_once(db, new_token(), two, "en", "DE", date.today(), event_id=event.id)
        db.commit()
    assert from_tabs(f"/dashboard/events/{event.id}/end", {}) == [303] * TABS
    assert from_tabs(f"/dashboard/events/{event.id}/posted", {}) == [303] * TABS
    assert letters_at(app) == {event.id: (6, 6)}
    assert consistent(app) == []
    assert audited(app) == {"event ended": 1, "event letters posted": TABS}
    with app.state.sessionmaker() as db:
        posted = db.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "event letters posted")
        )
        said = sorted(detail.rsplit(": ", 1)[1] for detail in posted)
    assert said == ["0 letters"] * (TABS - 1) + ["6 letters"]


# --- admins changing roles -----------------------------------------------------------------------

ADMINS = ["admin0@example.org", "admin1@example.org"]


@pytest.fixture
def change_role(app, servers) -> Iterator[Callable[[int, int, str], httpx.Response]]:
    """Two admins logged in: `change_role(n, staff_id, role)` sends admin n % 2's form from a
    tab of its own, on server n % 2."""
    add_accounts(app, ADMINS, "admin")
    with browsers(servers, 2) as both:
        logins = at_once(lambda n: log_in(both[n], ADMINS[n], STAFF_PASSWORD), range(2))
        assert statuses(logins) == [303, 303]
        tokens = [csrf_token(admin.get("/dashboard/staff").text) for admin in both]

        def change(n: int, staff_id: int, role: str) -> httpx.Response:
            with tab(both[n % 2], servers[n % 2]) as browser:
                data = {"role": role, "csrf_token": tokens[n % 2]}
                return browser.post(f"/dashboard/staff/{staff_id}/role", data=data)

        yield change


def roles(app: FastAPI) -> dict[str, str]:
    with app.state.sessionmaker() as db:
        return dict(db.execute(select(Staff.email, Staff.role)).all())


def test_admins_change_roles_at_once_and_each_change_is_audited_once(app, change_role):
    """Each of four viewers is made an organiser from a tab of each admin at once."""
    viewers = add_accounts(app, [f"viewer{n}@example.org" for n in range(4)], "viewer")
    ids = list(viewers.values())
    answers = at_once(lambda n: change_role(n, ids[n // 2], "organiser"), range(8))
    assert statuses(answers) == [303] * 8
    assert {email: roles(app)[email] for email in viewers} == dict.fromkeys(viewers, "organiser")
    assert audited(app) == {"staff role changed": 4}


def test_two_admins_demoting_each_other_at_once_leave_one_admin(app, change_role):
    """Each admin demotes the other from two tabs, all at once: whatever the order, one stays
    an admin, the other's posts are refused (their role, or the last admin's), and the audit
    log says it once."""
    with app.state.sessionmaker() as db:
        ids = dict(db.execute(select(Staff.email, Staff.id)).all())
    # Tabs 0 and 2 are admin0's, 1 and 3 admin1's: each demotes the other.
    answers = at_once(lambda n: change_role(n, ids[ADMINS[1 - n % 2]], "viewer"), range(4))
    now = roles(app)
    assert sorted(now[email] for email in ADMINS) == ["admin", "viewer"]
    winner = [now[email] for email in ADMINS].index("admin")
    assert statuses(answers)[winner::2] == [303, 303]
    assert set(statuses(answers)[1 - winner :: 2]) <= {403, 409}  # no longer admin / the last
    assert audited(app) == {"staff role changed": 1}
