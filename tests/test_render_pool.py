"""Render processes (RENDER_PROCESSES): packs are made in processes of their own, shared by every
request, so no pack waits behind one worker's queue while another worker is idle. The web process
never renders; a render process that dies is replaced; the budget and the bounded queue hold as
when the web process renders itself."""

import asyncio
import logging
import os
import shutil
import signal
import threading
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app import settings as settings_module
from app.render import RenderPool
from app.render import pool as render_pool
from app.settings import Settings
from tests.conftest import migrated_database
from tests.html_pages import Page
from tests.reading import pdf_text
from tests.test_overload import FORM, SUPPORTER
from tests.test_supporter_form import create

pytestmark = pytest.mark.slow  # render processes of their own


@pytest.fixture(scope="module")
def database_url(tmp_path_factory):
    """Render processes do not touch the database: SQLite is enough here."""
    with migrated_database("sqlite", tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"render_processes": 1})


@pytest.fixture
def web_process_never_renders(app, monkeypatch):
    def refuse(*args, **how):
        raise AssertionError("the web process rendered a pack")

    monkeypatch.setattr(app.state.renderer, "make_pack", refuse)


def render_processes() -> list[int]:
    """This process's children started by multiprocessing's spawn."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if parent == os.getpid() and b"spawn_main" in command:
            found.append(int(entry.name))
    return found


def test_packs_are_made_in_a_render_process(
    client, web_process_never_renders, supporter_data, campaign
):
    response = client.post("/api/letters", json=supporter_data)
    assert response.status_code == 200, response.text
    text = pdf_text(response.content)
    assert supporter_data["name"] in text
    assert text.count("\f") == len(campaign.recipients)
    assert render_processes(), "no render process runs"
    stats = client.get("/api/stats").json()
    assert stats["generated"] == len(campaign.recipients)


def test_a_render_process_that_dies_is_replaced_and_no_pack_is_lost(
    client, web_process_never_renders, supporter_data
):
    body = {**supporter_data, "recipients": ["ombudsman"]}
    assert client.post("/api/letters", json=body).status_code == 200
    (killed,) = render_processes()
    os.kill(killed, signal.SIGKILL)
    response = client.post("/api/letters", json=body)
    assert response.status_code == 200, response.text
    assert supporter_data["name"] in pdf_text(response.content)
    assert client.get("/api/stats").json()["generated"] == 2


def test_the_render_budget_holds_in_a_render_process(app, settings, supporter_data):
    with TestClient(app) as client:
        assert client.post("/api/letters", json=supporter_data).status_code == 200
        app.state.settings = settings.model_copy(update={"render_budget_s": 0.001})
        response = client.post("/api/letters", json=supporter_data)
        assert response.status_code == 503
        assert response.json()["detail"].startswith("render time budget of 0.001 s exceeded")
        assert response.headers["Retry-After"]
        assert client.get("/api/stats").json()["generated"] == 6
        app.state.settings = settings
        assert client.post("/api/letters", json=supporter_data).status_code == 200


def test_a_pack_that_would_wait_too_long_is_refused_at_once_and_not_counted(
    app, settings, supporter_data
):
    """One render process, a bound shorter than one pack: while one pack is being made, three
    more are refused at once, without waiting for it. The first pack is held in its turn until
    the three have their answers, so the order does not depend on how fast the machine is."""
    pool = app.state.packs = RenderPool(settings.model_copy(update={"render_max_wait_s": 0.01}))
    body = {**supporter_data, "recipients": ["ombudsman"]}
    making, go_on = threading.Event(), threading.Event()
    run = pool._run

    async def held(*args: object):  # noqa: ANN202 (RenderPool._run's)
        making.set()
        await asyncio.to_thread(go_on.wait, 120)
        return await run(*args)

    pool._run = held  # type: ignore[method-assign]
    with TestClient(app) as client:
        first: list[httpx.Response] = []
        others: list[httpx.Response] = []

        def send(answers: list[httpx.Response]) -> threading.Thread:
            post = threading.Thread(
                target=lambda: answers.append(client.post("/api/letters", json=body))
            )
            post.start()
            return post

        sending_first = send(first)
        try:
            assert making.wait(60), "the first pack never got its turn"
            for post in [send(others) for _ in range(3)]:
                post.join(60)
            assert [r.status_code for r in others] == [503] * 3, "they waited for the first"
            assert all("waiting" in r.json()["detail"] for r in others)
        finally:
            go_on.set()
            sending_first.join(120)
        assert [r.status_code for r in first] == [200]
        assert client.get("/api/stats").json()["generated"] == 1


def test_a_hung_render_process_is_replaced_alone_and_the_others_go_on(
    app, settings, supporter_data
):
    """A render stuck where the budget's watchdog cannot reach (here: the process stopped):
    past twice its budget that process is killed and replaced; the other render process keeps
    making packs throughout."""
    # Warmed up, a pack takes a small part of its budget, even on a busy machine; the hung
    # process is given up on after twice the budget and 5 s.
    update = {"render_processes": 2, "warm_up": True}
    app.state.packs = RenderPool(settings.model_copy(update=update))
    app.state.warmed.clear()
    app.state.settings = settings.model_copy(update={"render_budget_s": 2.0})
    body = {**supporter_data, "recipients": ["ombudsman"]}
    with TestClient(app) as client:
        assert app.state.warmed.wait(120)
        hung, healthy = render_processes()
        os.kill(hung, signal.SIGSTOP)
        results = []
        threads = [
            threading.Thread(target=lambda: results.append(client.post("/api/letters", json=body)))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(r.status_code for r in results) == [200, 503]
        assert healthy in render_processes()
        assert hung not in render_processes()
        assert client.post("/api/letters", json=body).status_code == 200
        assert client.get("/api/stats").json()["generated"] == 2


def test_ready_once_every_render_process_has_laid_out_the_letters(app, settings):
    update = {"warm_up": True, "render_processes": 2}
    app.state.packs = RenderPool(settings.model_copy(update=update))
    app.state.warmed.clear()
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 503
        assert app.state.warmed.wait(180), "the render processes did not get ready"
        assert client.get("/readyz").json() == {"status": "ready"}
        assert len(render_processes()) == 2


class Logged(logging.Handler):
    """Sets `seen` when a log line holding `text` is written, from any thread."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


@pytest.fixture
def restarts():
    handler = Logged("starting new render processes")
    logger = logging.getLogger("letter_campaign.render.pool")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_render_processes_that_cannot_start_refuse_packs_and_are_not_restarted_for_each(
    app, settings, supporter_data, tmp_path, caplog, monkeypatch
):
    """A campaign folder broken on disk: render processes fail as they start. Packs are refused
    with 503 and counted nowhere, /readyz says not ready, and new processes are tried after a
    pause that doubles, not twice for every pack."""
    monkeypatch.setattr(render_pool, "FIRST_PAUSE_S", 60)
    app.state.packs = RenderPool(settings.model_copy(update={"campaign_dir": tmp_path}))
    body = {**supporter_data, "recipients": ["ombudsman"]}
    with TestClient(app) as client:
        responses = [client.post("/api/letters", json=body) for _ in range(4)]
        assert [r.status_code for r in responses] == [503] * 4
        for response in responses:
            assert response.json()["detail"].startswith("the render processes are being restarted")
        # The first restart came at once; the next is a minute away, and clients are told so.
        assert all(50 < int(r.headers["Retry-After"]) <= 60 for r in responses)
        assert client.get("/readyz").status_code == 503
        assert client.get("/api/stats").json()["generated"] == 0
    restarts = [r.getMessage() for r in caplog.records if "new render processes" in r.message]
    assert [message.rsplit(" in ", 1)[1] for message in restarts] == ["0 s", "60 s"]


def test_a_download_while_render_processes_restart_says_so_and_offers_to_try_again(
    app, settings, tmp_path, monkeypatch
):
    monkeypatch.setattr(render_pool, "FIRST_PAUSE_S", 60)
    app.state.packs = RenderPool(settings.model_copy(update={"campaign_dir": tmp_path}))
    with TestClient(app) as client:
        values = create(client, SUPPORTER, lang="ru").form_values("#download")
        response = client.post("/letters/pdf?lang=ru", content=urlencode(values), headers=FORM)
    assert response.status_code == 503
    assert 50 < int(response.headers["retry-after"]) <= 60
    page = Page(response.text)
    assert page.text("h1") == "Сервис временно недоступен"
    assert "перезапускается" in page.text("main")
    assert sorted(page.form_values("main form")) == sorted(values)


def test_render_processes_start_by_themselves_once_what_stopped_them_is_mended(
    app, settings, supporter_data, campaign_copy, tmp_path, restarts
):
    """No pack has to come for new render processes to start (while /readyz says not ready,
    a load balancer sends none)."""
    folder = tmp_path / "mended"
    folder.mkdir()
    app.state.packs = RenderPool(settings.model_copy(update={"campaign_dir": folder}))
    app.state.warmed.clear()
    with TestClient(app) as client:
        assert restarts.seen.wait(120), "the render processes did not fail"
        assert client.get("/readyz").status_code == 503
        shutil.copytree(campaign_copy, folder, dirs_exist_ok=True)
        assert app.state.warmed.wait(120), "the render processes did not start again"
        assert client.get("/readyz").json() == {"status": "ready"}
        body = {**supporter_data, "recipients": ["ombudsman"]}
        assert client.post("/api/letters", json=body).status_code == 200


def test_by_default_one_render_process_per_cpu(monkeypatch, tmp_path):
    monkeypatch.delenv("RENDER_PROCESSES")
    cpus = len(os.sched_getaffinity(0))
    quota = tmp_path / "cpu.max"
    monkeypatch.setattr(settings_module, "CPU_QUOTA", quota)
    assert Settings().render_process_count == min(cpus, 4)  # no cgroup quota
    quota.write_text("max 100000\n")
    assert Settings().render_process_count == min(cpus, 4)
    quota.write_text("150000 100000\n")  # docker run --cpus 1.5
    assert Settings().render_process_count == min(cpus, 2)
    quota.write_text("50000 100000\n")
    assert Settings().render_process_count == 1
    assert Settings(render_processes=0).render_process_count == 0
    with pytest.raises(ValidationError, match="render_max_wait_s"):
        Settings(render_max_wait_s=0)
