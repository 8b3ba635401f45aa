"""The application factory: it starts on a migrated database and refuses one that is behind."""

import gc

import pytest
from sqlalchemy import text

from app.db import SchemaBehind, make_engine
from app.main import create_app, create_served_app
from app.settings import Settings


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
