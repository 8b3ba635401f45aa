"""No letter to an office nobody has checked: an official last checked longer ago than
STALE_AFTER_DAYS is unverified. Under UNVERIFIED_OFFICIALS=hold (production's default) no letter
can be made to them, by the page, the form's posts or the API, until staff record a check on the
steering page or with `letter-campaign official verify`; under warn (development's) they are
offered, dated. The suite's officials were all verified on 2018-02-01, so all are unverified."""

import getpass
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.html_pages import Page
from tests.reading import pdf_text
from tests.staff_pages import STEERING, csrf_token, log_in, steering_token, tables
from tests.test_letters import run_cli
from tests.test_supporter_form import create, post, stats

HELD = "Letters to this office wait until the campaign checks who holds it."
LAST_CHECKED = "Who holds this office was last checked on 1 February 2018."
SOURCE = "https://www.gov.kz/memleket/entities/adilet?lang=en"


@pytest.fixture
def typed() -> dict:
    """Two letters, as the no-JavaScript form posts them."""
    return {
        "name": "Мария Иванова",
        "street": "Lindenstraße 12",
        "postcode": "10969",
        "city": "Berlin",
        "country": "DE",
        "language": "en",
        "recipients": ["la-155-1", "ombudsman"],
        "message": "",
        "signature_kind": "typed",
    }


@pytest.fixture
def hold(app) -> None:
    app.state.settings.unverified_officials = "hold"


def cli(database_url: str, tmp_path, *args: str):
    return run_cli(*args, cwd=tmp_path, env={"DATABASE_URL": database_url})


def verify(client, official: str, source: str = SOURCE, note: str = "Same holder."):
    data = {"source_url": source, "note": note, "csrf_token": steering_token(client)}
    return client.post(f"/dashboard/officials/{official}/verify", data=data, follow_redirects=False)


def api_letters(client, supporter_data: dict, recipients: list[str]):
    return client.post("/api/letters", json={**supporter_data, "recipients": recipients})


def officials(client) -> dict[str, dict]:
    return {o["id"]: o for o in client.get("/api/recipients").json()}


def audit_rows(client) -> list[list[str]]:
    """The steering page's audit log: when (UTC), who, what, detail; latest first (no table while
    it is empty)."""
    return tables(client.get(STEERING).text).get("audit-log", [[]])[1:]


def test_when_every_office_is_held_the_page_says_so_instead_of_a_form(
    client, hold, campaign, supporter_data
):
    page = Page(client.get("/?lang=en").text)
    assert not page.all("form.supporter-form")
    assert not page.all('a.button[href="#write"]')
    assert page.text("#write-heading") == "Letters wait for now"
    assert "No official can take letters just now" in page.text("#none-writable")
    held = page.all(".officials li.held")
    assert [li.get("id") for li in held] == [f"official-{r.id}" for r in campaign.recipients]
    for li in held:
        assert HELD in " ".join(li.itertext()) and LAST_CHECKED in " ".join(li.itertext())
    answer = api_letters(client, supporter_data, [])
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["type"] == "unverified_recipient"
    assert stats(client)["generated"] == 0


def test_hold_refuses_an_unverified_office_on_every_path_and_a_check_opens_it(
    staff_client, hold, typed, supporter_data
):
    client = staff_client
    assert verify(client, "la-155-1").status_code == 303
    page = Page(client.get("/?lang=en").text)
    offered = [v for k, v in page.form_values("form.supporter-form") if k == "recipients"]
    assert offered == ["la-155-1"]
    assert HELD in page.text("#official-ombudsman")
    assert not page.all("#official-la-155-1.held")

    # The form: the preview, and creating from a preview made before the office was held.
    refused = post(client, "/preview", typed)
    assert refused.status_code == 422
    assert "wait until the campaign checks who holds it" in Page(refused.text).text(
        "#recipients-error"
    )
    client.app.state.settings.unverified_officials = "warn"
    decided = Page(post(client, "/preview", typed).text).form_values("form.decide")
    client.app.state.settings.unverified_officials = "hold"
    assert post(client, "/letters", decided).status_code == 422

    # The API: named, refused with the reason; "all" leaves the office out.
    named = api_letters(client, supporter_data, ["la-155-1", "ombudsman"])
    assert named.status_code == 422
    [problem] = named.json()["detail"]
    assert problem["loc"] == ["body", "recipients"]
    assert problem["type"] == "unverified_recipient"
    assert "'ombudsman'" in problem["msg"] and "last checked on 2018-02-01" in problem["msg"]
    assert stats(client)["generated"] == 0
    everyone = api_letters(client, supporter_data, [])
    assert everyone.status_code == 200
    counted = {r["id"]: r["generated"] for r in stats(client)["recipients"]}
    assert counted == {r: int(r == "la-155-1") for r in counted}

    listed = officials(client)
    assert listed["ombudsman"]["held"] is True and listed["ombudsman"]["unverified"] is True
    assert listed["ombudsman"]["last_checked"] == "2018-02-01"
    assert listed["la-155-1"]["held"] is False and listed["la-155-1"]["unverified"] is False

    # The steering page's check opens the office, at once.
    assert verify(client, "ombudsman").status_code == 303
    assert post(client, "/preview", typed).status_code == 200
    assert api_letters(client, supporter_data, ["ombudsman"]).status_code == 200


@pytest.mark.slow
def test_a_download_leaves_out_an_office_held_since_and_the_command_line_check_opens_it(
    staff_client, typed, campaign, database_url, tmp_path
):
    """A thank-you page made under warn, downloaded again under hold: the held office's letter
    is not made; asked for alone, the page says why; `official verify` lets it through."""
    client = staff_client
    download = create(client, typed).form_values("#download")
    client.app.state.settings.unverified_officials = "hold"
    verify(client, "la-155-1")
    names = {
        r: campaign.recipient(r).address_as["en"].address_lines[0] for r in typed["recipients"]
    }

    letters = post(client, "/letters/pdf", [*download, ("recipient", "")])
    assert letters.status_code == 200
    text = pdf_text(letters.content)
    assert names["la-155-1"] in text and names["ombudsman"] not in text

    alone = post(client, "/letters/pdf", [*download, ("recipient", "ombudsman")])
    assert alone.status_code == 422
    page = Page(alone.text)
    assert page.text("h1") == "Letters wait for now"
    assert HELD in page.text("main") and LAST_CHECKED in page.text("main")

    result = cli(database_url, tmp_path, "official", "verify", "ombudsman", "--source", SOURCE)
    assert result.returncode == 0, result.stderr
    again = post(client, "/letters/pdf", [*download, ("recipient", "ombudsman")])
    assert again.status_code == 200
    assert names["ombudsman"] in pdf_text(again.content)


@pytest.mark.slow
def test_the_audit_log_shows_who_checked_when_and_with_what_source(
    staff_client, hold, database_url, tmp_path
):
    client = staff_client
    before = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    assert verify(client, "ombudsman", note="Holder unchanged\nsince 2024.").status_code == 303
    result = cli(
        database_url, tmp_path, "official", "verify", "prosecutor-general",
        "--source", SOURCE, "--note", "Checked on the office's own site.",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "prosecutor-general: checked on" in result.stderr
    after = datetime.now(UTC).replace(tzinfo=None)

    by_official = {row[3].split(";")[0]: row for row in audit_rows(client)}
    for official, who, note in [
        ("ombudsman", "staff@example.org", "Holder unchanged"),
        ("prosecutor-general", f"command line ({getpass.getuser()})", "Checked on the office"),
    ]:
        when, actor, action, detail = by_official[official]
        assert before <= datetime.strptime(when, "%Y-%m-%d %H:%M:%S") <= after
        assert (actor, action) == (who, "official checked")
        assert f"source {SOURCE}" in detail and note in detail
    today = datetime.now(UTC).date().isoformat()
    assert officials(client)["ombudsman"]["last_checked"] == today
    table = tables(client.get(STEERING).text)["officials-steering"]
    checked = {row[0]: row[1] for row in table[1:]}
    assert sum(cell.startswith(today) for cell in checked.values()) == 2


@pytest.mark.slow
def test_a_check_without_a_source_counts_and_a_bad_source_is_refused(
    staff_client, hold, database_url, tmp_path
):
    client = staff_client
    for bad in ["javascript:alert(1)", "ftp://files.example.org/x", "https://", "not a url"]:
        refused = verify(client, "ombudsman", source=bad)
        assert refused.status_code == 422, bad
        assert "source" in Page(refused.text).text(".error")
        result = cli(database_url, tmp_path, "official", "verify", "ombudsman", "--source", bad)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and "source" in result.stderr
    unknown = cli(database_url, tmp_path, "official", "verify", "nobody")
    assert unknown.returncode == 2 and "no official 'nobody'" in unknown.stderr
    forged = client.post(
        "/dashboard/officials/ombudsman/verify", data={"source_url": SOURCE, "csrf_token": "x"}
    )
    assert forged.status_code == 403
    assert officials(client)["ombudsman"]["held"] is True
    assert not any(row[2] == "official checked" for row in audit_rows(client))

    assert verify(client, "ombudsman", source="", note="").status_code == 303
    assert officials(client)["ombudsman"]["held"] is False
    assert audit_rows(client)[0][2:] == ["official checked", "ombudsman; no source given"]


def test_warn_offers_every_office_dated_on_the_page_the_preview_and_the_api(
    staff_client, typed, campaign
):
    client = staff_client
    assert client.app.state.settings.unverified_officials == "warn"  # development's default
    page = Page(client.get("/?lang=en").text)
    offered = [v for k, v in page.form_values("form.supporter-form") if k == "recipients"]
    assert offered == [r.id for r in campaign.recipients]
    assert not page.all(".officials li.held")
    assert len(page.all(".officials .last-checked")) == len(campaign.recipients)
    assert LAST_CHECKED in page.text("label[for=recipients-ombudsman]")

    shown = Page(post(client, "/preview", typed).text)
    assert shown.texts(".letter-preview .last-checked") == [LAST_CHECKED, LAST_CHECKED]
    assert "1 февраля 2018" in Page(post(client, "/preview", typed, "ru").text).text(
        ".letter-preview .last-checked"
    )
    listed = officials(client)["ombudsman"]
    assert (listed["last_checked"], listed["unverified"], listed["held"]) == (
        "2018-02-01",
        True,
        False,
    )

    verify(client, "ombudsman")
    page = Page(client.get("/?lang=en").text)
    assert not page.all("#official-ombudsman .last-checked")
    assert page.all("#official-la-155-1 .last-checked")
    assert officials(client)["ombudsman"]["unverified"] is False


def test_an_office_checked_within_stale_after_days_is_not_held(client, hold, app, campaign):
    years = (datetime.now(UTC).date() - min(r.verified for r in campaign.recipients)).days + 1
    app.state.settings.stale_after_days = years
    page = Page(client.get("/?lang=en").text)
    assert not page.all(".officials .last-checked, .officials li.held")
    offered = [v for k, v in page.form_values("form.supporter-form") if k == "recipients"]
    assert offered == [r.id for r in campaign.recipients]


# --- production ---------------------------------------------------------------------------------

PUBLIC = "https://letters.example.org"


@pytest.fixture
def production(app, database_url):
    """The service as production runs it (its settings from its environment), on the test's
    emptied database."""
    settings = Settings(
        database_url=database_url,
        secret_key="a production secret of at least 32 characters",
        environment="production",
        public_url=PUBLIC,
    )
    served = create_app(settings)
    with TestClient(served, base_url="http://letters.example.org") as client:
        yield client
    served.state.engine.dispose()


@pytest.mark.slow
def test_production_holds_unverified_offices_until_the_command_line_checks_them(
    production, supporter_data, database_url, tmp_path, typed, monkeypatch
):
    page = Page(production.get("/?lang=en").text)
    assert not page.all("form.supporter-form")
    assert "No official can take letters just now" in page.text("#none-writable")
    refused = api_letters(production, supporter_data, ["ombudsman"])
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["type"] == "unverified_recipient"
    assert post(production, "/preview", typed).status_code == 422

    assert cli(database_url, tmp_path, "official", "verify", "ombudsman").returncode == 0
    made = api_letters(production, supporter_data, [])
    assert made.status_code == 200
    counted = {r["id"]: r["generated"] for r in stats(production)["recipients"]}
    assert counted == {r: int(r == "ombudsman") for r in counted}

    monkeypatch.setenv("UNVERIFIED_OFFICIALS", "warn")  # an explicit choice wins
    explicit = Settings(environment="production", secret_key="s" * 40, public_url=PUBLIC)
    assert explicit.unverified_officials == "warn"
    monkeypatch.delenv("UNVERIFIED_OFFICIALS")
    assert Settings().unverified_officials == "warn"  # development


# --- a check lands while supporters write -------------------------------------------------------

BATCH = 8


@pytest.fixture
def held_servers(request, monkeypatch):
    """Two `letter-campaign serve` processes under UNVERIFIED_OFFICIALS=hold."""
    monkeypatch.setenv("UNVERIFIED_OFFICIALS", "hold")
    return request.getfixturevalue("two_servers")


def write(base_url: str, supporter_data: dict) -> tuple[float, float, httpx.Response]:
    """One supporter's letter to the ombudsman, on a connection of its own."""
    body = {**supporter_data, "recipients": ["ombudsman"], "signature": {"kind": "none"}}
    started = datetime.now(UTC).timestamp()
    response = httpx.post(f"{base_url}/api/letters", json=body, timeout=120)
    return started, datetime.now(UTC).timestamp(), response


@pytest.mark.slow
def test_a_check_made_on_one_server_counts_on_the_other_while_supporters_write(
    held_servers, staff_account, supporter_data, app
):
    first, second = held_servers
    servers = [first, second]
    with httpx.Client(base_url=first, timeout=60) as staff:
        assert log_in(staff, *staff_account).status_code == 303
        token = csrf_token(staff.get(STEERING).text)
        with ThreadPoolExecutor(6) as pool:
            before = [pool.submit(write, servers[n % 2], supporter_data) for n in range(BATCH)]
            assert {f.result()[2].status_code for f in before} == {422}
            during = [pool.submit(write, servers[n % 2], supporter_data) for n in range(BATCH)]
            checked = staff.post(
                "/dashboard/officials/ombudsman/verify",
                data={"source_url": SOURCE, "csrf_token": token},
            )
            checked_at = datetime.now(UTC).timestamp()
            assert checked.status_code == 303
            after = [pool.submit(write, servers[n % 2], supporter_data) for n in range(BATCH)]
            answers = [f.result() for f in [*during, *after]]

    for started, _, response in answers:
        if response.status_code == 422:
            assert response.json()["detail"][0]["type"] == "unverified_recipient"
            assert started < checked_at
        else:
            assert response.status_code == 200 and response.content[:5] == b"%PDF-"
    assert all(response.status_code == 200 for _, _, response in answers[BATCH:])
    made = sum(response.status_code == 200 for _, _, response in answers)
    for base_url in servers:
        counts = httpx.get(f"{base_url}/api/stats", timeout=30).json()
        assert counts["generated"] == made
        listed = {o["id"]: o for o in httpx.get(f"{base_url}/api/recipients").json()}
        assert listed["ombudsman"]["held"] is False
