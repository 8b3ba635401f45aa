"""Staff open, pause and close the campaign on the steering page; supporters see it at once, and
nothing counted is lost or changed."""

import pytest

from tests.html_pages import Page
from tests.staff_pages import STEERING, steering_token
from tests.test_supporter_form import create, post, preview, stats, token_of

ALL_SIX = 6


@pytest.fixture
def typed() -> dict:
    """Two letters, as the no-JavaScript form posts them."""
    return {
        "name": "Мария Иванова",
        "street": "Lindenstraße 12",
        "postcode": "10969",
        "city": "Berlin",
        "country": "DE",
        "language": "ru",
        "recipients": ["la-155-1", "ombudsman"],
        "message": "",
        "signature_kind": "typed",
    }


def set_state(client, action: str, **messages: str):
    data = {"action": action, "csrf_token": steering_token(client)}
    data.update({f"message_{lang}": text for lang, text in messages.items()})
    return client.post("/dashboard/campaign-state", data=data, follow_redirects=False)


def page(client, lang: str = "en") -> Page:
    response = client.get(f"/?lang={lang}")
    assert response.status_code == 200
    return Page(response.text)


def api_letters(client, supporter_data: dict):
    return client.post("/api/letters", json=supporter_data)


def test_open_paused_open_closed_page_api_and_counts(staff_client, typed, supporter_data):
    client = staff_client
    # open: the form, and the API makes letters
    assert page(client).all("form.supporter-form")
    thanks = create(client, typed)
    early_token = token_of(thanks)
    assert api_letters(client, supporter_data).status_code == 200
    counted = stats(client)
    assert (counted["generated"], counted["sent"]) == (2 + ALL_SIX, 0)

    # paused, with a message in English and Russian: the message and the counts, no form
    response = set_state(client, "pause", en="Paused at the family's request.", ru="Пауза.")
    assert response.status_code == 303
    shown = page(client)
    assert not shown.all("form.supporter-form")
    assert "Paused at the family's request." in shown.text(".campaign-state")
    assert "Letters written so far: 8. Letters posted: 0." in shown.text(".campaign-state")
    assert "Пауза." in page(client, "ru").text(".campaign-state")
    assert "Paused at the family's request." in page(client, "kk").text(".campaign-state")
    refused = api_letters(client, supporter_data)
    assert refused.status_code == 409
    assert refused.json()["detail"] == "Paused at the family's request."
    assert refused.json()["state"] == "paused"
    ru = client.post("/api/letters", json=supporter_data, headers={"Accept-Language": "ru"})
    assert ru.json()["detail"] == "Пауза."
    for path in ("/preview", "/letters", "/letters/pdf", "/edit"):
        answer = post(client, path, typed)
        assert answer.status_code == 409, path
        assert "Paused at the family's request." in Page(answer.text).text(".campaign-state")
    assert stats(client) == counted

    # open again: the form is back and letters are made again
    assert set_state(client, "open").status_code == 303
    assert page(client).all("form.supporter-form")
    assert not page(client).all(".campaign-state")
    preview(client, typed)
    assert api_letters(client, supporter_data).status_code == 200
    counted = stats(client)
    assert (counted["generated"], counted["sent"]) == (2 + 2 * ALL_SIX, 0)

    # closed: no form, 409, and "I have posted" still counts the letters made before
    assert set_state(client, "close", en="The campaign has ended. Thank you.").status_code == 303
    shown = page(client)
    assert not shown.all("form.supporter-form")
    assert "This campaign has ended" in shown.text("#write-heading")
    assert "The campaign has ended. Thank you." in shown.text(".campaign-state")
    assert api_letters(client, supporter_data).status_code == 409
    assert stats(client) == counted
    posted = client.post(f"/posted/{early_token}?lang=en", follow_redirects=False)
    assert posted.status_code == 303
    after = stats(client)
    assert (after["generated"], after["sent"]) == (counted["generated"], 2)
    assert client.get(f"/posted/{early_token}?lang=en").status_code == 200


def test_the_state_form_needs_the_sessions_token_and_a_known_state(staff_client):
    refused = staff_client.post(
        "/dashboard/campaign-state", data={"action": "close", "csrf_token": "forged"}
    )
    assert refused.status_code == 403
    assert page(staff_client).all("form.supporter-form")
    unknown = set_state(staff_client, "explode")
    assert unknown.status_code == 422
    assert "choose open, pause or close" in unknown.text


def test_without_a_session_the_state_cannot_change(client):
    response = client.post(
        "/dashboard/campaign-state", data={"action": "close"}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert page(client).all("form.supporter-form")


def test_the_steering_page_shows_the_state_and_logs_who_changed_it(staff_client):
    set_state(staff_client, "pause", en="Quiet week.")
    page = Page(staff_client.get(STEERING).text)
    assert page.text("#campaign-state") == "The campaign is paused"
    rows = [[c.strip() for c in row.split("|")] for row in audit_rows(page)]
    assert rows[0][1:] == ["staff@example.org", "campaign paused", "Quiet week."]


def audit_rows(page: Page) -> list[str]:
    return [
        " | ".join(cell.text.strip() if cell.text else "" for cell in row)
        for row in page.all("#audit-log tbody tr")
    ]
