import base64
import io
import json
import multiprocessing.process
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFile

from app.campaign import Campaign, load_campaign
from app.render import LetterRenderer, RenderBudgetExceeded
from app.settings import SOURCE_ROOT, Settings
from tests.servers import free_port, running

KAZAKH_NAME = "Әсел Нұрғалиқызы Жүсіпова"

# Tests of other features make hundreds of letters from one address; the rate limits' own tests
# (test_rate_limits.py) set the limits they test. Server processes inherit these too.
os.environ.setdefault("RATE_LIMIT_LETTERS", "100000/minute")
os.environ.setdefault("RATE_LIMIT_LOGIN", "100000/minute")
os.environ.setdefault("RATE_LIMIT_FORMS", "100000/minute")
# Servers started by tests lay out letters' parts when first needed; test_app_factory.py tests the
# warm-up itself.
os.environ.setdefault("WARM_UP", "false")
# Apps and servers render in their own process; test_render_pool.py tests render processes.
os.environ.setdefault("RENDER_PROCESSES", "0")
# The suite runs on a frozen campaign of its own, so staff may edit the shipped one (the top's
# recipients.yaml, campaign.yaml, letter_templates/): that is tested only through `letter-campaign
# check` (test_shipped_campaign.py). Apps, servers and commands started by tests inherit it.
SUITE_CAMPAIGN = Path(__file__).parent / "campaigns" / "suite"
os.environ["CAMPAIGN_DIR"] = str(SUITE_CAMPAIGN)


# --- tiers: `make test-fast` leaves out the tests marked browser, slow or postgresql -------------
#
# The fast tier is the edit-test loop: it starts no browser and no process that runs the service,
# and runs each test once, on SQLite. Slow are also the few tests that take seconds in this
# process (comparing composed packs with full renders, many password hashes). A test is marked by
# the fixtures it uses, and a test that starts a process of the service anyway fails unless it is
# marked slow, so a new test cannot slip into the fast tier by a forgotten mark.

BROWSER_FIXTURES = {"browser"}
SERVER_FIXTURES = {"server", "two_servers"}  # conftest's, and modules' own of the same names
# Programs that start the service or a browser; poppler's tools, msgfmt, make and the like are
# quick and stay in the fast tier.
SLOW_PROGRAMS = ("python", "letter-campaign", "uvicorn", "node", "chromium")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks the tests that use a browser or a server through a fixture, wherever they are, and
    those on the PostgreSQL database (the fast tier runs each test once, on SQLite)."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        if used & SERVER_FIXTURES:
            item.add_marker(pytest.mark.slow)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("database_url") == "postgresql":
            item.add_marker(pytest.mark.postgresql)


_started: list[str] = []  # what the running test (and its fixtures) started, in order


def _slow_command(args: object) -> str | None:
    """The command, shortened, when it runs one of SLOW_PROGRAMS (perhaps through env)."""
    words = [args] if isinstance(args, str | bytes | os.PathLike) else list(args)  # type: ignore[call-overload]
    names = [os.path.basename(os.fsdecode(word)) for word in words]
    for at, name in enumerate(names):
        if name.startswith(SLOW_PROGRAMS):
            return " ".join(word.splitlines()[0][:30] for word in names[at : at + 3] if word)
    return None


def _noting_popen(init):  # noqa: ANN001, ANN202 (wraps subprocess.Popen.__init__)
    def noted(self, args, *rest, **options):  # noqa: ANN001, ANN202
        if (command := _slow_command(args)) is not None:
            _started.append(command)
        return init(self, args, *rest, **options)

    return noted


def _noting(start, what: str):  # noqa: ANN001, ANN202 (wraps any function that starts one)
    def noted(*args, **options):  # noqa: ANN002, ANN003, ANN202
        _started.append(what)
        return start(*args, **options)

    return noted


def pytest_configure(config: pytest.Config) -> None:
    """Notes every process started, however deep in a helper or the service it is started:
    subprocess's (and so asyncio's and Playwright's), multiprocessing's (render processes) and
    forks (a command on a terminal, through pty)."""
    subprocess.Popen.__init__ = _noting_popen(subprocess.Popen.__init__)  # type: ignore[method-assign]
    process = multiprocessing.process.BaseProcess
    process.start = _noting(process.start, "a multiprocessing process")  # type: ignore[method-assign]
    os.fork = _noting(os.fork, "a forked process")
    os.forkpty = _noting(os.forkpty, "a forked process")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before the test's fixtures: a module's server is started in its first test's set-up."""
    _started.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item):  # noqa: ANN201 (a hook wrapper)
    """Fails a test that started a process of the service or a browser without its mark."""
    result = yield
    marked = {mark.name for mark in item.iter_markers()} & {"slow", "browser"}
    if _started and not marked:
        started, _started[:] = list(_started), []
        pytest.fail(
            f"started {', '.join(dict.fromkeys(started))} but is not marked @pytest.mark.slow:"
            " the fast tier (make test-fast) starts no server, command or render process of the"
            " service",
            pytrace=False,
        )
    return result


# A supporter as the form posts one: one official, signed in typed script.
TYPED_FORM = {
    "name": "Мария Иванова-Шмидт",
    "street": "Lindenstraße 12",
    "city": "Berlin",
    "country": "DE",
    "language": "ru",
    "recipients": "ombudsman",
    "signature_kind": "typed",
}


def drawn_signature(width: int = 300, height: int = 100) -> Image.Image:
    """A drawn-looking signature: a zigzag stroke on a transparent background."""
    image = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    points = [
        (int(width * x), int(height * y))
        for x, y in [(0.03, 0.8), (0.27, 0.2), (0.5, 0.85), (0.73, 0.15), (0.97, 0.7)]
    ]
    ImageDraw.Draw(image).line(points, fill=(0, 0, 80, 255), width=5)
    return image


def data_url(image: Image.Image, kind: str, **options: object) -> str:
    """An image as the API takes it; `options` go to Pillow's save (exif, comment...)."""
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return f"data:image/{kind.lower()};base64," + base64.b64encode(buffer.getvalue()).decode()


def png_data_url(width: int = 300, height: int = 100) -> str:
    """A drawn signature as API clients may send it."""
    return data_url(drawn_signature(width, height), "PNG")


def jpeg_data_url(width: int = 300, height: int = 100) -> str:
    """A drawn signature as the form sends it: a JPEG on white."""
    image = drawn_signature(width, height)
    page = Image.new("RGB", image.size, "white")
    page.paste(image, mask=image.getchannel("A"))
    return data_url(page, "JPEG", quality=92)


# --- in a real browser: Debian's Chromium through Playwright, and a server for it -----------------

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    """One migrated SQLite database and one server process for a module's browser tests; a
    module that needs its server set up otherwise defines its own."""
    from app.storage.db import migrate

    folder = tmp_path_factory.mktemp("server")
    database_url = f"sqlite:///{folder / 'server.db'}"
    migrate(database_url)
    env = {"DATABASE_URL": database_url, "LOG_LEVEL": "warning"}
    port = free_port()
    command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with running(command, env, port, folder / "server.log") as (base_url, _process):
        yield base_url


@pytest.fixture(autouse=True)
def budget_exceptions_a_collector_swallowed(monkeypatch) -> None:
    """The render budget's watchdog raises into the rendering thread; when its exception lands
    in a garbage-collector callback (hypothesis installs one), Python swallows it as
    "unraisable" and the watchdog raises again (app/render/budget.py). Those are expected; any other
    unraisable exception still reaches pytest, which warns of it."""
    report = sys.unraisablehook

    def hook(info) -> None:  # noqa: ANN001 (sys.UnraisableHookArgs)
        if not isinstance(info.exc_value, RenderBudgetExceeded):
            report(info)

    monkeypatch.setattr(sys, "unraisablehook", hook)


@pytest.fixture
def decoded(monkeypatch) -> list[tuple[str, tuple[int, int]]]:
    """Every image whose pixels Pillow decodes, as (format, size): decoding is what takes the
    time, so an image refused without it is refused fast, however busy the machine."""
    seen: list[tuple[str, tuple[int, int]]] = []
    load = ImageFile.ImageFile.load

    def noted(image: ImageFile.ImageFile):  # noqa: ANN202 (Pillow's own)
        seen.append((image.format, image.size))
        return load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", noted)
    return seen


@pytest.fixture
def campaign_copy(tmp_path: Path) -> Path:
    """A copy of the suite's campaign, for tests that change or break it."""
    target = tmp_path / "campaign"
    shutil.copytree(SUITE_CAMPAIGN, target)
    return target


@pytest.fixture(scope="session")
def campaign() -> Campaign:
    return load_campaign(SUITE_CAMPAIGN)


@pytest.fixture(scope="session")
def renderer(campaign: Campaign) -> LetterRenderer:
    return LetterRenderer(campaign, Settings().fonts_dir)


@pytest.fixture
def supporter_data() -> dict:
    return {
        "name": KAZAKH_NAME,
        "street": "Hauptstraße 5",
        "postcode": "10115",
        "city": "Berlin",
        "country": "DE",
        "language": "ru",
        "recipients": [],
        "message": None,
        "signature": {"kind": "typed"},
    }


@pytest.fixture
def supporter_file(tmp_path: Path, supporter_data: dict) -> Iterator[tuple[Path, dict]]:
    path = tmp_path / "supporter.json"

    def write(**changes: object) -> Path:
        path.write_text(json.dumps({**supporter_data, **changes}, ensure_ascii=False))
        return path

    yield write  # type: ignore[misc]


# --- the application on a real database: SQLite and the PostgreSQL server on this machine -----

POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database on the local PostgreSQL server, dropped afterwards."""
    import uuid

    from sqlalchemy import create_engine, text

    name = f"letter_campaign_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def migrated_database(kind: str, folder: Path) -> Iterator[str]:
    """A new, migrated database: an SQLite file in `folder`, or a PostgreSQL database dropped
    afterwards."""
    from app.storage.db import migrate

    if kind == "sqlite":
        url = f"sqlite:///{folder / 'letters.db'}"
        migrate(url)
        yield url
    else:
        with postgres_database() as url:
            migrate(url)
            yield url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory) -> Iterator[str]:
    """A migrated, empty database of each kind, for the whole session."""
    with migrated_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, secret_key="test-secret-key", campaign_goal=5000)


@pytest.fixture(scope="session")
def renderers() -> dict[tuple, LetterRenderer]:
    """The renderers of the session's apps, one for each campaign, fonts and speed-ups."""
    return {}


@pytest.fixture
def app(settings: Settings, renderers: dict[tuple, LetterRenderer]):
    """The service on a database emptied for each test. Apps that render in this process share
    a renderer, as a server's requests do: each app's own would lay out the letters' fixed parts
    anew at its first pack, in test after test."""
    from sqlalchemy import delete

    from app.main import create_app
    from app.storage.models import Base

    key = (settings.campaign_dir, settings.fonts_dir, tuple(settings.speedups_off_list))
    application = create_app(settings, renderer=renderers.get(key))
    renderers.setdefault(key, application.state.renderer)
    with application.state.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))
    yield application
    application.state.engine.dispose()


@pytest.fixture
def connections_while_rendering(app, monkeypatch) -> list[int]:
    """For each pack the app renders, how many pooled database connections were checked out."""
    renderer, pool = app.state.renderer, app.state.engine.pool
    make_pack, seen = renderer.make_pack, []

    def watched(letters, lang, **how):
        seen.append(pool.checkedout())
        return make_pack(letters, lang, **how)

    monkeypatch.setattr(renderer, "make_pack", watched)
    return seen


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as test_client:
        yield test_client


# --- staff ---------------------------------------------------------------------------------------

STAFF_EMAIL, STAFF_PASSWORD = "staff@example.org", "a long staff password"


class Clock:
    """Stands in for the wall clock, so a lock or an expiry is reached without waiting."""

    def __init__(self, now) -> None:  # type: ignore[no-untyped-def]
        self.now = now

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


@pytest.fixture
def clock(app) -> Clock:
    """The service's clock, stopped at the current moment; tests move it by hand."""
    from app.storage.staff import utc_now

    stopped = Clock(utc_now())
    app.dependency_overrides[utc_now] = stopped
    return stopped


@pytest.fixture
def staff_account(app) -> tuple[str, str]:
    """A staff account made the way `letter-campaign staff add` makes it."""
    from app.storage.staff import add_staff, utc_now

    with app.state.sessionmaker() as db:
        add_staff(db, STAFF_EMAIL, STAFF_PASSWORD, utc_now())
        db.commit()
    return STAFF_EMAIL, STAFF_PASSWORD


@pytest.fixture
def staff_client(client, staff_account):
    """The test client, logged in as staff through the login form."""
    from tests.staff_pages import log_in

    assert log_in(client, *staff_account).status_code == 303
    return client


@contextmanager
def serving_twice(database_url: str, folder: Path, **settings: str) -> Iterator[tuple[str, str]]:
    """Two `letter-campaign serve` processes on one database, with `settings` (environment
    variables) on top of the test run's own; their logs go to `folder`."""
    env = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "a shared secret of at least thirty-two characters",
        "LOG_LEVEL": "warning",
        "WORKERS": "1",
        **settings,
    }
    cli = str(SOURCE_ROOT / ".venv" / "bin" / "letter-campaign")
    first, second = free_port(), free_port()
    with (
        running([cli, "serve", "--port", str(first)], env, first, folder / "a.log") as (a, _),
        running([cli, "serve", "--port", str(second)], env, second, folder / "b.log") as (b, _),
    ):
        yield a, b


@pytest.fixture
def two_servers(app, database_url: str, tmp_path: Path):
    """Two `letter-campaign serve` processes on the test's (emptied) database."""
    with serving_twice(database_url, tmp_path) as servers:
        yield servers
