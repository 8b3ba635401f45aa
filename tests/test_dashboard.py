"""The staff dashboard: exact totals, per official, language and country, letters per day as an
SVG chart over a chosen range, progress towards the goal, and paper letters entered by staff on
the steering page, counted and shown apart."""

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.settings import SOURCE_ROOT
from app.storage.letters import confirm_posted, record_pack
from app.storage.models import AuditEntry
from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD
from tests.servers import free_port, running
from tests.staff_pages import dashboard_token, rows_by_label, tables

PAPER_FORM = "/dashboard/paper-letters"
STEERING = "/dashboard/steering"


@pytest.fixture
def letters(app, campaign, clock):
    """Three downloads over three days, some confirmed (one twice), as the supporter API does."""
    today = clock.now.date()
    la, committee, prosecutor, security, secretary, ombudsman = campaign.recipients
    with app.state.sessionmaker() as db:
        a = record_pack(db, [la, committee, prosecutor], "ru", "DE", today - timedelta(days=2))
        b = record_pack(db, campaign.recipients, "kk", "KZ", today)
        record_pack(db, [prosecutor, ombudsman], "en", "DE", today)
        confirm_posted(db, a, today - timedelta(days=1))
        confirm_posted(db, a, today)
        confirm_posted(db, b, today, [prosecutor.id, ombudsman.id])
        db.commit()
    return today


def add_paper(client, **fields: str):
    data = {"csrf_token": dashboard_token(client), **fields}
    return client.post(PAPER_FORM, data=data, follow_redirects=False)


def test_the_dashboard_counts_every_letter_exactly(staff_client, campaign, letters):
    today = letters
    for official, number, day, note in [
        ("prosecutor-general", "40", today - timedelta(days=3), "Vigil at the embassy, Berlin"),
        ("ombudsman", "7", today, ""),
    ]:
        recorded = add_paper(
            staff_client, official=official, number=number, date=str(day), note=note
        )
        assert recorded.status_code == 303
        assert recorded.headers["location"] == "/dashboard/steering#paper-letters"

    page = staff_client.get("/dashboard")
    assert page.status_code == 200
    found = tables(page.text)

    assert rows_by_label(found["totals"]) == {
        "Online": ["11", "5", "45.5 %"],
        "On paper, at events": ["47", "47", "100.0 %"],
        "All letters": ["58", "52", "89.7 %"],
    }
    name = {r.id: r.name for r in campaign.recipients}
    assert rows_by_label(found["officials"]) == {
        name["la-155-1"]: ["2", "1", "50.0 %", "0"],
        name["criminal-executive-committee"]: ["2", "1", "50.0 %", "0"],
        name["prosecutor-general"]: ["3", "2", "66.7 %", "40"],
        name["national-security-committee"]: ["1", "0", "0.0 %", "0"],
        name["state-secretary"]: ["1", "0", "0.0 %", "0"],
        name["ombudsman"]: ["2", "1", "50.0 %", "7"],
    }
    assert found["languages"][1:] == [
        ["Қазақша (kk)", "6", "2", "33.3 %"],
        ["Русский (ru)", "3", "3", "100.0 %"],
        ["English (en)", "2", "0", "0.0 %"],
    ]
    assert found["countries"][1:] == [
        ["Kazakhstan (KZ)", "6", "2", "33.3 %"],
        ["Germany (DE)", "5", "3", "60.0 %"],
    ]
    assert found["days"][1:] == [
        [str(today), "8", "2", "7"],
        [str(today - timedelta(days=1)), "0", "3", "0"],
        [str(today - timedelta(days=2)), "3", "0", "0"],
        [str(today - timedelta(days=3)), "0", "0", "40"],
    ]
    assert re.search(r"<strong>58</strong> of 5,000 letters\s*\(1\.2 %\)", page.text)
    assert '<progress max="5000" value="58"' in page.text
    entered = tables(staff_client.get(STEERING).text)["paper-entries"]
    assert rows_by_label(entered)[str(today - timedelta(days=3))][:3] == [
        name["prosecutor-general"],
        "40",
        "Vigil at the embassy, Berlin",
    ]


def test_the_chart_draws_letters_per_day_to_scale_without_javascript(staff_client, letters):
    today = letters
    page = staff_client.get("/dashboard").text
    svg = page[page.index("<svg") : page.index("</svg>")]
    bars = {
        title: float(height)
        for height, title in re.findall(
            r'<rect [^>]*height="([\d.]+)"[^>]*data-series="\w+"><title>([^<]+)</title>', svg
        )
    }
    assert len(bars) == 2 * 3  # generated and posted for each day since the first letter
    assert bars[f"{today}: 8 generated"] == pytest.approx(4 * bars[f"{today}: 2 posted"], abs=0.1)
    assert bars[f"{today - timedelta(days=1)}: 3 posted"] == pytest.approx(
        bars[f"{today - timedelta(days=2)}: 3 generated"]
    )
    assert bars[f"{today - timedelta(days=1)}: 0 generated"] == 0
    assert 'role="img"' in svg and "<title" in svg


def chart_bars(page: str) -> list[tuple[float, str]]:
    """The chart's bars as (width, title), left to right."""
    svg = page[page.index("<svg") : page.index("</svg>")]
    return [
        (float(width), title)
        for width, title in re.findall(
            r'<rect [^>]*width="([\d.]+)"[^>]*data-series="\w+"><title>([^<]+)</title>', svg
        )
    ]


def test_the_days_shown_are_chosen_with_plain_links(app, staff_client, campaign, clock):
    today = clock.now.date()
    with app.state.sessionmaker() as db:
        for days_ago in (400, 40, 3, 0):
            record_pack(db, campaign.recipients[:1], "en", "DE", today - timedelta(days=days_ago))
        db.commit()
    page = staff_client.get("/dashboard").text
    links = re.findall(
        r'<a href="/dashboard\?days=(\w+)#chart-heading"( aria-current="true")?', page
    )
    assert links == [("7", ""), ("30", ' aria-current="true"'), ("all", "")]
    for chosen, days in [("7", 7), ("30", 30), ("all", 401)]:
        shown = staff_client.get(f"/dashboard?days={chosen}").text
        assert len(tables(shown)["days"]) == 1 + days, chosen
        assert f'<a href="/dashboard?days={chosen}#chart-heading" aria-current="true">' in shown
    assert len(chart_bars(staff_client.get("/dashboard?days=7").text)) == 2 * 7
    wrong = staff_client.get("/dashboard?days=365")
    assert wrong.status_code == 422
    assert "days" in wrong.text


def test_the_chart_is_readable_with_one_day_of_letters_as_with_more_than_a_year(
    app, staff_client, campaign, clock
):
    today = clock.now.date()
    with app.state.sessionmaker() as db:
        record_pack(db, campaign.recipients[:2], "en", "DE", today)
        db.commit()
    one_day = chart_bars(staff_client.get("/dashboard").text)
    assert [title for _, title in one_day] == [f"{today}: 2 generated", f"{today}: 0 posted"]
    assert all(width <= 30 for width, _ in one_day)  # two bars, not two walls across the chart

    with app.state.sessionmaker() as db:
        record_pack(db, campaign.recipients[:1], "en", "DE", today - timedelta(days=400))
        db.commit()
    years = chart_bars(staff_client.get("/dashboard?days=all").text)
    assert all(title.startswith("week of ") for _, title in years)
    assert 2 * 57 <= len(years) <= 2 * 59  # one pair of bars per week of 401 days
    assert all(width >= 4 for width, _ in years)
    assert sum(int(title.split(": ")[1].split()[0]) for _, title in years[::2]) == 3


def test_an_empty_campaign_shows_zeros(staff_client):
    found = tables(staff_client.get("/dashboard").text)
    assert rows_by_label(found["totals"])["All letters"] == ["0", "0", "–"]
    assert all(row[1:] == ["0", "0", "–", "0"] for row in found["officials"][1:])
    assert len(found["officials"]) == 1 + 6


def test_the_goal_comes_from_the_settings(app, staff_client, letters):
    app.state.settings = app.state.settings.model_copy(update={"campaign_goal": 20})
    page = staff_client.get("/dashboard").text
    assert re.search(r"<strong>11</strong> of 20 letters\s*\(55\.0 %\)", page)


def fields_in_error(page: str) -> list[str]:
    """The fields the paper letters' error box links to, in order."""
    box = page[page.index('id="paper-errors"') :]
    return re.findall(r'<li><a href="#paper-(\w+)">', box[: box.index("</div>")])


def test_wrong_paper_letters_are_refused_naming_each_field(staff_client, clock):
    tomorrow = clock.now.date() + timedelta(days=1)
    refused = add_paper(
        staff_client, official="nobody", number="-3", date=str(tomorrow), note="x" * 501
    )
    assert refused.status_code == 422
    assert "<h1>Steering the campaign</h1>" in refused.text
    errors = fields_in_error(refused.text)
    assert errors == ["official", "number", "date", "note"]
    for number, date in [("many", "2026-02-30"), ("0", "yesterday"), ("1.5", "")]:
        again = add_paper(staff_client, official="ombudsman", number=number, date=date)
        assert again.status_code == 422
        assert fields_in_error(again.text) == ["number", "date"]
    found = tables(staff_client.get("/dashboard").text)
    assert rows_by_label(found["totals"])["On paper, at events"][0] == "0"


def test_paper_letters_need_the_sessions_csrf_token(staff_client, clock):
    for token in ("", "forged"):
        refused = staff_client.post(
            PAPER_FORM,
            data={
                "csrf_token": token,
                "official": "ombudsman",
                "number": "5",
                "date": str(clock.now.date()),
            },
            follow_redirects=False,
        )
        assert refused.status_code == 403
    found = tables(staff_client.get("/dashboard").text)
    assert rows_by_label(found["totals"])["On paper, at events"][0] == "0"


def test_paper_letters_entered_in_error_can_be_deleted_and_both_are_audited(
    app, staff_client, clock
):
    day = str(clock.now.date())
    add_paper(staff_client, official="ombudsman", number="12", date=day, note="Typo")
    add_paper(staff_client, official="ombudsman", number="3", date=day, note="Market stall")
    page = staff_client.get(STEERING).text
    actions = re.findall(r'action="(/dashboard/paper-letters/\d+/delete)"', page)
    assert len(actions) == 2
    typo = next(a for a in actions if page.index(a) > page.index("Typo"))
    assert staff_client.post(typo, data={"csrf_token": "forged"}).status_code == 403
    deleted = staff_client.post(
        typo, data={"csrf_token": dashboard_token(staff_client)}, follow_redirects=False
    )
    assert deleted.status_code == 303
    found = tables(staff_client.get("/dashboard").text)
    assert rows_by_label(found["totals"])["On paper, at events"][0] == "3"
    gone = staff_client.post(typo, data={"csrf_token": dashboard_token(staff_client)})
    assert gone.status_code == 404
    with app.state.sessionmaker() as db:
        log = db.execute(select(AuditEntry.actor, AuditEntry.action, AuditEntry.detail)).all()
    assert sorted(log) == [
        (STAFF_EMAIL, "paper letters deleted", f"12 to ombudsman, {day}"),
        (STAFF_EMAIL, "paper letters recorded", f"12 to ombudsman, {day}"),
        (STAFF_EMAIL, "paper letters recorded", f"3 to ombudsman, {day}"),
    ]


def test_staff_pages_are_not_cached_and_load_nothing_from_elsewhere(app, staff_client):
    pages = [TestClient(app).get("/login"), staff_client.get("/dashboard")]
    for response in [*pages, staff_client.get(STEERING)]:
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        html = response.text
        assert "<script" not in html
        assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers
        links = re.findall(r'(?:src|href|action)="([^"]*)"', html)
        assert links and all(link.startswith(("/", "#")) for link in links), links
    sheets = re.findall(r'href="(/assets/staff\.[0-9a-f]{12}\.css)"', html)
    stylesheet = staff_client.get(sheets[0])
    assert stylesheet.status_code == 200 and "text/css" in stylesheet.headers["content-type"]


# --- in a real browser ---------------------------------------------------------------------------

AXE = SOURCE_ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_violations(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_21_AA
    )
    assert len(result["passes"]) > 10, "axe checked next to nothing"
    return [
        {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]


def wider_than_the_window(page) -> int:
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


@pytest.mark.browser
def test_the_staff_pages_work_in_a_browser_and_pass_axe_on_desktop_and_phone(tmp_path, campaign):
    from playwright.sync_api import sync_playwright

    from app.storage.db import make_engine, migrate
    from app.storage.staff import add_staff, utc_now

    database_url = f"sqlite:///{tmp_path / 'staff.db'}"
    migrate(database_url)
    engine = make_engine(database_url)
    with Session(engine) as db:
        add_staff(db, STAFF_EMAIL, STAFF_PASSWORD, utc_now())
        token = record_pack(db, campaign.recipients, "kk", "KZ", utc_now().date())
        confirm_posted(db, token, utc_now().date())
        db.commit()
    engine.dispose()
    port = free_port()
    command = [str(SOURCE_ROOT / ".venv" / "bin" / "letter-campaign"), "serve", "--port", str(port)]
    env = {"DATABASE_URL": database_url, "SECRET_KEY": "browser-test-secret"}
    with (
        running(command, env, port, tmp_path / "server.log") as (base_url, _),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        for viewport in ({"width": 1280, "height": 900}, {"width": 375, "height": 740}):
            context = browser.new_context(bypass_csp=True, viewport=viewport)
            page = context.new_page()
            page.set_default_timeout(15_000)
            requests: list[str] = []
            page.on("request", lambda request, seen=requests: seen.append(request.url))

            page.goto(f"{base_url}/dashboard")
            assert page.url == f"{base_url}/login"
            assert axe_violations(page) == []
            page.fill("#email", STAFF_EMAIL)
            page.fill("#password", STAFF_PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base_url}/dashboard")
            assert wider_than_the_window(page) <= 0, viewport
            assert axe_violations(page) == []

            page.click("nav.pages >> text=Steering")
            page.wait_for_url(f"{base_url}{STEERING}")
            assert wider_than_the_window(page) <= 0, viewport
            assert axe_violations(page) == []
            page.fill("#paper-number", "12")
            page.fill("#paper-note", "Stall at the book fair")
            page.select_option("#paper-official", "ombudsman")
            page.click("text=Record the paper letters")
            page.wait_for_selector("#paper-entries")
            assert "Stall at the book fair" in page.inner_text("#paper-entries")

            page.evaluate(
                "document.querySelector('form[action$=\"paper-letters\"]').noValidate = true"
            )
            page.fill("#paper-number", "0")
            page.click("text=Record the paper letters")
            page.wait_for_selector("#paper-errors")
            assert wider_than_the_window(page) <= 0, viewport
            assert axe_violations(page) == []
            assert all(url.startswith(base_url) for url in requests), requests
            context.close()
        browser.close()
