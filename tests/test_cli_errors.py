"""A database that cannot be reached or used, met at `letter-campaign migrate`, `serve` or any
other command: one line naming the database (its password hidden) and the cause, and a non-zero
exit, where a 40-line traceback used to be."""

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from app.settings import SOURCE_ROOT
from tests.servers import free_port

CLI = str(SOURCE_ROOT / ".venv" / "bin" / "letter-campaign")
PASSWORD = "a-secret-password"
COMMANDS = [["migrate"], ["serve", "--port", "0"], ["staff", "list"]]

pytestmark = pytest.mark.slow  # every test starts processes of the service


def run(database_url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "warning"}
    return subprocess.run(
        [CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def the_one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("letter-campaign: cannot use the database ")
    assert PASSWORD not in line
    return line


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_postgresql_server_that_does_not_answer(command, tmp_path):
    port = free_port()  # nothing listens there
    url = f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:{port}/letters"
    line = the_one_line(run(url, *command, cwd=tmp_path))
    assert f"postgresql+psycopg://postgres:***@127.0.0.1:{port}/letters: " in line
    assert "Connection refused" in line


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_postgresql_database_that_does_not_exist(command, tmp_path):
    name = f"letter_campaign_missing_{uuid.uuid4().hex[:8]}"
    url = f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:5432/{name}"
    line = the_one_line(run(url, *command, cwd=tmp_path))
    assert f"postgresql+psycopg://postgres:***@127.0.0.1:5432/{name}: " in line
    assert f'database "{name}" does not exist' in line


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_an_sqlite_file_in_a_folder_that_cannot_be_made(command, tmp_path):
    blocking = tmp_path / "not-a-folder"
    blocking.write_text("a file where the folder would go")
    url = f"sqlite:///{blocking / 'letters.db'}"
    line = the_one_line(run(url, *command, cwd=tmp_path))
    assert f"{url}: " in line
    assert str(blocking) in line
    assert not blocking.is_dir()


def test_a_database_url_that_is_not_one_is_not_printed(tmp_path):
    line = the_one_line(run(f"postgres ql://admin:{PASSWORD}@host/db", "migrate", cwd=tmp_path))
    assert "DATABASE_URL, which is not a database URL" in line


def test_serve_says_in_one_line_that_the_schema_is_behind(tmp_path):
    result = run(f"sqlite:///{tmp_path / 'new.db'}", "serve", "--port", "0", cwd=tmp_path)
    assert result.returncode != 0
    [line] = result.stderr.splitlines()
    assert "the database schema is at nothing" in line
    assert "run `letter-campaign migrate`" in line


def test_migrate_still_migrates_a_database_it_can_reach(tmp_path):
    url = f"sqlite:///{tmp_path / 'new' / 'letters.db'}"
    migrated = run(url, "migrate", cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stderr.strip().endswith("database is up to date")
    listed = run(url, "staff", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
