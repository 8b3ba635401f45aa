"""The application factory: it starts on a migrated database and refuses one that is behind."""

import gc
import itertools
import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from weasyprint import HTML

from app.main import create_app, create_served_app
from app.settings import Settings
from app.storage.db import SchemaBehind, make_engine
from app.supporter import PAPERS
from tests.conftest import migrated_database


def test_the_service_answers_on_each_database(client, database_url):
    assert client.get("/openapi.json").status_code == 200


def test_the_service_refuses_a_database_that_was_not_migrated(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(SchemaBehind, match="letter-campaign migrate"):
        create_app(Settings(database_url=url))


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30000
    engine.dispose()


@pytest.fixture
def interpreter_gc():
    """Puts the interpreter's garbage-collector settings back after a test changes them."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_the_served_app_keeps_start_up_objects_out_of_garbage_collection(
    app, settings, interpreter_gc
):
    gc.unfreeze()
    create_served_app(settings)
    assert gc.get_freeze_count() > 10_000
    assert gc.get_threshold()[0] >= 10_000


@pytest.mark.slow  # lays out every set of the letters' fixed parts
def test_letter_parts_are_laid_out_before_the_service_says_ready(
    tmp_path, monkeypatch, supporter_data
):
    """After a start, the first supporters do not wait for the officials' fixed parts: they are
    laid out in the background while /readyz says "warming up"; afterwards every pack, in any
    language, with or without a message, needs one WeasyPrint layout: its supporter's parts."""
    layouts, render = [], HTML.render

    def counted(self, *args, **kwargs):
        layouts.append(1)
        return render(self, *args, **kwargs)

    monkeypatch.setattr(HTML, "render", counted)
    with migrated_database("sqlite", tmp_path) as url:
        app = create_app(Settings(database_url=url, warm_up=True))
        go, warm_up, ready = threading.Event(), app.state.renderer.warm_up, []

        def held_warm_up() -> int:
            go.wait(30)
            ready.append(warm_up())
            return ready[-1]

        monkeypatch.setattr(app.state.renderer, "warm_up", held_warm_up)
        with TestClient(app) as client:
            assert client.get("/readyz").json() == {"status": "warming up: laying out the letters"}
            assert client.get("/healthz").status_code == 200
            go.set()
            assert app.state.warmed.wait(120)
            languages = app.state.campaign.languages
            # One layout per set: each paper, language, message or not, each appeal variant.
            assert ready == [len(layouts)] == [len(PAPERS) * len(languages) * 2 * 3]
            assert client.get("/readyz").json() == {"status": "ready"}
            for paper, language in itertools.product(PAPERS, languages):
                for message in (None, "Прошу вас вмешаться."):
                    layouts.clear()
                    body = {**supporter_data, "language": language, "message": message}
                    response = client.post("/api/letters", json={**body, "paper": paper})
                    assert response.status_code == 200
                    assert len(layouts) == 1, (paper, language, message)
        app.state.engine.dispose()
