"""The renderer's speed-ups cannot vanish unseen: on the WeasyPrint that pyproject.toml allows
every one is on and packs are composed; the start-up log, /readyz and /metrics say which are on;
and /metrics counts how each pack was made, for the operator only."""

import logging
import re
from datetime import date
from importlib.metadata import requires, version

import httpx
import pytest
import weasyprint
from fastapi.testclient import TestClient
from weasyprint.pdf import fonts as pdf_fonts
from weasyprint.text.ffi import pango

from app.campaign import LANGUAGES
from app.main import create_app
from app.render import LetterRenderer, RenderBudgetExceeded
from app.render.speedups import CHECKED_WITH, NAMES
from app.settings import SOURCE_ROOT, Settings
from app.supporter import PAPERS, Supporter
from tests.conftest import KAZAKH_NAME, migrated_database
from tests.servers import free_port, running

TOKEN = "metrics-token-for-tests"
TODAY = date(2026, 12, 4)


@pytest.fixture
def make_app(tmp_path):
    """Builds an app on an empty SQLite database with these settings."""
    apps = []
    with migrated_database("sqlite", tmp_path) as url:

        def make(**settings):
            app = create_app(Settings(database_url=url, secret_key="test-secret-key", **settings))
            apps.append(app)
            return app

        yield make
        for app in apps:
            app.state.engine.dispose()


def scrape(client: TestClient) -> dict[str, float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_weasyprint_is_pinned_to_the_release_the_speed_ups_know():
    (pin,) = [r for r in requires("letter-campaign") if re.match(r"weasyprint\b", r, re.I)]
    major = int(CHECKED_WITH.rstrip("."))
    assert f">={major}" in pin.replace(" ", "") and f"<{major + 1}" in pin.replace(" ", ""), pin
    assert version("weasyprint").startswith(CHECKED_WITH)


@pytest.mark.parametrize("paper", PAPERS)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_on_the_installed_weasyprint_every_speed_up_is_on_and_packs_are_composed(
    lang, paper, renderer, supporter_data
):
    """Fails when a WeasyPrint that pyproject.toml allows makes the fast path decline packs."""
    assert renderer.speedups == dict.fromkeys(NAMES, True)
    supporter = Supporter.model_validate({**supporter_data, "language": lang, "paper": paper})
    for recipients in (["ombudsman"], []):
        letters = renderer.letters(supporter, renderer.campaign.choose(recipients), TODAY)
        assert renderer.make_pack(letters, lang).how == "composed"


def test_a_speed_up_switched_off_is_off_and_packs_are_still_made(campaign, supporter_data):
    renderer = LetterRenderer(campaign, Settings().fonts_dir, off=["composition"])
    assert renderer.speedups["composition"] is False
    assert renderer.speedups["shared_styles"] is True
    supporter = Supporter.model_validate(supporter_data)
    letters = renderer.letters(supporter, campaign.choose(["ombudsman"]), TODAY)
    pack = renderer.make_pack(letters, supporter.language)
    assert pack.how == "full"
    assert pack.pdf.startswith(b"%PDF")


def test_on_a_weasyprint_the_speed_ups_do_not_know_each_is_off_and_readyz_says_so(
    make_app, supporter_data, monkeypatch
):
    monkeypatch.setattr(weasyprint, "__version__", "71.0")
    monkeypatch.setattr(pdf_fonts, "pango", pango)  # as a new process has it: not yet wrapped
    with TestClient(make_app(render_processes=0)) as client:
        ready = client.get("/readyz")
        pack = client.post("/api/letters", json=supporter_data)
    assert ready.status_code == 200
    assert ready.json() == {"status": "degraded", "speedups_off": list(NAMES)}
    assert pack.status_code == 200, pack.text
    assert pack.content.startswith(b"%PDF")


def test_a_name_that_is_no_speed_up_stops_the_start(make_app):
    with pytest.raises(ValueError, match="no such speed-up: styles"):
        make_app(speedups_off="styles")


def test_the_start_up_log_says_which_speed_ups_are_on(make_app, caplog):
    with caplog.at_level(logging.INFO, logger="letter_campaign"):
        make_app()
        make_app(speedups_off="margin_boxes, composition")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("speed-ups:")]
    assert lines == [
        "speed-ups: composition on, shared_styles on, margin_boxes on, font_names on",
        "speed-ups: composition off, shared_styles on, margin_boxes off, font_names on",
    ]


def test_readyz_says_degraded_while_a_speed_up_is_off(make_app):
    with TestClient(make_app()) as client:
        assert client.get("/readyz").json() == {"status": "ready"}
    with TestClient(make_app(speedups_off="shared_styles")) as client:
        response = client.get("/readyz")
    assert response.status_code == 200  # packs are still made: keep sending supporters
    assert response.json() == {"status": "degraded", "speedups_off": ["shared_styles"]}


def test_metrics_are_there_only_for_the_operators_token(make_app):
    with TestClient(make_app()) as client:
        assert client.get("/metrics").status_code == 404
    with TestClient(make_app(metrics_token=TOKEN)) as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer guess"})
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"] == "Bearer"
        assert scrape(client)["letter_campaign_packs_made_total"] == 0


def test_metrics_count_packs_by_how_they_were_made_and_hold_nothing_of_a_supporter(
    make_app, supporter_data
):
    with TestClient(make_app(metrics_token=TOKEN)) as client:
        for _ in range(2):
            made = client.post("/api/letters", json={**supporter_data, "recipients": []})
            assert made.status_code == 200
        page = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
        samples = scrape(client)
    assert samples["letter_campaign_packs_made_total"] == 2
    assert samples['letter_campaign_packs_rendered_total{how="composed"}'] == 2
    assert samples['letter_campaign_packs_rendered_total{how="failed"}'] == 0
    assert samples["letter_campaign_render_seconds_count"] == 2
    assert samples["letter_campaign_render_seconds_sum"] > 0
    for name in NAMES:
        assert samples[f'letter_campaign_speedup_active{{speedup="{name}"}}'] == 1
    for private in (KAZAKH_NAME, supporter_data["street"], supporter_data["city"], "testclient"):
        assert private not in page


def test_metrics_show_a_speed_up_off_and_packs_made_in_full(make_app, supporter_data):
    with TestClient(make_app(metrics_token=TOKEN, speedups_off="composition")) as client:
        made = client.post("/api/letters", json={**supporter_data, "recipients": ["ombudsman"]})
        assert made.status_code == 200
        samples = scrape(client)
    assert samples['letter_campaign_speedup_active{speedup="composition"}'] == 0
    assert samples['letter_campaign_packs_rendered_total{how="full"}'] == 1
    assert samples['letter_campaign_packs_rendered_total{how="composed"}'] == 0


def test_metrics_count_a_pack_refused_over_its_budget(make_app, supporter_data, monkeypatch):
    app = make_app(metrics_token=TOKEN)

    def over_budget(letters, lang, *, budget=None, full=False):
        raise RenderBudgetExceeded(budget)

    monkeypatch.setattr(app.state.renderer, "make_pack", over_budget)
    with TestClient(app) as client:
        refused = client.post("/api/letters", json={**supporter_data, "recipients": []})
        assert refused.status_code == 503
        samples = scrape(client)
    assert samples['letter_campaign_packs_refused_total{reason="budget"}'] == 1
    assert samples["letter_campaign_packs_made_total"] == 0


def test_metrics_count_a_pack_whose_render_failed(make_app, supporter_data, monkeypatch):
    app = make_app(metrics_token=TOKEN, render_processes=0)

    def failing(letters, lang, *, budget=None, full=False):
        raise ValueError("a render that failed")

    monkeypatch.setattr(app.state.renderer, "make_pack", failing)
    with TestClient(app, raise_server_exceptions=False) as client:
        failed = client.post("/api/letters", json={**supporter_data, "recipients": []})
        assert failed.status_code == 500
        samples = scrape(client)
    assert samples['letter_campaign_packs_refused_total{reason="error"}'] == 1
    assert samples["letter_campaign_packs_made_total"] == 0


@pytest.mark.slow
def test_metrics_add_up_the_counts_of_every_web_worker(tmp_path, supporter_data):
    """`serve --workers 2`: each worker counts its own packs, and whichever answers /metrics
    gives the sum."""
    with migrated_database("sqlite", tmp_path) as url:
        env = {"DATABASE_URL": url, "METRICS_TOKEN": TOKEN, "LOG_LEVEL": "warning"}
        cli = str(SOURCE_ROOT / ".venv" / "bin" / "letter-campaign")
        port = free_port()
        command = [cli, "serve", "--port", str(port), "--workers", "2"]
        with running(command, env, port, tmp_path / "serve.log") as (base, _):
            body = {**supporter_data, "recipients": ["ombudsman"]}
            # A connection each: uvicorn's workers share the socket. A worker's first pack lays
            # out the fixed parts, which can take longer than httpx's 5 s on a busy machine.
            for _ in range(6):
                with httpx.Client(base_url=base, timeout=60) as http:
                    assert http.post("/api/letters", json=body).status_code == 200
            for _ in range(4):
                with httpx.Client(base_url=base, timeout=60) as http:
                    response = http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
                assert "letter_campaign_packs_made_total 6.0" in response.text.splitlines()
