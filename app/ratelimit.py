"""Rate limits per client on making letters, on logging in and on every other form post, shared
by every instance.

The counters live in process memory by default and in Redis (through the `limits` library) when
REDIS_URL is set, so several instances behind a load balancer count together. A client is known
only by a keyed hash of its address (HMAC with SECRET_KEY), and each counter expires with its
window (a sliding window weighs the previous one too, so at most two windows): no IP address is
ever stored, and no trace of a client outlives that. An IPv6 client counts by its /64, the
block one household or one server is given, as an IPv4 client counts by its address. At a
write-a-thon everybody shares one address: the posts of its kiosk link count against its event.

Behind a proxy, set FORWARDED_ALLOW_IPS so the client's own address is counted, not the proxy's.
"""

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import math
import re
import secrets
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import problem_page, wants_json
from app.i18n import N_, NN_, gettext, ngettext, ui_language

LOGGER = logging.getLogger("letter_campaign.ratelimit")
REDIS_TIMEOUT_S = 0.5

# What each limit covers: the requests that make letters (and cost a render) and login attempts;
# every other post a browser sends (preview, edit, "I have posted", staff forms) is a form post.
GUARDED = {
    ("POST", "/api/letters"): "letters",
    ("POST", "/letters"): "letters",
    ("POST", "/letters/pdf"): "letters",
    ("POST", "/embed/letters"): "letters",
    ("POST", "/embed/letters/pdf"): "letters",
    ("POST", "/login"): "login",
    ("POST", "/login/code"): "login",
}
# A write-a-thon's kiosk (app/routes/kiosk.py): everybody there shares one address, so its posts
# count against its event, known by the link, not the address: the packs against the event's own
# limit, the other steps as form posts.
KIOSK_POST = re.compile(r"^/kiosk/(?P<token>[^/]+)/(?P<step>[a-z]+)$")
DESCRIPTIONS = {
    "letters": "letter packs from one client",
    "login": "login attempts from one client",
    "forms": "form posts from one client",
    "event": "letter packs from one event's kiosk",
}
WAIT_HEADING = N_("Please wait a moment")
# Each refusal names three numbers: the limit, its window and the wait. Each agrees with its own
# noun (Russian: «не более 21 комплекта», «за 5 минут», «через 2 секунды»), and one message has
# one number to pick its plural form, so the sentence is a frame and each number a part of its
# own, its preposition with it (a language puts the case or suffix the preposition needs there,
# and the frame orders the parts as it likes).
WAIT_TEXT = N_(
    "Many letters were requested from your connection in a short time: %(limit)s %(window)s. "
    "Please try again %(wait)s."
)
EVENT_WAIT_TEXT = N_(
    "Many letters were made at this event in a short time: %(limit)s %(window)s. "
    "Please try again %(wait)s."
)
FORMS_WAIT_TEXT = N_(
    "Many forms were sent from your connection in a short time: %(limit)s %(window)s. "
    "Please try again %(wait)s."
)
AT_MOST_PACKS = NN_("at most %(num)s pack", "at most %(num)s packs")
AT_MOST_FORMS = NN_("at most %(num)s form", "at most %(num)s forms")
# The window in the largest unit it is a whole number of: a one-unit window is a rate ("per
# hour", «в час»), a message of its own; a longer one a number of units.
WINDOW_UNITS = (
    (86400, N_("per day"), NN_("per %(num)s day", "per %(num)s days")),
    (3600, N_("per hour"), NN_("per %(num)s hour", "per %(num)s hours")),
    (60, N_("per minute"), NN_("per %(num)s minute", "per %(num)s minutes")),
    (1, N_("per second"), NN_("per %(num)s second", "per %(num)s seconds")),
)
# The wait rounded up to whole minutes from two minutes, to whole hours from two hours: never
# sooner than Retry-After, which keeps the exact seconds.
WAIT_UNITS = (
    (7200, 3600, NN_("in %(num)s hour", "in %(num)s hours")),
    (120, 60, NN_("in %(num)s minute", "in %(num)s minutes")),
    (0, 1, NN_("in %(num)s second", "in %(num)s seconds")),
)


def limit_name(method: str, path: str) -> str | None:
    """The limit a request counts against, if any: every post but the API's (its letters are
    limited as letters, and confirming them needs a token)."""
    if (method, path) in GUARDED:
        return GUARDED[(method, path)]
    kiosk = KIOSK_POST.match(path)
    if method == "POST" and kiosk:
        return "event" if kiosk["step"] == "letters" else "forms"
    if method == "POST" and not path.startswith("/api/"):
        return "forms"
    return None


def counted_as(path: str, address: str) -> str:
    """Who a request counts as: its client, or the event whose kiosk link it posts to."""
    kiosk = KIOSK_POST.match(path)
    return f"kiosk {kiosk['token']}" if kiosk else client_address(address)


def client_address(address: str) -> str:
    """What a client is counted as: an IPv4 address, or the /64 of an IPv6 address (an
    IPv4-mapped one as its IPv4 address); anything else as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass(frozen=True)
class Refusal:
    name: str
    limit: RateLimitItem
    retry_after: int

    @property
    def stated(self) -> str:
        """The limit in words, e.g. "20 per 1 minute", "20 per 5 minutes"."""
        multiples, unit = self.limit.multiples, self.limit.GRANULARITY.name
        return f"{self.limit.amount} per {multiples} {unit}{'' if multiples == 1 else 's'}"


class RateLimiter:
    """Counts requests per client and limit name in a shared store."""

    def __init__(self, limits: dict[str, str], storage_url: str, secret: str) -> None:
        self.limits = {name: parse_many(text) for name, text in limits.items() if text}
        self.storage_url = storage_url
        # Without a configured secret (development), a random key: hashes then differ between
        # processes, which only matters when several share Redis, i.e. in production.
        self.key = (secret or secrets.token_urlsafe(32)).encode()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._limiter: SlidingWindowCounterRateLimiter | None = None

    def client_key(self, address: str) -> str:
        return hmac.new(self.key, address.encode(), hashlib.sha256).hexdigest()[:32]

    def _strategy(self) -> SlidingWindowCounterRateLimiter:
        """One limiter per event loop: async storage clients belong to the loop that made them."""
        loop = asyncio.get_running_loop()
        if self._limiter is None or self._loop is not loop:
            options = {}
            if self.storage_url.startswith("async+redis"):
                options = {
                    "implementation": "redispy",
                    "socket_timeout": REDIS_TIMEOUT_S,
                    "socket_connect_timeout": REDIS_TIMEOUT_S,
                }
            storage: Storage = storage_from_string(self.storage_url, **options)
            self._limiter = SlidingWindowCounterRateLimiter(storage)
            self._loop = loop
        return self._limiter

    async def hit(self, name: str, address: str) -> Refusal | None:
        """Count one request; a Refusal when it is over one of the limits called `name`.

        A store that does not answer lets requests through (and says so in the log): the limits
        protect the service, and should not take it down with them.
        """
        items = self.limits.get(name)
        if not items:
            return None
        limiter = self._strategy()
        client = self.client_key(address)
        try:
            for item in items:
                if not await limiter.hit(item, "letter-campaign", name, client):
                    stats = await limiter.get_window_stats(item, "letter-campaign", name, client)
                    wait = max(1, math.ceil(stats.reset_time - time.time()))
                    return Refusal(name, item, min(wait, item.get_expiry()))
        except Exception as error:  # noqa: BLE001 (any failure of the store)
            LOGGER.warning("rate limit store unavailable: %s", type(error).__name__)
        return None


def storage_url(redis_url: str) -> str:
    if not redis_url:
        return "async+memory://"
    return redis_url if redis_url.startswith("async+") else f"async+{redis_url}"


def refusal_response(request: Request, refusal: Refusal) -> Response:
    """429 naming the limit, with Retry-After: JSON for the API, a page for the forms."""
    detail = (
        f"rate limit {refusal.name!r} reached: at most {refusal.stated} of "
        f"{DESCRIPTIONS[refusal.name]}; try again in {refusal.retry_after} s"
    )
    if wants_json(request):
        headers = {"Retry-After": str(refusal.retry_after)}
        return JSONResponse({"detail": detail}, status_code=429, headers=headers)
    if refusal.name == "login":
        text = f"Too many login attempts from your connection: {detail}."
    else:
        text = wait_text(ui_language(request), refusal)
    return problem_page(request, 429, WAIT_HEADING, [text], refusal.retry_after)


def wait_text(lang: str, refusal: Refusal) -> str:
    """What the refusal page says, in the UI language: the limit, its window and the wait, each
    number with its noun in the form that number needs."""
    frame, at_most = {
        "letters": (WAIT_TEXT, AT_MOST_PACKS),
        "event": (EVENT_WAIT_TEXT, AT_MOST_PACKS),
    }.get(refusal.name, (FORMS_WAIT_TEXT, AT_MOST_FORMS))
    return gettext(
        lang,
        frame,
        limit=ngettext(lang, at_most, refusal.limit.amount),
        window=window_text(lang, refusal.limit.get_expiry()),
        wait=retry_text(lang, refusal.retry_after),
    )


def window_text(lang: str, seconds: int) -> str:
    """A limit's window: "per hour", "per 5 minutes", "per 90 minutes", "per 30 days"."""
    size, per_one, per_many = next(unit for unit in WINDOW_UNITS if seconds % unit[0] == 0)
    count = seconds // size
    return gettext(lang, per_one) if count == 1 else ngettext(lang, per_many, count)


def retry_text(lang: str, seconds: int) -> str:
    """When to try again: "in 40 seconds", "in 3 minutes", "in 5 hours", never too early."""
    _, size, message = next(unit for unit in WAIT_UNITS if seconds >= unit[0])
    return ngettext(lang, message, math.ceil(seconds / size))


class RateLimit:
    """ASGI middleware: counts the limited requests before their body is read."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = limit_name(scope.get("method", ""), scope.get("path", ""))
        if scope["type"] != "http" or name is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        counted = counted_as(scope["path"], client[0] if client else "unknown")
        refusal = await self.limiter.hit(name, counted)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        await refusal_response(request, refusal)(scope, receive, send)
