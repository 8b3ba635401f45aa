"""Replies from officials and case updates: recorded by staff, shown on the campaign page with
everything staff typed escaped, and served as an Atom feed; stale officials' data and the audit
log on the steering page."""

from datetime import date
from xml.etree import ElementTree

import pytest

from tests.html_pages import Page, text_of
from tests.staff_pages import STEERING, steering_token, tables
from tests.test_campaign_operations import cli

ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'
LINKED = "Hearing moved: https://example.org/court?case=12&day=3. More soon."


def record_reply(client, official: str, received_on: str, summary: str):
    data = {"official": official, "received_on": received_on, "summary": summary,
            "csrf_token": steering_token(client)}  # fmt: skip
    return client.post("/dashboard/replies", data=data, follow_redirects=False)


def post_update(client, posted_on: str, **texts: str):
    data = {"posted_on": posted_on, "csrf_token": steering_token(client)}
    data.update({f"text_{lang}": text for lang, text in texts.items()})
    return client.post("/dashboard/updates", data=data, follow_redirects=False)


def test_a_reply_shows_on_the_page_escaped_and_per_official_on_the_steering_page(staff_client):
    assert record_reply(staff_client, "ombudsman", "2026-03-02", HOSTILE).status_code == 303
    assert (
        record_reply(staff_client, "ombudsman", "2026-04-01", "Promised a visit.").status_code
        == 303
    )
    page = Page(staff_client.get("/?lang=en").text)
    assert page.text("#replies-heading") == "Replies received"
    assert [li for li in page.texts(".replies li")][0].endswith("Promised a visit.")
    assert HOSTILE in page.text(".replies")
    assert "<script>alert" not in page.html and not page.all(".replies img, .replies script")
    ru = Page(staff_client.get("/?lang=ru").text)
    assert ru.text("#replies-heading") == "Полученные ответы"
    rows = tables(staff_client.get(STEERING).text)["replies-per-official"]
    by_official = {row[0]: row for row in rows[1:]}
    assert len(by_official) == 6
    ombudsman = next(row for name, row in by_official.items() if row[1] == "2")
    assert "2026-04-01: Promised a visit." in ombudsman[2]
    assert sorted(row[1] for row in by_official.values()) == ["0"] * 5 + ["2"]


def test_a_reply_needs_an_official_a_date_and_a_summary(staff_client):
    assert record_reply(staff_client, "nobody", "2026-03-02", "x").status_code == 422
    assert record_reply(staff_client, "ombudsman", "yesterday", "x").status_code == 422
    assert record_reply(staff_client, "ombudsman", "2026-03-02", " ").status_code == 422
    assert "Replies received" not in staff_client.get("/?lang=en").text


def test_updates_latest_first_escaped_with_links_in_the_ui_language(staff_client):
    assert post_update(staff_client, "2026-05-01", en=HOSTILE).status_code == 303
    assert (
        post_update(staff_client, "2026-06-01", en=LINKED, ru="Заседание перенесено.").status_code
        == 303
    )
    page = Page(staff_client.get("/?lang=en").text)
    articles = page.all("#updates article.update")
    assert [a.find(".//{*}time").get("datetime") for a in articles] == ["2026-06-01", "2026-05-01"]
    [link] = page.all("#updates article a")
    assert link.get("href") == "https://example.org/court?case=12&day=3"
    assert link.get("rel") == "nofollow noopener"
    assert HOSTILE in page.text("#updates")
    assert not page.all("#updates script, #updates img")
    ru = Page(staff_client.get("/?lang=ru").text)
    assert "Заседание перенесено." in ru.text("#updates")
    assert HOSTILE in ru.text("#updates")  # no Russian text given: English is shown


def test_the_atom_feed_parses_back_with_every_update_escaped(staff_client):
    post_update(staff_client, "2026-05-01", en=HOSTILE)
    post_update(staff_client, "2026-06-01", en=LINKED)
    response = staff_client.get("/updates.atom?lang=en")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ElementTree.fromstring(response.content)  # noqa: S314 (our own feed)
    assert feed.tag == f"{ATOM}feed"
    assert feed.find(f"{ATOM}title").text == "Free Almat Zhumagulov and Kenzhebek Abishev"
    entries = feed.findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}published").text[:10] for e in entries] == ["2026-06-01", "2026-05-01"]
    newest, oldest = (e.find(f"{ATOM}content") for e in entries)
    assert newest.get("type") == "html"
    assert (
        '<a href="https://example.org/court?case=12&amp;day=3" rel="nofollow noopener">'
        in newest.text
    )
    assert "<script>" not in oldest.text and "&lt;script&gt;" in oldest.text
    assert not [element for element in feed.iter() if "script" in element.tag]
    assert all(e.find(f"{ATOM}id").text for e in entries)


def test_the_feed_is_valid_with_no_updates(client):
    feed = ElementTree.fromstring(client.get("/updates.atom").content)  # noqa: S314
    assert feed.findall(f"{ATOM}entry") == []


def test_the_steering_page_warns_about_every_stale_official(staff_client, campaign, settings):
    page = Page(staff_client.get(STEERING).text)
    warned = [li.get("data-official") for li in page.all("#stale-officials li")]
    assert warned == [r.id for r in campaign.recipients]
    assert all(
        (date.today() - r.verified).days > settings.stale_after_days for r in campaign.recipients
    )
    assert f"more than {settings.stale_after_days} days ago" in page.text("#stale")


def test_a_fresh_official_is_not_warned_about(app, staff_client, campaign):
    years = (date.today() - min(r.verified for r in campaign.recipients)).days + 1
    app.state.settings.stale_after_days = years
    page = Page(staff_client.get(STEERING).text)
    assert page.all("#stale-officials li") == []


def test_every_staff_action_is_in_the_audit_log(staff_client):
    token = steering_token(staff_client)
    staff_client.post(
        "/dashboard/campaign-state",
        data={"action": "pause", "message_en": "Quiet.", "csrf_token": token},
    )
    staff_client.post(
        "/dashboard/officials/ombudsman/pause", data={"reason": "Moved", "csrf_token": token}
    )
    staff_client.post(
        "/dashboard/paper-letters",
        data={
            "official": "ombudsman",
            "number": "12",
            "date": date.today().isoformat(),
            "note": "Stall",
            "csrf_token": token,
        },
    )
    record_reply(staff_client, "ombudsman", "2026-03-02", "Answered.")
    post_update(staff_client, "2026-06-01", en="News.")
    rows = tables(staff_client.get(STEERING).text)["audit-log"][1:]
    assert {row[1] for row in rows} == {"staff@example.org"}
    assert all(len(row[0]) == 19 and row[0][:4].isdigit() for row in rows)
    actions = [row[2] for row in rows]
    assert actions[:2] == ["case update posted", "reply recorded"]
    assert set(actions[2:]) >= {"official paused", "campaign paused"}
    assert any("paper" in action for action in actions)


def posted_updates(client) -> dict[str, str]:
    """The steering page's list of updates: id -> the text shown."""
    page = Page(client.get(STEERING).text)
    return {li.get("data-update"): text_of(li) for li in page.all("#updates-posted li")}


def delete_from_the_steering_page(client, update_id: str):
    """Press the update's Delete button: post its form as the page gives it."""
    selector = f'#updates-posted li[data-update="{update_id}"] form'
    page = Page(client.get(STEERING).text)
    action = page.one(selector).get("action")
    return client.post(action, data=dict(page.form_values(selector)), follow_redirects=False)


def entries(client) -> list[str]:
    feed = ElementTree.fromstring(client.get("/updates.atom?lang=en").content)  # noqa: S314
    return [e.find(f"{ATOM}content").text for e in feed.findall(f"{ATOM}entry")]


def test_staff_delete_an_update_from_the_steering_page_and_the_audit_log_says_so(staff_client):
    post_update(staff_client, "2026-05-01", en="Posted in error.\nSecond line.")
    post_update(staff_client, "2026-06-01", en=LINKED)
    [wrong] = [i for i, text in posted_updates(staff_client).items() if "in error" in text]
    deleted = delete_from_the_steering_page(staff_client, wrong)
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/dashboard/steering#updates"
    assert list(posted_updates(staff_client)) != [] and wrong not in posted_updates(staff_client)
    assert "Posted in error." not in Page(staff_client.get("/?lang=en").text).text("#updates")
    assert len(entries(staff_client)) == 1
    rows = tables(staff_client.get(STEERING).text)["audit-log"][1:]
    assert rows[0][1:] == [
        "staff@example.org",
        "case update deleted",
        f"#{wrong} of 2026-05-01: Posted in error.",
    ]
    assert rows[1][2:] == ["case update posted", f"#{int(wrong) + 1} of 2026-06-01"]
    token = steering_token(staff_client)
    again = staff_client.post(f"/dashboard/updates/{wrong}/delete", data={"csrf_token": token})
    assert again.status_code == 404


def test_deleting_an_update_needs_a_session_and_its_token(staff_client, client):
    post_update(staff_client, "2026-05-01", en="Stays.")
    [kept] = posted_updates(staff_client)
    forged = staff_client.post(f"/dashboard/updates/{kept}/delete", data={"csrf_token": "x"})
    assert forged.status_code == 403
    staff_client.cookies.clear()
    anonymous = client.post(f"/dashboard/updates/{kept}/delete", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"
    assert len(entries(client)) == 1


@pytest.mark.slow
def test_the_command_line_lists_and_deletes_updates(staff_client, database_url, tmp_path):
    post_update(staff_client, "2026-05-01", ru="Только по-русски.")
    post_update(staff_client, "2026-06-01", en=LINKED, ru="Заседание перенесено.")
    listed = cli(database_url, tmp_path, "update", "list")
    assert listed.returncode == 0, listed.stderr
    lines = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [line[1:] for line in lines] == [
        ["2026-06-01", LINKED],
        ["2026-05-01", "Только по-русски."],
    ]
    older = lines[1][0]
    deleted = cli(database_url, tmp_path, "update", "delete", older)
    assert deleted.returncode == 0, deleted.stderr
    assert f"deleted case update {older}" in deleted.stderr
    assert list(posted_updates(staff_client)) == [lines[0][0]]
    assert len(entries(staff_client)) == 1
    rows = tables(staff_client.get(STEERING).text)["audit-log"][1:]
    assert rows[0][1].startswith("command line (")
    assert rows[0][2:] == ["case update deleted", f"#{older} of 2026-05-01: Только по-русски."]
    unknown = cli(database_url, tmp_path, "update", "delete", older)
    assert unknown.returncode == 2
    assert f"there is no case update {older}" in unknown.stderr
    not_a_number = cli(database_url, tmp_path, "update", "delete", "first")
    assert not_a_number.returncode == 2 and "invalid int value" in not_a_number.stderr
