"""Deploy: the production image, compose file, probes, configuration and logs.

No Docker engine runs here, so the image is checked by parsing its Dockerfile, and started the
way its CMD starts it: the same script, with the same environment variables.
"""

import json
import os
import subprocess
import threading
import time

import httpx
import pytest
import yaml
from dockerfile_parse import DockerfileParser
from sqlalchemy import create_engine, text

from app.settings import SOURCE_ROOT
from tests.conftest import postgres_database
from tests.reading import pdf_text
from tests.servers import free_port, running


@pytest.fixture(scope="module")
def dockerfile() -> DockerfileParser:
    parser = DockerfileParser(path=str(SOURCE_ROOT / "Dockerfile"))
    assert parser.structure, "the Dockerfile does not parse"
    return parser


def final_stage(parser: DockerfileParser) -> list[dict]:
    starts = [i for i, item in enumerate(parser.structure) if item["instruction"] == "FROM"]
    return parser.structure[starts[-1] :]


def test_the_image_is_multi_stage_and_its_set_up_is_make_runs(dockerfile):
    stages = [i for i in dockerfile.structure if i["instruction"] == "FROM"]
    assert len(stages) >= 2
    runs = " ".join(i["value"] for i in dockerfile.structure if i["instruction"] == "RUN")
    assert "scripts/install.sh" in runs
    makefile = (SOURCE_ROOT / "Makefile").read_text()
    assert "scripts/install.sh" in makefile


def test_the_final_image_runs_as_a_non_root_user_with_a_healthcheck(dockerfile):
    final = final_stage(dockerfile)
    users = [i["value"].strip() for i in final if i["instruction"] == "USER"]
    assert users and users[-1] not in ("root", "0")
    healthcheck = [i["value"] for i in final if i["instruction"] == "HEALTHCHECK"]
    assert healthcheck and "/healthz" in healthcheck[0]
    assert [i["value"] for i in final if i["instruction"] == "CMD"] == ['["scripts/start.sh"]']
    copied = " ".join(i["value"] for i in final if i["instruction"] == "COPY")
    for carried in ("node_modules", "build", ".venv"):
        assert carried in copied


def test_the_image_holds_no_secret(dockerfile):
    env = dockerfile.envs
    assert "SECRET_KEY" not in env
    for item in dockerfile.structure:
        if item["instruction"] in ("ENV", "ARG"):
            assert "SECRET" not in item["value"].upper()
            assert "PASSWORD" not in item["value"].upper()


def test_compose_runs_two_app_replicas_on_postgresql_with_a_volume():
    compose = yaml.safe_load((SOURCE_ROOT / "compose.yaml").read_text())
    app, db = compose["services"]["app"], compose["services"]["db"]
    assert app["deploy"]["replicas"] == 2
    assert app["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
    # Production refuses to start without its public address: compose asks for it.
    assert app["environment"]["ENVIRONMENT"] == "production"
    assert app["environment"]["PUBLIC_URL"].startswith("${PUBLIC_URL:?")
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in db["volumes"])
    assert "db-data" in compose["volumes"]


def image_env(dockerfile: DockerfileParser, **overrides: str) -> dict[str, str]:
    """The environment the image sets, with this machine's addresses in place of its own (the
    public address is the one the tests reach the server at)."""
    public_url = f"http://127.0.0.1:{overrides.get('PORT', '8000')}"
    return {**dockerfile.envs, "SECRET_KEY": "s" * 40, "PUBLIC_URL": public_url, **overrides}


def test_the_service_starts_as_the_image_starts_it(dockerfile, tmp_path, supporter_data):
    """One web worker and, on this machine's two cores, two render processes that lay out the
    letters' fixed parts before /readyz says ready, then make packs."""
    port = free_port()
    env = image_env(
        dockerfile,
        DATABASE_URL=f"sqlite:///{tmp_path / 'image.db'}",
        HOST="127.0.0.1",
        PORT=str(port),
        WARM_UP="true",
        RENDER_PROCESSES="2",  # the image leaves it to its default (one per CPU, at most 4)
    )
    log = tmp_path / "log"
    with running(["scripts/start.sh"], env, port, log) as (base_url, _):
        assert httpx.get(f"{base_url}/healthz").json() == {"status": "ok"}
        deadline = time.monotonic() + 120
        while (ready := httpx.get(f"{base_url}/readyz")).status_code != 200:
            assert ready.json()["status"] == "warming up: laying out the letters"
            assert time.monotonic() < deadline, "the render processes did not finish their warm-up"
            time.sleep(0.2)  # polling processes that warm up, not waiting for a result
        started = log.read_text()
        assert started.count("sets of fixed parts laid out") == 2
        assert "2 render processes ready" in started
        # Production holds letters to offices nobody has checked lately, as all the campaign's
        # are (UNVERIFIED_OFFICIALS=hold), until staff record a check.
        held = httpx.post(f"{base_url}/api/letters", json=supporter_data, timeout=30)
        assert held.status_code == 422, held.text
        assert held.json()["detail"][0]["type"] == "unverified_recipient"
        verify = [".venv/bin/letter-campaign", "official", "verify", "ombudsman"]
        subprocess.run(
            [*verify, "--source", "https://example.org/ombudsman"],
            cwd=SOURCE_ROOT,
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        chosen = {**supporter_data, "recipients": ["ombudsman"]}
        pack = httpx.post(f"{base_url}/api/letters", json=chosen, timeout=30)
        assert pack.status_code == 200, pack.text
        assert supporter_data["name"] in pdf_text(pack.content)
    assert "Application startup complete" in log.read_text()


def test_replicas_starting_at_once_migrate_one_postgresql_database_safely(dockerfile, tmp_path):
    with postgres_database() as url:
        ports = [free_port(), free_port()]
        results: dict[int, int] = {}

        def start(port: int) -> None:
            env = image_env(
                dockerfile, DATABASE_URL=url, HOST="127.0.0.1", PORT=str(port), WORKERS="1"
            )
            with running(["scripts/start.sh"], env, port, tmp_path / f"{port}.log") as (base, _):
                results[port] = httpx.get(f"{base}/readyz").status_code

        threads = [threading.Thread(target=start, args=(port,)) for port in ports]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert results == {ports[0]: 200, ports[1]: 200}
        engine = create_engine(url)
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        engine.dispose()
        assert len(versions) == 1


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("SECRET_KEY", "SECRET_KEY must be set"),
        ("PUBLIC_URL", "PUBLIC_URL must be set in production"),
    ],
)
def test_production_refuses_to_start_without_its_secret_or_its_address(
    dockerfile, tmp_path, missing, message
):
    env = image_env(dockerfile, **{missing: ""}, DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    result = subprocess.run(
        [".venv/bin/letter-campaign", "serve", "--port", str(free_port())],
        cwd=SOURCE_ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_readyz_answers_503_when_the_schema_is_behind(client, app):
    assert client.get("/readyz").status_code == 200
    version = text("SELECT version_num FROM alembic_version")
    set_version = text("UPDATE alembic_version SET version_num = :v")
    with app.state.engine.begin() as connection:
        head = connection.execute(version).scalar_one()
        connection.execute(set_version, {"v": "0000"})
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert "migrate" in response.json()["status"]
        assert client.get("/healthz").status_code == 200
    finally:
        with app.state.engine.begin() as connection:
            connection.execute(set_version, {"v": head})


def test_logs_are_json_lines_without_addresses_or_tokens(dockerfile, tmp_path):
    port = free_port()
    env = image_env(
        dockerfile,
        DATABASE_URL=f"sqlite:///{tmp_path / 'log.db'}",
        HOST="127.0.0.1",
        PORT=str(port),
        WORKERS="1",
    )
    secret_token = "private-token-that-must-not-be-logged"
    with running(["scripts/start.sh"], env, port, tmp_path / "log") as (base_url, _):
        headers = {"User-Agent": "TellTaleBrowser/1.0"}
        answers = [
            httpx.get(f"{base_url}/healthz", headers=headers),
            httpx.post(f"{base_url}/api/letters/{secret_token}/sent", headers=headers),
            httpx.get(f"{base_url}/no-such-page", headers=headers),
        ]
    lines = [line for line in (tmp_path / "log").read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    requests = [r for r in records if r.get("message") == "request"]
    assert len(requests) >= 3
    for record in requests:
        assert {"request_id", "route", "status", "duration_ms"} <= record.keys()
    assert {r["route"] for r in requests} >= {"/healthz", "/api/letters/{token}/sent"}
    logged = {r["request_id"]: r["status"] for r in requests}
    for answer in answers:  # each answer names its log line
        assert logged[answer.headers["x-request-id"]] == answer.status_code
    # The server names its own listening address once; no line names a client's.
    whole = "\n".join(line for line in lines if "running on http://127.0.0.1" not in line)
    for leak in ("127.0.0.1", secret_token, "TellTaleBrowser"):
        assert leak not in whole
