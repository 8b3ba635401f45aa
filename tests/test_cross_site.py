"""Posts from another site are refused: a form or a sandboxed frame elsewhere cannot make letters,
confirm them, spend a supporter's allowance or work the staff forms; the service's own pages,
and clients that say nothing of where they post from (curl, API clients), are answered."""

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import sync_playwright

from app.main import create_app
from app.settings import Settings
from tests.conftest import TYPED_FORM
from tests.servers import free_port, running

FORM = TYPED_FORM
ELSEWHERE = [
    {"Origin": "https://evil.example"},
    {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    # A sandboxed frame, or a page elsewhere that sends no referrer.
    {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
    # A neighbouring host of the same domain.
    {"Origin": "http://other.testserver", "Sec-Fetch-Site": "same-site"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Origin": "https://testserver"},  # another scheme is another origin
    {"Origin": "http://testserver:8080"},
]
FROM_HERE = [
    {},
    {"Origin": "http://testserver"},
    {"Origin": "http://testserver:80"},
    {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
    # What browsers send from the service's own pages, which ask for no referrer.
    {"Origin": "null", "Sec-Fetch-Site": "same-origin"},
]


def stats(client: TestClient) -> dict:
    return client.get("/api/stats").json()


@pytest.mark.parametrize("headers", ELSEWHERE)
def test_a_form_post_from_another_site_is_refused_with_403(client, headers):
    for path in ("/preview", "/edit", "/letters", "/letters/pdf", "/posted/some-token"):
        refused = client.post(f"{path}?lang=ru", data=FORM, headers=headers)
        assert refused.status_code == 403, (path, refused.text[:300])
        assert 'lang="ru"' in refused.text
        assert "Кампания принимает формы только со своих страниц" in refused.text
    assert stats(client)["generated"] == 0


@pytest.mark.parametrize("headers", FROM_HERE)
def test_the_services_own_pages_and_clients_without_those_headers_are_answered(client, headers):
    assert client.post("/preview?lang=en", data=FORM, headers=headers).status_code == 200
    assert client.post("/letters?lang=en", data=FORM, headers=headers).status_code == 200
    assert stats(client)["generated"] == 1


def test_the_api_refuses_other_sites_in_json_and_answers_other_clients(client, supporter_data):
    body = {**supporter_data, "recipients": ["ombudsman"]}
    refused = client.post("/api/letters", json=body, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert "cross-site request refused" in refused.json()["detail"]
    sent = client.post("/api/letters/some-token/sent", headers={"Sec-Fetch-Site": "cross-site"})
    assert sent.status_code == 403
    assert stats(client)["generated"] == 0
    assert client.post("/api/letters", json=body).status_code == 200
    # Reading is not refused: a page elsewhere may show the counts.
    counted = client.get("/api/stats", headers={"Origin": "https://evil.example"})
    assert counted.status_code == 200 and counted.json()["generated"] == 1


def test_staff_forms_refuse_posts_from_another_site(staff_client):
    from tests.staff_pages import dashboard_token

    token = dashboard_token(staff_client)
    elsewhere = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    update = {"posted_on": "2026-05-01", "text_en": "Planted news.", "csrf_token": token}
    for path, data in [
        ("/dashboard/updates", update),
        ("/logout", {"csrf_token": token}),
        ("/login", {"email": "staff@example.org", "password": "x", "csrf_token": token}),
    ]:
        refused = staff_client.post(path, data=data, headers=elsewhere, follow_redirects=False)
        assert refused.status_code == 403, path
    assert "Planted news." not in staff_client.get("/?lang=en").text
    assert staff_client.get("/dashboard", follow_redirects=False).status_code == 200


def test_a_post_from_another_site_spends_none_of_the_supporters_allowance(settings):
    app = create_app(settings.model_copy(update={"rate_limit_forms": "1/day"}))
    with TestClient(app) as client:
        for _ in range(3):
            refused = client.post("/preview", data=FORM, headers={"Origin": "https://evil.example"})
            assert refused.status_code == 403
        assert client.post("/preview", data=FORM).status_code == 200
    app.state.engine.dispose()


def test_behind_a_public_url_only_the_public_origin_posts(app, database_url):
    settings = Settings(
        database_url=database_url,
        secret_key="a production secret of at least 32 characters",
        environment="production",
        # The suite's officials were last checked in 2018; production would hold them all
        # (tests/test_unverified_officials.py): this test is about the address.
        unverified_officials="warn",
        public_url="https://letters.example.org",
    )
    public = create_app(settings)
    # The proxy in front speaks plain http to the service.
    with TestClient(public, base_url="http://letters.example.org") as client:
        own = {"Origin": "https://letters.example.org"}
        assert client.post("/preview", data=FORM, headers=own).status_code == 200
        plain = {"Origin": "http://letters.example.org"}
        assert client.post("/preview", data=FORM, headers=plain).status_code == 403
    public.state.engine.dispose()


# --- in a real browser -------------------------------------------------------------------------


class Elsewhere(BaseHTTPRequestHandler):
    """Another site: a page whose form posts to the service, and one with a sandboxed frame."""

    target = ""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        fields = "".join(f'<input name="{k}" value="{v}">' for k, v in FORM.items())
        action = f"{self.target}/preview?lang=en"
        form = f'<form method="post" action="{action}">{fields}<button>Go</button></form>'
        if self.path == "/framed":
            form = f"<iframe sandbox='allow-forms' srcdoc='{form}'></iframe>"
        body = f"<!doctype html><meta charset=utf-8><title>Elsewhere</title>{form}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> str:
    from app.storage.db import migrate

    folder = tmp_path_factory.mktemp("cross-site")
    database_url = f"sqlite:///{folder / 'letters.db'}"
    migrate(database_url)
    port = free_port()
    command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with running(command, {"DATABASE_URL": database_url}, port, folder / "log") as (url, _):
        yield url


@pytest.fixture(scope="module")
def elsewhere(service):
    """The other site, at `localhost`: another site than the service's 127.0.0.1."""
    handler = type("Handler", (Elsewhere,), {"target": service})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.browser
def test_in_chromium_the_services_own_form_posts_and_another_sites_are_refused(service, elsewhere):
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        page = chromium.new_page()
        page.goto(f"{service}/?lang=en")
        for field in ("name", "street", "city"):
            page.fill(f"#{field}", FORM[field])
        page.select_option("#country", FORM["country"])
        with page.expect_response(lambda r: "/preview" in r.url) as own:
            page.click("text=Preview my letters")
        assert own.value.status == 200

        page.goto(f"{elsewhere}/")
        with page.expect_response(lambda r: "/preview" in r.url) as other:
            page.click("text=Go")
        assert other.value.status == 403

        page.goto(f"{elsewhere}/framed")
        with page.expect_response(lambda r: "/preview" in r.url) as framed:
            page.frame_locator("iframe").locator("text=Go").click()
        assert framed.value.status == 403
        chromium.close()
