"""Overload: a worker queues a bounded number of packs (RENDER_QUEUE). Past it a pack is refused at
once with 503 and Retry-After, nothing is made or counted, and the web page offers to post the
same values again, so the supporter loses nothing."""

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
    return settings.model_copy(update={"render_queue": 1})


@pytest.fixture
def held(app, monkeypatch) -> tuple[threading.Event, threading.Event]:
    """The first pack to render keeps its turn until `release` is set."""
    renderer = app.state.renderer
    render, rendering, release = renderer.render, threading.Event(), threading.Event()

    def held_render(letters, lang):
        if not rendering.is_set():
            rendering.set()
            assert release.wait(30)
        return render(letters, lang)

    monkeypatch.setattr(renderer, "render", held_render)
    return rendering, release


def third_request_while_two_wait(app, held, send):
    """Sends three requests: the first renders (held), the second waits for its turn, the third
    comes while both are in the worker. Returns the three responses, the third's first."""
    rendering, release = held

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            first = asyncio.create_task(send(http))
            assert await asyncio.to_thread(rendering.wait, 10)
            second = asyncio.create_task(send(http))
            deadline = time.monotonic() + 10
            while app.state.renderer.waiting < 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.005)  # until the second pack has queued
            assert app.state.renderer.waiting == 1
            third = await send(http)
            release.set()
            return third, await first, await second

    return asyncio.run(scenario())


def test_a_pack_past_the_queue_is_refused_at_once_and_nothing_is_counted(
    app, client, held, supporter_data
):
    body = {**supporter_data, "recipients": ["ombudsman"]}
    third, first, second = third_request_while_two_wait(
        app, held, lambda http: http.post("/api/letters", json=body)
    )
    assert third.status_code == 503
    assert "too many packs are waiting" in third.json()["detail"]
    assert third.headers["retry-after"] == "5"
    assert [first.status_code, second.status_code] == [200, 200]
    assert client.get("/api/stats").json()["generated"] == 2
    again = client.post("/api/letters", json=body)
    assert again.status_code == 200
    assert supporter_data["name"] in pdf_text(again.content)


def test_a_download_past_the_queue_offers_to_try_again_with_the_same_values(app, client, held):
    values = create(client, SUPPORTER, lang="ru").form_values("#download")

    def download(http):
        return http.post("/letters/pdf?lang=ru", content=urlencode(values), headers=FORM)

    third, first, second = third_request_while_two_wait(app, held, download)
    assert third.status_code == 503
    assert third.headers["retry-after"] == "5"
    assert third.headers["cache-control"] == "no-store"
    assert third.headers["x-robots-tag"] == "noindex, nofollow"
    page = Page(third.text)
    assert page.text("h1") == "Сейчас письма пишут очень многие"
    assert "Ваши письма учтены" in page.text("main")
    assert [first.status_code, second.status_code] == [200, 200]
    retry = page.form_values("main form")
    assert sorted(retry) == sorted(values)
    assert page.one("main form").get("action") == "/letters/pdf?lang=ru"
    pdf = client.post("/letters/pdf?lang=ru", content=urlencode(retry), headers=FORM)
    assert pdf.status_code == 200
    assert SUPPORTER["name"] in pdf_text(pdf.content)
