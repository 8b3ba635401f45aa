"""PUBLIC_URL: in production behind a TLS proxy that speaks plain http to the service, every
link, redirect and feed id is written with the public https address, HSTS is sent, and a
request for any other host is refused."""

from datetime import date
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from app.storage.operations import add_update
from tests.html_pages import Page

PUBLIC = "https://letters.example.org"
ATOM = "{http://www.w3.org/2005/Atom}"
FORM = {
    "name": "Мария Иванова-Шмидт",
    "street": "Lindenstraße 12",
    "postcode": "10969",
    "city": "Berlin",
    "country": "DE",
    "language": "ru",
    "recipients": "ombudsman",
    "signature_kind": "typed",
}


@pytest.fixture
def public_app(app, database_url):
    """The service as production runs it, on the test's emptied database."""
    settings = Settings(
        database_url=database_url,
        secret_key="a production secret of at least 32 characters",
        environment="production",
        # The suite's officials were last checked in 2018; production would hold them all
        # (tests/test_unverified_officials.py): these tests are about the address.
        unverified_officials="warn",
        public_url=PUBLIC,
    )
    served = create_app(settings)
    yield served
    served.state.engine.dispose()


@pytest.fixture
def behind_proxy(public_app):
    """A client whose requests reach the service as the proxy passes them on: plain http,
    with the public host in the Host header."""
    with TestClient(public_app, base_url="http://letters.example.org") as client:
        yield client


def post_form(client: TestClient, path: str, pairs: list[tuple[str, str]]):
    return client.post(
        path,
        content=urlencode(pairs),
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )


def test_the_private_link_and_its_redirect_are_the_public_https_address(behind_proxy):
    preview = post_form(behind_proxy, "/preview?lang=en", list(FORM.items()))
    assert preview.status_code == 200, preview.text[:500]
    decided = Page(preview.text).form_values("form.decide")
    thanks = post_form(behind_proxy, "/letters?lang=en", decided)
    assert thanks.status_code == 200
    page = Page(thanks.text)
    token = dict(page.form_values("#download"))["token"]
    assert page.attr("#private-link", "value") == f"{PUBLIC}/posted/{token}?lang=en"
    assert "max-age=" in thanks.headers["strict-transport-security"]

    confirmed = post_form(behind_proxy, f"/posted/{token}?lang=en", [("recipient", "")])
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == f"{PUBLIC}/posted/{token}?lang=en#posted"
    assert "max-age=" in confirmed.headers["strict-transport-security"]


def test_the_campaign_page_shares_the_public_address(behind_proxy):
    page = Page(behind_proxy.get("/?lang=en").text)
    assert page.attr('meta[property="og:url"]', "content") == f"{PUBLIC}/?lang=en"


def test_the_atom_feed_names_the_public_address(public_app, behind_proxy):
    with public_app.state.sessionmaker() as db:
        add_update(db, date(2026, 5, 1), {"en": "The hearing is moved to June."}, "staff")
        db.commit()
    feed = ElementTree.fromstring(behind_proxy.get("/updates.atom?lang=en").content)  # noqa: S314
    addresses = [element.text for element in feed.iter(f"{ATOM}id")]
    addresses += [element.get("href") for element in feed.iter(f"{ATOM}link")]
    assert len(addresses) == 5  # the feed's id and two links, the entry's id and link
    for address in addresses:
        assert address.startswith(f"{PUBLIC}/"), address


def test_a_request_for_another_host_is_refused_with_400(behind_proxy):
    for path in ("/", "/updates.atom?lang=en", "/posted/some-token"):
        refused = behind_proxy.get(path, headers={"Host": "evil.example"})
        assert refused.status_code == 400
        assert PUBLIC in refused.text
        assert "evil.example" not in refused.text
    posted = behind_proxy.post("/preview", data=FORM, headers={"Host": "evil.example"})
    assert posted.status_code == 400
    for host in ("letters.example.org.evil.example", "letters.example.org:8443", ""):
        assert behind_proxy.get("/", headers={"Host": host}).status_code == 400, host
    # The public host with its default port is the public host.
    assert behind_proxy.get("/", headers={"Host": "letters.example.org:443"}).status_code == 200


def test_health_probes_answer_at_the_internal_address(behind_proxy):
    for path in ("/healthz", "/readyz"):
        assert behind_proxy.get(path, headers={"Host": "10.0.0.7:8000"}).status_code == 200


@pytest.mark.parametrize(
    "value",
    [
        "letters.example.org",
        "ftp://letters.example.org",
        "https://letters.example.org/campaign",
        "https://letters.example.org/?lang=en",
        "https://staff@letters.example.org",
        "https://letters.example.org:port",
        "https://",
    ],
)
def test_public_url_must_be_an_http_address_of_a_host_alone(value):
    with pytest.raises(ValueError, match="PUBLIC_URL must be an absolute http"):
        Settings(public_url=value)


def test_public_url_is_kept_as_scheme_and_host():
    assert Settings(public_url="HTTPS://Letters.Example.org/").public_url == PUBLIC
    assert Settings(public_url="http://127.0.0.1:8000").public_url == "http://127.0.0.1:8000"


def test_production_needs_a_public_url():
    with pytest.raises(ValueError, match="PUBLIC_URL must be set in production"):
        Settings(environment="production", secret_key="s" * 40, public_url="")
