"""Every text staff give (campaign messages, pause reasons, replies' summaries, case updates,
paper letters' notes) is stored without control characters: Word's manual line break (`\\x0b`)
and the other line breaks become `\\n`, tabs stay, the rest goes. One `\\x0b` in a case update
once broke the Atom feed in every language."""

from datetime import UTC, date, datetime
from xml.etree import ElementTree

import pytest

from app.storage.models import CaseUpdate
from tests.staff_pages import STEERING, steering_token
from tests.test_campaign_operations import cli
from tests.test_campaign_state import set_state
from tests.test_official_pause import pause
from tests.test_replies_and_updates import ATOM, post_update, record_reply

PASTED = "First line\x0bsecond line\r\nthird\tcolumn\x00\x07\x1b[31m\x7f\x85fourth\u2028fifth "
CLEANED = "First line\nsecond line\nthird\tcolumn[31m\nfourth\nfifth"
LANGUAGES = ("en", "ru", "kk")


def feed(client, lang: str) -> ElementTree.Element:
    response = client.get(f"/updates.atom?lang={lang}")
    assert response.status_code == 200
    return ElementTree.fromstring(response.content)  # noqa: S314 (our own feed)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_an_update_pasted_from_word_keeps_the_feed_whole_in_every_language(staff_client, lang):
    assert post_update(staff_client, "2026-05-01", **{lang: PASTED}).status_code == 303
    for shown_in in LANGUAGES:
        [entry] = feed(staff_client, shown_in).findall(f"{ATOM}entry")
        assert entry.find(f"{ATOM}title").text == "2026-05-01: First line"
        assert entry.find(f"{ATOM}content").text == CLEANED.replace("\n", "<br>\n")
    page = staff_client.get(f"/?lang={lang}").text
    assert "First line<br>\nsecond line<br>\nthird\tcolumn[31m<br>\nfourth" in page


def test_an_update_stored_before_texts_were_cleaned_does_not_break_the_feed(app, client):
    with app.state.sessionmaker() as db:
        db.add(
            CaseUpdate(
                posted_on=date(2026, 5, 1),
                text={"en": "Hearing\x0bmoved\x01."},
                created_at=datetime.now(UTC),
            )
        )
        db.commit()
    for lang in LANGUAGES:
        [entry] = feed(client, lang).findall(f"{ATOM}entry")
        assert entry.find(f"{ATOM}content").text == "Hearing<br>\nmoved."


def test_a_campaign_message_is_cleaned(staff_client, supporter_data):
    assert set_state(staff_client, "pause", en=PASTED, ru="\x0b\x00 ").status_code == 303
    refused = staff_client.post("/api/letters", json=supporter_data)
    assert refused.status_code == 409
    assert refused.json()["detail"] == CLEANED
    ru = staff_client.post("/api/letters", json=supporter_data, headers={"Accept-Language": "ru"})
    assert ru.json()["detail"] == CLEANED  # nothing left of the Russian: English is shown


def test_a_pause_reason_is_cleaned(staff_client):
    assert pause(staff_client, "ombudsman", PASTED).status_code == 303
    officials = {o["id"]: o for o in staff_client.get("/api/recipients").json()}
    assert officials["ombudsman"]["paused_reason"] == CLEANED


def test_a_reason_of_control_characters_alone_is_no_reason(staff_client):
    refused = pause(staff_client, "ombudsman", "\x0b\x00\r\n")
    assert refused.status_code == 422
    assert "say why the official is paused" in refused.text
    officials = {o["id"]: o for o in staff_client.get("/api/recipients").json()}
    assert officials["ombudsman"]["paused"] is False


def test_a_replys_summary_is_cleaned(staff_client):
    assert record_reply(staff_client, "ombudsman", "2026-03-02", PASTED).status_code == 303
    page = staff_client.get("/?lang=en").text
    assert CLEANED in page
    assert not {"\x00", "\x07", "\x0b", "\x1b", "\x7f", "\x85", "\u2028"} & set(page)
    refused = record_reply(staff_client, "ombudsman", "2026-03-02", "\x00\x0b")
    assert refused.status_code == 422
    assert "the reply needs a short summary" in refused.text


def test_a_paper_letters_note_is_cleaned(staff_client):
    data = {
        "official": "ombudsman",
        "number": "3",
        "date": date.today().isoformat(),
        "note": "Stall\x0bMarket square\x00",
        "csrf_token": steering_token(staff_client),
    }
    posted = staff_client.post("/dashboard/paper-letters", data=data, follow_redirects=False)
    assert posted.status_code == 303
    page = staff_client.get(STEERING).text
    assert "<td>Stall\nMarket square</td>" in page


@pytest.mark.slow
def test_the_command_line_cleans_messages_and_reasons(
    client, database_url, tmp_path, supporter_data
):
    pasted = PASTED.replace("\x00", "")  # a command line cannot carry NUL
    assert cli(database_url, tmp_path, "campaign", "pause", "--message", pasted).returncode == 0
    paused = cli(database_url, tmp_path, "official", "pause", "ombudsman", "--reason", pasted)
    assert paused.returncode == 0, paused.stderr
    assert client.post("/api/letters", json=supporter_data).json()["detail"] == CLEANED
    officials = {o["id"]: o for o in client.get("/api/recipients").json()}
    assert officials["ombudsman"]["paused_reason"] == CLEANED
