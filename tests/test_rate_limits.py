"""Rate limits per client on making letters, on logging in and on every other form post: 429
with Retry-After and a message naming the limit; counted in process by default, and across
instances when they share Redis; clients known only by a keyed hash that expires with the
window; an IPv6 client counted by its /64."""

import re
import secrets

import pytest
import redis
from fastapi.testclient import TestClient
from limits import parse

from app.main import create_app
from app.ratelimit import RateLimiter, Refusal, retry_text, window_text
from app.routes import assets, dashboard, second_factor, staff_admin, steering, supporter
from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD, TYPED_FORM
from tests.staff_pages import csrf_token

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def limited(settings):
    """Settings with small limits and a secret of their own, so that counters in Redis left by
    another test (or another run) never meet this test's. Windows are a day long: a sliding
    window weighs the previous one, so a test crossing a minute's boundary would pass a request
    it should refuse."""

    def make(**changes: object):
        return settings.model_copy(
            update={
                "rate_limit_letters": "3/day",
                "rate_limit_login": "2/day",
                "rate_limit_forms": "2/day",
                "secret_key": secrets.token_urlsafe(32),
                **changes,
            }
        )

    return make


def letters(client: TestClient, supporter_data: dict):
    return client.post("/api/letters", json={**supporter_data, "recipients": ["ombudsman"]})


def assert_refused(response, limit: str, amount: str) -> int:
    assert response.status_code == 429
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 24 * 3600
    assert f"rate limit '{limit}'" in response.json()["detail"]
    assert f"at most {amount}" in response.json()["detail"]
    return retry_after


def test_the_fourth_pack_in_a_window_is_refused_with_429_naming_the_limit(limited, supporter_data):
    app = create_app(limited())
    with TestClient(app) as client:
        assert [letters(client, supporter_data).status_code for _ in range(3)] == [200] * 3
        assert_refused(letters(client, supporter_data), "letters", "3 per 1 day")
        # Only letters are limited, and only for this client.
        assert client.get("/api/stats").status_code == 200
    with TestClient(app, client=("203.0.113.7", 40000)) as other:
        assert letters(other, supporter_data).status_code == 200
    app.state.engine.dispose()


def test_the_form_shows_a_page_in_the_supporters_language_when_the_limit_is_reached(
    limited, supporter_data
):
    app = create_app(limited(rate_limit_letters="1/day"))
    form = {**supporter_data, "recipients": "ombudsman", "signature_kind": "typed"}
    form.pop("signature"), form.pop("message")
    with TestClient(app) as client:
        assert client.post("/letters?lang=ru", data=form).status_code == 200
        refused = client.post("/letters/pdf?lang=ru", data=form)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("text/html")
    assert 'lang="ru"' in refused.text and "не более 1 комплекта в день" in refused.text
    assert refused.headers["retry-after"].isdigit()
    app.state.engine.dispose()


def test_login_attempts_are_limited_per_client_whatever_the_account(limited, staff_account):
    app = create_app(limited())
    with TestClient(app) as client:
        statuses = []
        for number in range(3):
            token = csrf_token(client.get("/login").text)
            attempt = {"email": f"guess{number}@example.org", "password": "x", "csrf_token": token}
            statuses.append(client.post("/login", data=attempt))
        assert [r.status_code for r in statuses[:2]] == [401, 401]
        refused = statuses[2]
        assert refused.status_code == 429
        assert "login attempts" in refused.text and "at most 2 per 1 day" in refused.text
        assert refused.headers["retry-after"].isdigit()
    # The right password from another address still gets in.
    with TestClient(app, client=("198.51.100.4", 41000)) as colleague:
        token = csrf_token(colleague.get("/login").text)
        good = {"email": STAFF_EMAIL, "password": STAFF_PASSWORD, "csrf_token": token}
        assert colleague.post("/login", data=good, follow_redirects=False).status_code == 303
    app.state.engine.dispose()


def test_two_instances_sharing_redis_count_together(limited, supporter_data):
    settings = limited(redis_url=REDIS_URL, rate_limit_letters="3/day")
    first, second = create_app(settings), create_app(settings)
    with TestClient(first) as a, TestClient(second) as b:
        assert letters(a, supporter_data).status_code == 200
        assert letters(b, supporter_data).status_code == 200
        assert letters(a, supporter_data).status_code == 200
        assert_refused(letters(b, supporter_data), "letters", "3 per 1 day")
        assert_refused(letters(a, supporter_data), "letters", "3 per 1 day")
    for app in (first, second):
        app.state.engine.dispose()


def test_without_redis_each_instance_counts_alone(limited, supporter_data):
    settings = limited(rate_limit_letters="1/day")
    first, second = create_app(settings), create_app(settings)
    with TestClient(first) as a, TestClient(second) as b:
        assert letters(a, supporter_data).status_code == 200
        assert letters(b, supporter_data).status_code == 200
        assert_refused(letters(a, supporter_data), "letters", "1 per 1 day")
    for app in (first, second):
        app.state.engine.dispose()


def test_redis_keeps_no_address_and_forgets_the_client_with_the_window(limited, supporter_data):
    settings = limited(redis_url=REDIS_URL, rate_limit_letters="3/minute")
    app = create_app(settings)
    address = "192.0.2.55"
    with TestClient(app, client=(address, 42000)) as client:
        assert letters(client, supporter_data).status_code == 200
    app.state.engine.dispose()
    store = redis.Redis.from_url(REDIS_URL)
    hashed = RateLimiter({}, "async+memory://", settings.secret_key).client_key(address)
    keys = [key.decode() for key in store.scan_iter(match=f"*{hashed}*")]
    assert keys, "the limit was counted under the client's keyed hash"
    everything = b" ".join(store.scan_iter(count=1000)) + b" ".join(
        store.get(key) or b"" for key in keys
    )
    assert address.encode() not in everything
    assert not re.search(rb"\b192\.0\.2\.55\b", everything)
    for key in keys:
        assert 0 < store.ttl(key) <= 2 * 60, "each counter expires with its window"


def test_a_client_hash_needs_the_secret():
    one = RateLimiter({}, "async+memory://", "a" * 32).client_key("192.0.2.1")
    assert one == RateLimiter({}, "async+memory://", "a" * 32).client_key("192.0.2.1")
    assert one != RateLimiter({}, "async+memory://", "b" * 32).client_key("192.0.2.1")
    assert "192.0.2.1" not in one


def test_an_unreachable_redis_lets_requests_through(limited, supporter_data):
    app = create_app(limited(redis_url="redis://127.0.0.1:1/0", rate_limit_letters="1/day"))
    with TestClient(app) as client:
        assert [letters(client, supporter_data).status_code for _ in range(2)] == [200, 200]
    app.state.engine.dispose()


FORM = TYPED_FORM


def test_a_preview_over_the_forms_limit_is_a_page_in_the_supporters_language(limited):
    app = create_app(limited())
    with TestClient(app) as client:
        shown = [client.post("/preview?lang=ru", data=FORM) for _ in range(2)]
        assert [response.status_code for response in shown] == [200, 200]
        assert client.post("/edit?lang=ru", data=FORM).status_code == 429
        refused = client.post("/preview?lang=ru", data=FORM)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("text/html")
    assert 'lang="ru"' in refused.text and "Пожалуйста, подождите немного" in refused.text
    assert "не более 2 форм в день" in refused.text
    assert 1 <= int(refused.headers["retry-after"]) <= 24 * 3600
    app.state.engine.dispose()


@pytest.fixture
def refusing(monkeypatch):
    """Every limited request refused at once with the numbers given: `n` per `n` minutes, try
    again in `n` seconds. The pages for any numbers, without making that many requests."""

    def refuse(n: int) -> None:
        async def hit(self, name: str, address: str) -> Refusal:
            return Refusal(name, parse(f"{n} per {n} minute"), retry_after=n)

        monkeypatch.setattr(RateLimiter, "hit", hit)

    return refuse


# What a refusal page says with each number n as the limit, the window (minutes) and the wait
# (seconds): (letter packs, forms, wait). Russian takes one form for 1 and 21, another for 2, a
# third for 5; Kazakh nouns stay as they are after a number.
REFUSALS = {
    (1, "en"): (
        "at most 1 pack per minute",
        "at most 1 form per minute",
        "Please try again in 1 second.",
    ),
    (1, "ru"): (
        "не более 1 комплекта в минуту",
        "не более 1 формы в минуту",
        "попробуйте снова через 1 секунду.",
    ),
    (1, "kk"): (
        "минутына ең көбі 1 жинақ",
        "минутына ең көбі 1 форма",
        "1 секундтан кейін қайталап көріңіз.",
    ),
    (2, "en"): (
        "at most 2 packs per 2 minutes",
        "at most 2 forms per 2 minutes",
        "Please try again in 2 seconds.",
    ),
    (2, "ru"): (
        "не более 2 комплектов за 2 минуты",
        "не более 2 форм за 2 минуты",
        "попробуйте снова через 2 секунды.",
    ),
    (2, "kk"): (
        "2 минут ішінде ең көбі 2 жинақ",
        "2 минут ішінде ең көбі 2 форма",
        "2 секундтан кейін қайталап көріңіз.",
    ),
    (5, "en"): (
        "at most 5 packs per 5 minutes",
        "at most 5 forms per 5 minutes",
        "Please try again in 5 seconds.",
    ),
    (5, "ru"): (
        "не более 5 комплектов за 5 минут",
        "не более 5 форм за 5 минут",
        "попробуйте снова через 5 секунд.",
    ),
    (5, "kk"): (
        "5 минут ішінде ең көбі 5 жинақ",
        "5 минут ішінде ең көбі 5 форма",
        "5 секундтан кейін қайталап көріңіз.",
    ),
    (21, "en"): (
        "at most 21 packs per 21 minutes",
        "at most 21 forms per 21 minutes",
        "Please try again in 21 seconds.",
    ),
    (21, "ru"): (
        "не более 21 комплекта за 21 минуту",
        "не более 21 формы за 21 минуту",
        "попробуйте снова через 21 секунду.",
    ),
    (21, "kk"): (
        "21 минут ішінде ең көбі 21 жинақ",
        "21 минут ішінде ең көбі 21 форма",
        "21 секундтан кейін қайталап көріңіз.",
    ),
}


@pytest.mark.parametrize("n", sorted({n for n, _ in REFUSALS}))
def test_each_number_on_a_refusal_page_agrees_with_its_own_noun(limited, refusing, n):
    refusing(n)
    app = create_app(limited())
    with TestClient(app) as client:
        for lang in ("en", "ru", "kk"):
            packs, forms, wait = REFUSALS[(n, lang)]
            pages = [
                (f"/letters?lang={lang}", packs),
                (f"/preview?lang={lang}", forms),
                # A write-a-thon's kiosk: packs too, counted against its event.
                (f"/kiosk/some-event/letters?lang={lang}", packs),
            ]
            for path, said in pages:
                refused = client.post(path, data=FORM)
                assert refused.status_code == 429, path
                assert refused.headers["retry-after"] == str(n)
                assert f'lang="{lang}"' in refused.text
                assert said in refused.text and wait in refused.text, path
    app.state.engine.dispose()


@pytest.mark.parametrize("n", [1, 2, 5, 21])
def test_the_api_states_the_limit_in_english_whatever_the_language(limited, refusing, n):
    """The JSON is for programs: one wording, with its units in the plural from 2 on."""
    refusing(n)
    app = create_app(limited())
    minutes = "1 minute" if n == 1 else f"{n} minutes"
    with TestClient(app) as client:
        for lang in ("en", "ru", "kk"):
            refused = client.post(
                f"/api/letters?lang={lang}", json={}, headers={"Accept-Language": lang}
            )
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == str(n)
            assert refused.json()["detail"] == (
                f"rate limit 'letters' reached: at most {n} per {minutes} of letter packs from "
                f"one client; try again in {n} s"
            )
    app.state.engine.dispose()


@pytest.mark.parametrize(
    ("seconds", "en", "ru"),
    [
        (60, "per minute", "в минуту"),
        (3600, "per hour", "в час"),
        (86400, "per day", "в день"),
        (1, "per second", "в секунду"),
        (5400, "per 90 minutes", "за 90 минут"),
        (7200, "per 2 hours", "за 2 часа"),
        (21 * 3600, "per 21 hours", "за 21 час"),
        (30 * 86400, "per 30 days", "за 30 дней"),
        (45, "per 45 seconds", "за 45 секунд"),
    ],
)
def test_a_window_is_told_in_the_largest_unit_it_is_a_whole_number_of(seconds, en, ru):
    assert (window_text("en", seconds), window_text("ru", seconds)) == (en, ru)


@pytest.mark.parametrize(
    ("seconds", "en", "ru"),
    [
        (119, "in 119 seconds", "через 119 секунд"),
        (120, "in 2 minutes", "через 2 минуты"),
        (121, "in 3 minutes", "через 3 минуты"),
        (1260, "in 21 minutes", "через 21 минуту"),
        (7199, "in 120 minutes", "через 120 минут"),
        (7200, "in 2 hours", "через 2 часа"),
        (86400, "in 24 hours", "через 24 часа"),
        (86399, "in 24 hours", "через 24 часа"),
    ],
)
def test_a_long_wait_is_told_in_minutes_or_hours_rounded_up(seconds, en, ru):
    """Rounded up, so a supporter who comes back when the page says is let through; the
    Retry-After header keeps the exact seconds."""
    assert (retry_text("en", seconds), retry_text("ru", seconds)) == (en, ru)


def test_codes_of_the_second_factor_count_against_the_login_limit(limited):
    """A password and a code are tries at one account: a client guessing codes spends the
    login budget, not the larger one of form posts."""
    app = create_app(limited(rate_limit_login="2/day", rate_limit_forms="100/day"))
    with TestClient(app) as client:
        token = csrf_token(client.get("/login").text)
        attempt = {"email": "guess@example.org", "password": "x", "csrf_token": token}
        assert client.post("/login", data=attempt).status_code == 401
        client.post("/login/code", data={"code": "123456"}, follow_redirects=False)
        refused = client.post("/login/code", data={"code": "123456"}, follow_redirects=False)
        assert refused.status_code == 429
        assert "login attempts" in refused.text
    app.state.engine.dispose()


def test_every_post_a_browser_sends_counts_against_a_limit(limited):
    """Each form route, whatever it is (the staff forms too): its second post from one client
    in a window of one is refused."""
    app = create_app(limited(rate_limit_letters="1/day", rate_limit_login="1/day",
                             rate_limit_forms="1/day"))  # fmt: skip
    routes = [
        route.path.replace("{", "").replace("}", "")
        for router in (
            supporter.router,
            dashboard.router,
            steering.router,
            staff_admin.router,
            second_factor.router,
            assets.router,
        )
        for route in router.routes
        if "POST" in route.methods
    ]
    assert {"/preview", "/edit", "/posted/token", "/login", "/dashboard/updates"} <= set(routes)
    for number, path in enumerate(routes, start=1):
        with TestClient(app, client=(f"198.51.100.{number}", 40000)) as client:
            client.post(path, data=FORM, follow_redirects=False)
            refused = client.post(path, data=FORM, follow_redirects=False)
            assert refused.status_code == 429, path
            assert refused.headers["retry-after"].isdigit()
    app.state.engine.dispose()


@pytest.mark.parametrize(
    ("first", "same", "other"),
    [
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:3::1"),
        ("::ffff:203.0.113.9", "203.0.113.9", "203.0.113.10"),
        ("203.0.113.9", "::ffff:203.0.113.9", "::ffff:203.0.113.10"),
    ],
)
def test_an_ipv6_client_counts_by_its_64_and_an_ipv4_one_by_its_address(
    limited, supporter_data, first, same, other
):
    # Shared counts: each test client runs its own event loop, and in-process counters are kept
    # per event loop.
    app = create_app(limited(redis_url=REDIS_URL, rate_limit_letters="1/day"))
    with TestClient(app, client=(first, 40000)) as client:
        assert letters(client, supporter_data).status_code == 200
    with TestClient(app, client=(same, 40001)) as client:
        assert_refused(letters(client, supporter_data), "letters", "1 per 1 day")
    with TestClient(app, client=(other, 40002)) as client:
        assert letters(client, supporter_data).status_code == 200
    app.state.engine.dispose()
