"""An abolished office is removed from recipients.yaml while supporters still hold thank-you pages
and private links that name it: their downloads leave its letter out and say why, the counts stay,
and nothing answers 500."""

import pytest
import yaml
from fastapi.testclient import TestClient

from app.main import create_app
from tests.html_pages import Page
from tests.reading import pdf_text
from tests.staff_pages import log_in
from tests.test_campaign_state import typed  # noqa: F401 (the form's fixture)
from tests.test_supporter_form import create, post, token_of

REMOVED = "la-155-1"


@pytest.fixture
def removed_since(app, settings, campaign_copy):
    """The service restarted on the campaign without REMOVED (its demands carried by others)."""
    path = campaign_copy / "recipients.yaml"
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    content["recipients"] = [r for r in content["recipients"] if r["id"] != REMOVED]
    path.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    restarted = create_app(settings.model_copy(update={"campaign_dir": campaign_copy}))
    with TestClient(restarted) as client:
        yield client
    restarted.state.engine.dispose()


def test_a_download_from_an_old_page_leaves_out_a_removed_office(
    client,
    campaign,
    typed,  # noqa: F811
    removed_since,
):
    thanks = create(client, typed)
    download = thanks.form_values("#download")
    kept = campaign.recipient("ombudsman").address_as["ru"].address_lines[0]
    gone = campaign.recipient(REMOVED).address_as["ru"].address_lines[0]

    letters = post(removed_since, "/letters/pdf", [*download, ("recipient", "")])
    assert letters.status_code == 200
    text = pdf_text(letters.content)
    assert kept in text and gone not in text

    alone = post(removed_since, "/letters/pdf", [*download, ("recipient", REMOVED)])
    assert alone.status_code == 422
    assert "no longer among this campaign's officials" in Page(alone.text).text("main")


def test_the_private_link_lists_a_removed_office_as_such(
    client,
    typed,  # noqa: F811
    removed_since,
):
    token = token_of(create(client, typed))
    page = removed_since.get(f"/posted/{token}?lang=en")
    assert page.status_code == 200
    assert "An office no longer among this campaign's officials" in Page(page.text).text("main")


def test_the_dashboard_counts_a_removed_office_under_its_id(
    client,
    staff_account,
    typed,  # noqa: F811
    removed_since,
):
    create(client, typed)
    assert log_in(removed_since, *staff_account).status_code == 303
    page = Page(removed_since.get("/dashboard").text)
    removed = next(row for row in page.all("tr") if REMOVED in "".join(row.itertext()))
    assert "no longer in recipients.yaml" in "".join(removed.itertext())
