"""Deploy: what the production image and the compose file make happen, and the probes,
configuration and logs they rely on.

No Docker engine runs here, so the image is put together in a folder as its final stage says:
what it copies from the build stage (which runs scripts/install.sh, as `make install-test` did
for this checkout) and from the checkout. It is started by its own command with its own
environment, as an unprivileged user that owns nothing but its data folder, and probed with its
own HEALTHCHECK command. The replicas the compose file runs get the compose file's environment,
with this machine's PostgreSQL and Redis standing in for its `db` and `redis`.
"""

import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from dockerfile_parse import DockerfileParser
from sqlalchemy import create_engine, make_url, text

from app.settings import SOURCE_ROOT
from tests.conftest import postgres_database
from tests.reading import pdf_text
from tests.servers import free_port, running, wait_until_ready

NOBODY = pwd.getpwnam("nobody")
# What dropping to the image's user keeps: reading and searching every folder, as the image's
# user reads the files the image copied (owned by root, readable by all). Writing stays limited
# to what the user owns, and so does everything else root may do.
AS_NOBODY = [
    "setpriv",
    f"--reuid={NOBODY.pw_uid}",
    f"--regid={NOBODY.pw_gid}",
    "--clear-groups",
    "--inh-caps=+dac_read_search",
    "--ambient-caps=+dac_read_search",
]


@dataclass(frozen=True)
class Image:
    """The final stage of the Dockerfile, put together in `root` (its WORKDIR)."""

    root: Path
    env: dict[str, str]  # its ENV
    volume: str  # its VOLUME, the one folder its user owns
    command: list[str]  # its CMD
    healthcheck: list[str]  # its HEALTHCHECK's CMD

    def as_its_user(self, command: Sequence[str]) -> list[str]:
        """`command`, run in the image's working directory as an unprivileged user (`nobody`
        here, when the tests run as root; else the tests' own user, the copied files made
        read-only)."""
        drop = AS_NOBODY if os.geteuid() == 0 else []
        return ["env", "-C", str(self.root), *drop, *command]

    def data_folder(self) -> Path:
        """A new volume for the image, owned by its user as `chown campaign /data` makes it."""
        data = Path(tempfile.mkdtemp(prefix="data-", dir=self.root.parent))
        if os.geteuid() == 0:
            os.chown(data, NOBODY.pw_uid, NOBODY.pw_gid)
        return data

    def environment(self, data: Path, port: int, **operator: str) -> dict[str, str]:
        """The image's environment with the data folder for its volume, what the operator gives
        (`docker run -e`), and the tests' address: loopback and a free port."""
        env = {**self.env, "HOME": str(self.root), "HOST": "127.0.0.1", "PORT": str(port)}
        env["DATABASE_URL"] = env["DATABASE_URL"].replace(f"//{self.volume}/", f"//{data}/")
        # The image's virtualenv imports `app` from where the build stage installed it, the
        # folder the final stage copies it to; here that is this folder's copy, not the checkout.
        env["PYTHONPATH"] = str(self.root)
        return {**env, **operator}

    def probe(self, port: int) -> int:
        """The exit status of the HEALTHCHECK command, run as Docker runs it, against `port`."""
        image_address = f"127.0.0.1:{self.env['PORT']}/"
        assert any(image_address in part for part in self.healthcheck), (
            "the healthcheck reaches the port the image serves on"
        )
        command = [part.replace(image_address, f"127.0.0.1:{port}/") for part in self.healthcheck]
        probed = subprocess.run(
            self.as_its_user(command),
            env={"PATH": "/usr/bin:/bin", **self.env},
            capture_output=True,
            timeout=60,
        )
        return probed.returncode


def stages(parser: DockerfileParser) -> list[list[dict]]:
    starts = [i for i, item in enumerate(parser.structure) if item["instruction"] == "FROM"]
    return [parser.structure[a:b] for a, b in zip(starts, [*starts[1:], None], strict=True)]


def last(stage: list[dict], instruction: str) -> str:
    return [item["value"] for item in stage if item["instruction"] == instruction][-1]


@pytest.fixture(scope="module")
def image() -> Iterator[Image]:
    """The final stage's files, in a folder: what it copies from the checkout, and what it copies
    from the build stage, whose result this checkout is. The virtualenv, the front-end packages
    and the fonts are linked, not copied: the virtualenv's scripts name the path it was made at,
    as the image's do (the build stage's /app is the final stage's)."""
    parser = DockerfileParser(path=str(SOURCE_ROOT / "Dockerfile"))
    *_, build, final = stages(parser)
    build_root = PurePosixPath(last(build, "WORKDIR"))
    # Not below pytest's own temporary folder, which only root may enter: the image's user
    # reads its files by their path, as in the image.
    root = Path(tempfile.mkdtemp(prefix="image-")) / "app"
    root.parent.chmod(0o755)
    root.mkdir()
    copied = []
    for item in final:
        if item["instruction"] != "COPY":
            continue
        *sources, destination = item["value"].split()
        from_build = sources[0] == "--from=build"
        for source in sources[from_build:]:
            origin = SOURCE_ROOT / (
                PurePosixPath(source).relative_to(build_root) if from_build else source
            )
            target = root / destination
            if destination.endswith("/"):
                target = target / origin.name
            target.parent.mkdir(parents=True, exist_ok=True)
            # The package is copied: where it lies is where the service looks for the rest.
            if from_build and origin.name != "app":
                target.symlink_to(origin)
            elif origin.is_dir():
                shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
                copied.append(target)
            else:
                shutil.copy2(origin, target)
                copied.append(target)
    if os.geteuid() != 0:
        for path in copied:
            subprocess.run(["chmod", "-R", "a-w", str(path)], check=True)
    assert last(final, "USER") not in ("root", "0"), "the image runs as an unprivileged user"
    yield Image(
        root=root,
        env=parser.envs,
        volume=last(final, "VOLUME"),
        command=json.loads(last(final, "CMD")),
        healthcheck=json.loads(last(final, "HEALTHCHECK").split("CMD", 1)[1]),
    )
    subprocess.run(["chmod", "-R", "u+w", str(root.parent)], check=True)
    shutil.rmtree(root.parent)


@pytest.mark.slow
def test_the_image_serves_what_it_carries_as_a_user_that_owns_only_its_data(
    image, tmp_path, monkeypatch
):
    """Its own campaign, letters and fonts: a render process lays out the letters' fixed parts
    before /readyz says ready, and the page's scripts, stylesheet and fonts load. The HEALTHCHECK
    passes while the service runs and fails once it has stopped."""
    monkeypatch.delenv("CAMPAIGN_DIR")  # the campaign the image carries, not the suite's
    port = free_port()
    data = image.data_folder()
    env = image.environment(
        data,
        port,
        SECRET_KEY=secrets.token_hex(32),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        WARM_UP="true",
        RENDER_PROCESSES="1",  # the image's default is one per CPU: one does what each does
    )
    log = tmp_path / "log"
    with running(image.as_its_user(image.command), env, port, log) as (base_url, _):
        assert image.probe(port) == 0
        deadline = time.monotonic() + 120
        while (ready := httpx.get(f"{base_url}/readyz")).status_code != 200:
            assert ready.json()["status"] == "warming up: laying out the letters"
            assert time.monotonic() < deadline, "the render processes did not finish their warm-up"
            time.sleep(0.2)  # polling processes that warm up, not waiting for a result
        started = log.read_text()
        assert started.count("sets of fixed parts laid out") == 1
        assert "1 render processes ready" in started
        page = httpx.get(f"{base_url}/")
        assert page.status_code == 200, page.text
        # Its scripts, stylesheet and fonts: the app's, the front-end packages' and the build's.
        assets = set(re.findall(r'(?:href|src)="(/assets/[^"]+)"', page.text))
        stylesheets = [httpx.get(f"{base_url}{a}").text for a in assets if a.endswith(".css")]
        for css in stylesheets:
            assets |= set(re.findall(r"url\(['\"]?(/assets/[^'\")]+)", css))
        assert any(a.endswith(".js") for a in assets) and any(a.endswith(".woff2") for a in assets)
        for asset in assets:
            assert httpx.get(f"{base_url}{asset}").status_code == 200, asset
    assert image.probe(port) != 0
    assert [path.name for path in data.iterdir()] != [], "the database is in the data folder"


@pytest.mark.slow
def test_the_image_makes_packs_for_verified_officials(image, tmp_path, supporter_data):
    """Production holds letters to offices nobody has checked lately, as all the suite
    campaign's are (UNVERIFIED_OFFICIALS=hold), until staff record a check with the command the
    image carries."""
    port = free_port()
    data = image.data_folder()
    env = image.environment(
        data,
        port,
        SECRET_KEY=secrets.token_hex(32),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        RENDER_PROCESSES="1",
    )
    with running(image.as_its_user(image.command), env, port, tmp_path / "log") as (base, _):
        held = httpx.post(f"{base}/api/letters", json=supporter_data, timeout=30)
        assert held.status_code == 422, held.text
        assert held.json()["detail"][0]["type"] == "unverified_recipient"
        verify = [".venv/bin/letter-campaign", "official", "verify", "ombudsman"]
        subprocess.run(
            image.as_its_user([*verify, "--source", "https://example.org/ombudsman"]),
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        chosen = {**supporter_data, "recipients": ["ombudsman"]}
        pack = httpx.post(f"{base}/api/letters", json=chosen, timeout=30)
        assert pack.status_code == 200, pack.text
        assert supporter_data["name"] in pdf_text(pack.content)
    assert "Application startup complete" in (tmp_path / "log").read_text()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("SECRET_KEY", "SECRET_KEY must be set"),
        ("PUBLIC_URL", "PUBLIC_URL must be set in production"),
    ],
)
def test_the_image_does_not_start_without_the_operators_secret_and_address(
    image, tmp_path, missing, message
):
    """The image holds neither: with all the rest the operator gives, it refuses to start."""
    port = free_port()
    operator = {"SECRET_KEY": secrets.token_hex(32), "PUBLIC_URL": "https://letters.example.org"}
    del operator[missing]
    env = image.environment(image.data_folder(), port, **operator)
    result = subprocess.run(
        image.as_its_user(image.command),
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert message in result.stderr


# A compose variable: ${NAME}, ${NAME:-default} or ${NAME:?message}.
COMPOSE_VARIABLE = re.compile(r"\$\{(\w+)(?::([?-])([^}]*))?\}")


def compose_environment(service: dict, given: dict[str, str]) -> dict[str, str]:
    """The service's environment as compose sets it, from the operator's variables `given`."""

    def value(match: re.Match) -> str:
        name, kind, word = match.groups()
        if given.get(name):
            return given[name]
        assert kind != "?", f"compose refuses to start without {name}: {word}"
        return word if kind == "-" else ""

    return {name: COMPOSE_VARIABLE.sub(value, str(v)) for name, v in service["environment"].items()}


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def replicas(image: Image, env: dict[str, str], count: int, folder: Path) -> Iterator[list[str]]:
    """`count` replicas of the image, started at once (as compose starts them), each on its own
    port; yields their base URLs once every one answers."""
    ports = [free_port() for _ in range(count)]
    with ExitStack() as stack:
        processes = []
        for port in ports:
            log = stack.enter_context((folder / f"{port}.log").open("wb"))
            process = subprocess.Popen(
                image.as_its_user(image.command),
                env={**os.environ, **env, "PORT": str(port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            stack.callback(stop, process)
            processes.append(process)
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base, process in zip(bases, processes, strict=True):
            wait_until_ready(base, process)
        yield bases


@pytest.mark.slow
def test_the_replicas_compose_runs_share_one_database_and_one_rate_limit(image, tmp_path):
    """Each replica migrates the one PostgreSQL database at start, safely when all start at
    once, and they count a client's login attempts together in the one Redis."""
    compose = yaml.safe_load((SOURCE_ROOT / "compose.yaml").read_text())
    service = compose["services"]["app"]
    count = service["deploy"]["replicas"]
    public_url = "https://letters.example.org"
    given = {"POSTGRES_PASSWORD": "unused", "SECRET_KEY": secrets.token_hex(32)}
    env = compose_environment(service, {**given, "PUBLIC_URL": public_url})
    with postgres_database() as database:
        # Compose's `db` and `redis` are this machine's servers.
        driver = make_url(env["DATABASE_URL"]).drivername
        env["DATABASE_URL"] = make_url(database).set(drivername=driver).render_as_string(False)
        env["REDIS_URL"] = env["REDIS_URL"].replace("//redis:", "//127.0.0.1:")
        env = {
            **image.environment(image.data_folder(), port=0),  # each replica gets its own port
            **env,
            "HOST": "127.0.0.1",
            "RATE_LIMIT_LOGIN": f"{count}/minute",
        }
        with replicas(image, env, count, tmp_path) as bases:
            assert [httpx.get(f"{base}/readyz").status_code for base in bases] == [200] * count
            # The proxy in front passes the public address on as the Host.
            proxied = {"Host": urlsplit(public_url).netloc}
            attempts = [httpx.post(f"{base}/login", headers=proxied) for base in bases]
            assert 429 not in [attempt.status_code for attempt in attempts]
            refused = httpx.post(f"{bases[0]}/login", headers=proxied)
            assert refused.status_code == 429, refused.text
        engine = create_engine(database)
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        engine.dispose()
        assert len(versions) == 1


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


@pytest.mark.slow
def test_logs_are_json_lines_without_addresses_or_tokens(image, tmp_path):
    port = free_port()
    env = image.environment(
        image.data_folder(),
        port,
        SECRET_KEY=secrets.token_hex(32),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    secret_token = "private-token-that-must-not-be-logged"
    with running(image.as_its_user(image.command), env, port, tmp_path / "log") as (base_url, _):
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
