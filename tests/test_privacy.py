"""Nothing a supporter types is kept: after a run of submissions through the API and the form,
no table, database file, temporary file or log line holds a name, street, message, signature or
private token."""

import logging
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import inspect, make_url, select, table, text

from tests.conftest import png_data_url
from tests.html_pages import Page

SUPPORTERS = [
    {
        "name": "Canary Zhanargul Privatova",
        "street": "Geheimweg 4711",
        "city": "Leipzig",
        "message": "canary message one: please free them",
    },
    {
        "name": "Канарейка Әсемгүл Құпиясова",
        "street": "ул. Тайная, 1337",
        "city": "Praha",
        "message": "канарейка: сообщение номер два",
    },
    {
        "name": "Canary Third O'Brien",
        "street": "Hidden Lane 99",
        "city": "Dublin",
        "message": "canary message three\nwith a second line",
    },
]
SIGNATURE = png_data_url(320, 110)
CLIENT_LOGGERS = ("httpx", "httpcore")  # the test's own HTTP client, not the service


def leaks(supporters: list[dict], tokens: list[str]) -> list[str]:
    secrets = [s[key] for s in supporters for key in ("name", "street", "message")]
    secrets += [line for s in supporters for line in s["message"].split("\n")]
    secrets.append(SIGNATURE.split(",", 1)[1][:48])
    return secrets + tokens


def form_post(client, path: str, pairs: list[tuple[str, str]]):
    return client.post(
        path,
        content=urlencode(pairs),
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )


def run_submissions(client) -> list[str]:
    """Every way a supporter's data reaches the service; returns the private tokens handed out."""
    tokens = []
    first, second, third = SUPPORTERS
    api = {"country": "DE", "language": "kk", "postcode": "04109"}
    response = client.post(
        "/api/letters",
        json={**first, **api, "signature": {"kind": "drawn", "image": SIGNATURE}},
    )
    assert response.status_code == 200
    tokens.append(response.headers["letter-token"])
    assert client.post(f"/api/letters/{tokens[0]}/sent").status_code == 200
    refused = client.post("/api/letters", json={**first, **api, "country": "??", "signature": {}})
    assert refused.status_code == 422

    for supporter, kind in ((second, "drawn"), (third, "typed")):
        values = {
            **supporter,
            "postcode": "11000",
            "country": "CZ",
            "language": "ru",
            "recipients": ["ombudsman", "state-secretary"],
            "signature_kind": kind,
            "signature_image": SIGNATURE if kind == "drawn" else "",
        }
        pairs = [(k, v) for k, v in values.items() if k != "recipients"]
        pairs += [("recipients", r) for r in values["recipients"]]
        assert form_post(client, "/preview?lang=ru", [*pairs, ("city", "")]).status_code == 422
        preview = form_post(client, "/preview?lang=ru", pairs)
        assert preview.status_code == 200
        decide = Page(preview.text).form_values("form.decide")
        assert form_post(client, "/edit?lang=ru", decide).status_code == 200
        thanks = Page(form_post(client, "/letters?lang=ru", decide).text)
        download = thanks.form_values("#download")
        assert form_post(client, "/letters/pdf?lang=ru", download).status_code == 200
        one = [*download, ("recipient", "ombudsman")]
        assert form_post(client, "/letters/pdf?lang=ru", one).status_code == 200
        token = dict(download)["token"]
        tokens.append(token)
        assert client.get(f"/posted/{token}?lang=ru").status_code == 200
        assert form_post(client, f"/posted/{token}?lang=ru", [("recipient", "")]).status_code == 303
    return tokens


def database_dump(engine) -> str:
    """Every row of every table, the migration table included, as text."""
    lines = []
    with engine.connect() as connection:
        for name in inspect(connection).get_table_names():
            for row in connection.execute(select(text("*")).select_from(table(name))):
                lines.append(f"{name}: {tuple(row)!r} {tuple(str(v) for v in row)}")
    return "\n".join(lines)


def files_written_since(started: float, folders: list[Path]) -> dict[Path, bytes]:
    found = {}
    for folder in folders:
        for path in folder.rglob("*"):
            try:
                if path.is_file() and path.stat().st_mtime >= started - 1:
                    found[path] = path.read_bytes()[:5_000_000]
            except OSError:
                continue
    return found


@pytest.fixture
def all_logs(caplog):
    """Every log record of every logger, SQLAlchemy's statements and parameters included."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    caplog.set_level(logging.DEBUG, logger="letter_campaign")
    return caplog


def test_no_table_file_or_log_holds_what_a_supporter_typed(
    app, client, all_logs, capfd, database_url, tmp_path, monkeypatch
):
    temporary = tmp_path / "temporary-files"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    started = time.time()
    tokens = run_submissions(client)

    figures = client.get("/api/stats").json()
    assert (figures["generated"], figures["sent"]) == (10, 10)

    dump = database_dump(app.state.engine)
    assert dump.count("letters:") == 10, "the dump must see the letters it checks"
    logged = "\n".join(
        f"{record.name} {record.getMessage()} {getattr(record, 'fields', '')} {record.args!r}"
        for record in all_logs.records
        if not record.name.startswith(CLIENT_LOGGERS)
    )
    assert "INSERT INTO letters" in logged, "SQL statements must be in the captured logs"
    captured = capfd.readouterr()
    printed = captured.out + captured.err

    secrets = leaks(SUPPORTERS, tokens)
    for secret in secrets:
        assert secret not in dump, f"database holds {secret!r}"
        assert secret not in logged, f"logs hold {secret!r}"
        assert secret not in printed, f"output holds {secret!r}"

    folders = [temporary]
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        folders.append(Path(url.database).parent)
    written = files_written_since(started, folders)
    if url.get_backend_name() == "sqlite":
        assert any(path.name.startswith(Path(url.database).name) for path in written)
    for path, content in written.items():
        for secret in secrets:
            assert secret.encode() not in content, f"{path} holds {secret!r}"
