"""A second campaign without code: a small campaign kept under tests/ (two officials, English
only), served through CAMPAIGN_DIR, with the whole supporter journey. Nothing of it is in app/."""

import re
from pathlib import Path

import pytest

from app.settings import SOURCE_ROOT, Settings
from tests.html_pages import Page
from tests.reading import pdf_text, squeezed
from tests.test_supporter_form import post

SECOND = Path(__file__).parent / "campaigns" / "second"
OFFICIALS = {"harbour-prosecutor": "Oskar Quillfeather", "island-warden": "Petra Saltmarsh"}


@pytest.fixture
def second(monkeypatch, database_url: str):
    """The service on the second campaign, chosen the way an operator chooses it."""
    from fastapi.testclient import TestClient
    from sqlalchemy import delete

    from app.main import create_app
    from app.storage.models import Base

    monkeypatch.setenv("CAMPAIGN_DIR", str(SECOND))
    application = create_app(Settings(database_url=database_url, secret_key="test-secret-key"))
    with application.state.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))
    with TestClient(application) as client:
        yield client
    application.state.engine.dispose()


def test_the_supporter_journey_on_the_second_campaign(second):
    page = Page(second.get("/?lang=en").text)
    assert page.text("h1") == "Release the Nordholm lighthouse keepers"
    assert page.text("#officials-heading") == "The 2 officials"
    form = page.form_values("form.supporter-form")
    assert [v for k, v in form if k == "recipients"] == list(OFFICIALS)
    assert ("language", "en") in form and not page.all('input[name="language"][type="radio"]')
    russian = Page(second.get("/?lang=ru").text)
    assert "Ingrid Vale and Tomas Brek, two lighthouse keepers" in russian.text(".lead")
    assert "Ms Petra Saltmarsh" in russian.text(".officials")

    typed = {"name": "Ada Reader", "street": "5 Long Street", "postcode": "10115",
             "city": "Berlin", "country": "DE", "message": "Please act.",
             "signature_kind": "typed"}  # fmt: skip
    values = [(k, v) for k, v in form if k not in typed] + list(typed.items())
    shown = post(second, "/preview", values)
    assert shown.status_code == 200, shown.text[:500]
    preview = Page(shown.text)
    assert len(preview.all(".sheet .letter")) == 2
    thanks = Page(post(second, "/letters", preview.form_values("form.decide")).text)
    steps = thanks.text(".steps")  # the shipped campaign's advice on postage is its own
    assert "your post office tells you which stamp it needs" in steps
    assert "Kazakhstan" not in steps
    download = post(second, "/letters/pdf", thanks.form_values("#download"))
    assert download.status_code == 200
    text = squeezed(pdf_text(download.content))
    for name in OFFICIALS.values():
        assert squeezed(name) in text
    assert squeezed("To allow their lawyers to visit them without delay.") in text
    assert squeezed("Please act.") in text
    stats = second.get("/api/stats").json()
    assert (stats["generated"], stats["sent"]) == (2, 0)
    token = dict(thanks.form_values("#download"))["token"]
    assert post(second, f"/posted/{token}", []).status_code == 303
    assert second.get("/api/stats").json()["sent"] == 2


def test_the_second_campaigns_api_offers_its_officials_and_its_one_language(second):
    assert [o["id"] for o in second.get("/api/recipients").json()] == list(OFFICIALS)
    body = {"name": "Ada Reader", "street": "5 Long Street", "city": "Berlin", "country": "DE",
            "language": "en", "recipients": [], "signature": {"kind": "none"}}  # fmt: skip
    made = second.post("/api/letters", json=body)
    assert made.status_code == 200
    assert len(pdf_text(made.content).strip("\f").split("\f")) == 2
    refused = second.post("/api/letters", json={**body, "language": "ru"})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "language"]
    form = post(second, "/preview", [("language", "kk"), ("recipients", "island-warden")])
    assert form.status_code == 422


def test_no_detail_of_the_second_campaign_is_in_the_applications_code():
    code = "\n".join(p.read_text(encoding="utf-8") for p in (SOURCE_ROOT / "app").rglob("*.py"))
    for detail in [*OFFICIALS, *OFFICIALS.values(), "Nordholm", "Ingrid Vale"]:
        assert not re.search(re.escape(detail), code, re.IGNORECASE), detail
