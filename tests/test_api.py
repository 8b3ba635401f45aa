"""The JSON API: officials, a pack of letters as a PDF with its token, "posted", public counts."""

import re

import pytest

from tests.conftest import KAZAKH_NAME, png_data_url
from tests.reading import page_texts

PDF_NAME = r'attachment; filename="appeal-letters-\d{4}-\d{2}-\d{2}\.pdf"'


def make_letters(client, supporter_data: dict, **changes):
    return client.post("/api/letters", json={**supporter_data, **changes})


def stats(client) -> dict:
    return client.get("/api/stats").json()


def by_official(figures: dict) -> dict[str, tuple[int, int]]:
    return {row["id"]: (row["generated"], row["sent"]) for row in figures["recipients"]}


def test_recipients_are_the_six_officials_with_title_name_and_address(client, campaign):
    response = client.get("/api/recipients")
    assert response.status_code == 200
    officials = response.json()
    assert [o["id"] for o in officials] == [r.id for r in campaign.recipients]
    ombudsman = next(o for o in officials if o["id"] == "ombudsman")
    expected = campaign.recipient("ombudsman")
    assert ombudsman["title"] == expected.title
    assert ombudsman["name"] == expected.name
    assert ombudsman["address"] == {
        "street": expected.street,
        "postcode": expected.postcode,
        "city": expected.city,
        "country": expected.country,
    }


def test_a_valid_supporter_gets_one_pdf_with_every_letter_and_a_token(
    client, supporter_data, campaign
):
    response = make_letters(
        client, supporter_data, signature={"kind": "drawn", "image": png_data_url()}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "no-store"
    assert re.fullmatch(PDF_NAME, response.headers["content-disposition"])
    assert len(response.headers["letter-token"]) >= 32
    pages = page_texts(response.content)
    assert len(pages) == len(campaign.recipients) == 6
    assert all(KAZAKH_NAME in page for page in pages)
    figures = stats(client)
    assert (figures["generated"], figures["sent"]) == (6, 0)
    assert set(by_official(figures).values()) == {(1, 0)}


def test_a_subset_of_officials_gets_only_their_letters(client, supporter_data, campaign):
    chosen = ["ombudsman", "prosecutor-general"]
    response = make_letters(client, supporter_data, recipients=chosen, language="en")
    assert response.status_code == 200
    pages = page_texts(response.content)
    assert len(pages) == 2
    # Letters come in campaign order, each addressed to its own official.
    ordered = [r for r in campaign.recipients if r.id in chosen]
    for page, recipient in zip(pages, ordered, strict=True):
        assert recipient.address_as["en"].address_lines[0] in page
    counted = by_official(stats(client))
    assert {rid for rid, (generated, _) in counted.items() if generated} == set(chosen)


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"name": ""}, {"name"}),
        ({"country": "XX", "city": ""}, {"country", "city"}),
        ({"language": "de"}, {"language"}),
        ({"signature": {"kind": "drawn", "image": "data:image/png;base64,AAAA"}}, {"signature"}),
        ({"message": "x" * 2001}, {"message"}),
        ({"name": "Line\nbreak"}, {"name"}),
    ],
)
def test_invalid_fields_are_named_in_a_422_and_nothing_is_counted(
    client, supporter_data, changes, fields
):
    response = make_letters(client, supporter_data, **changes)
    assert response.status_code == 422
    named = {problem["loc"][1] for problem in response.json()["detail"]}
    assert named == fields
    assert stats(client)["generated"] == 0


def test_an_unknown_official_is_a_422_naming_recipients(client, supporter_data):
    response = make_letters(client, supporter_data, recipients=["ombudsman", "the-king"])
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "recipients"]
    assert "the-king" in problem["msg"]
    assert stats(client)["generated"] == 0


def test_a_body_that_is_not_json_is_a_422(client):
    response = client.post(
        "/api/letters", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_confirming_posted_marks_that_downloads_letters_and_twice_counts_once(
    client, supporter_data
):
    first = make_letters(client, supporter_data, recipients=["ombudsman", "state-secretary"])
    other = make_letters(client, supporter_data, recipients=["ombudsman"])
    token = first.headers["letter-token"]
    assert token != other.headers["letter-token"]

    confirmed = client.post(f"/api/letters/{token}/sent")
    assert confirmed.status_code == 200
    assert confirmed.json() == {"letters": 2, "sent": 2}
    again = client.post(f"/api/letters/{token}/sent")
    assert again.status_code == 200
    assert again.json() == {"letters": 2, "sent": 2}

    figures = stats(client)
    assert (figures["generated"], figures["sent"]) == (3, 2)
    assert by_official(figures)["ombudsman"] == (2, 1)
    assert by_official(figures)["state-secretary"] == (1, 1)


def test_an_unknown_token_is_404(client, supporter_data):
    make_letters(client, supporter_data, recipients=["ombudsman"])
    response = client.post("/api/letters/no-such-token/sent")
    assert response.status_code == 404
    assert stats(client)["sent"] == 0


def test_stats_are_public_aggregates_with_the_goal(client, settings, campaign):
    figures = stats(client)
    assert figures == {
        "generated": 0,
        "sent": 0,
        "goal": settings.campaign_goal,
        "recipients": [{"id": r.id, "generated": 0, "sent": 0} for r in campaign.recipients],
    }


def test_the_api_is_documented_at_docs_with_swagger_ui_served_by_the_service(client, settings):
    docs = client.get("/docs")
    assert docs.status_code == 200
    assets = re.findall(r'(?:src|href)="(/assets/swagger-ui[^"]+)"', docs.text)
    assert len(assets) == 2
    for asset, name in zip(sorted(assets), ["swagger-ui-bundle.js", "swagger-ui.css"], strict=True):
        served = client.get(asset)
        assert served.content == (settings.node_modules / "swagger-ui-dist" / name).read_bytes()
    assert client.get("/assets/package.json").status_code == 404
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert {"/api/recipients", "/api/letters", "/api/letters/{token}/sent", "/api/stats"} <= set(
        paths
    )
    letters = paths["/api/letters"]["post"]
    assert "application/pdf" in letters["responses"]["200"]["content"]
    assert "Letter-Token" in letters["responses"]["200"]["headers"]
    assert letters["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/Supporter"
    )
    # The supporter pages are not part of the API.
    assert "/" not in paths and "/preview" not in paths


def test_a_pack_renders_without_holding_a_database_connection(
    client, supporter_data, connections_while_rendering
):
    """A pack may wait for its turn to render: meanwhile it must hold no pooled connection and,
    on SQLite, no write lock that would stop the other workers."""
    assert make_letters(client, supporter_data).status_code == 200
    assert connections_while_rendering == [0]
