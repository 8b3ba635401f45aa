"""Overload: packs wait for a renderer in order of arrival, holding no thread. A pack is refused
(503 with Retry-After) only when the wait it can expect passes RENDER_MAX_WAIT_S: then at once,
nothing made or counted, and the web page offers to post the same values again, so the
supporter loses nothing."""

import asyncio
import threading
import time
from urllib.parse import urlencode

import httpx
import pytest

from tests.html_pages import Page
from tests.reading import pdf_text
from tests.test_supporter_form import create

FORM = {"content-type": "application/x-www-form-urlencoded"}
SUPPORTER = {
    "name": "Мария Иванова-Шмидт",
    "street": 'Lindenstraße 12, "Hof" <b>&amp; 3',
    "postcode": "10969",
    "city": "Berlin",
    "country": "DE",
    "language": "ru",
    "recipients": ["la-155-1", "ombudsman"],
    "signature_kind": "typed",
}


@pytest.fixture
def settings(settings):
    """A bound shorter than one pack: any pack that would have to wait is refused."""
    return settings.model_copy(update={"render_max_wait_s": 0.01})


@pytest.fixture
def held(app, monkeypatch) -> tuple[threading.Event, threading.Event]:
    """The first pack to render keeps its turn until `release` is set."""
    renderer = app.state.renderer
    make_pack, rendering, release = renderer.make_pack, threading.Event(), threading.Event()

    def held_render(letters, lang, **how):
        if not rendering.is_set():
            rendering.set()
            assert release.wait(30)
        return make_pack(letters, lang, **how)

    monkeypatch.setattr(renderer, "make_pack", held_render)
    return rendering, release


def second_request_while_one_renders(app, held, send):
    """Sends two requests: the first renders (held), the second comes meanwhile. Returns both
    responses, the second's first."""
    rendering, release = held

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            first = asyncio.create_task(send(http))
            assert await asyncio.to_thread(rendering.wait, 10)
            second = await send(http)
            release.set()
            return second, await first

    return asyncio.run(scenario())


def test_a_pack_that_would_wait_too_long_is_refused_at_once_and_nothing_is_counted(
    app, client, held, supporter_data
):
    body = {**supporter_data, "recipients": ["ombudsman"]}
    second, first = second_request_while_one_renders(
        app, held, lambda http: http.post("/api/letters", json=body)
    )
    assert second.status_code == 503
    assert "too many packs are waiting" in second.json()["detail"]
    assert int(second.headers["retry-after"]) >= 1
    assert first.status_code == 200
    assert client.get("/api/stats").json()["generated"] == 1
    again = client.post("/api/letters", json=body)
    assert again.status_code == 200
    assert supporter_data["name"] in pdf_text(again.content)


def test_a_download_that_would_wait_too_long_offers_to_try_again_with_the_same_values(
    app, client, held
):
    values = create(client, SUPPORTER, lang="ru").form_values("#download")

    def download(http):
        return http.post("/letters/pdf?lang=ru", content=urlencode(values), headers=FORM)

    second, first = second_request_while_one_renders(app, held, download)
    assert second.status_code == 503
    assert int(second.headers["retry-after"]) >= 1
    assert second.headers["cache-control"] == "no-store"
    assert second.headers["x-robots-tag"] == "noindex, nofollow"
    page = Page(second.text)
    assert page.text("h1") == "Сейчас письма пишут очень многие"
    assert "Ваши письма учтены" in page.text("main")
    assert first.status_code == 200
    retry = page.form_values("main form")
    assert sorted(retry) == sorted(values)
    assert page.one("main form").get("action") == "/letters/pdf?lang=ru"
    pdf = client.post("/letters/pdf?lang=ru", content=urlencode(retry), headers=FORM)
    assert pdf.status_code == 200
    assert SUPPORTER["name"] in pdf_text(pdf.content)


def test_within_the_bound_packs_wait_their_turn_without_a_thread_each_and_none_is_refused(
    app, client, held, supporter_data
):
    """48 packs come while one renders; with the default bound they all wait. They wait as
    coroutines: more packs wait than the 40 worker threads, and a page still gets one."""
    app.state.packs._queue.max_wait_s = 20
    rendering, release = held
    body = {**supporter_data, "recipients": ["ombudsman"]}

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            first = asyncio.create_task(http.post("/api/letters", json=body))
            assert await asyncio.to_thread(rendering.wait, 10)
            others = [asyncio.create_task(http.post("/api/letters", json=body)) for _ in range(48)]
            deadline = time.monotonic() + 10
            while app.state.packs.waiting < 48 and time.monotonic() < deadline:
                await asyncio.sleep(0.005)  # until all of them have queued
            waiting = app.state.packs.waiting
            page = await asyncio.wait_for(http.get("/privacy"), 10)
            release.set()
            return waiting, page, await first, await asyncio.gather(*others)

    waiting, page, first, others = asyncio.run(scenario())
    assert waiting == 48
    assert page.status_code == 200
    assert [r.status_code for r in [first, *others]] == [200] * 49
    assert client.get("/api/stats").json()["generated"] == 49
