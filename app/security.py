"""Security headers on every response, a cap on request bodies checked before reading them,
the service's public address (PUBLIC_URL) and a refusal of posts from other sites.

No page may be shown in another site's frame, except the embedded form's journey (/embed and
below, app/routes/embed.py), which the sites of EMBED_ORIGINS, and only they, may frame.

All are plain ASGI middleware so they also cover errors, static files and streamed responses.
"""

import asyncio
import json
from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import problem_page, wants_json
from app.i18n import N_, gettext, ui_language


def content_security_policy(frame_ancestors: str = "'none'") -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "form-action 'self'",
            f"frame-ancestors {frame_ancestors}",
            "base-uri 'none'",
            "object-src 'none'",
        ]
    )


CONTENT_SECURITY_POLICY = content_security_policy()
HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
FRAME_HEADERS = (b"content-security-policy", b"x-frame-options")
EMBED_PATH = "/embed"
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
DEFAULT_PORTS = {"http": 80, "https": 443}
# Probes and the metrics scraper reach the service at its internal address; these answers hold
# no address.
ANY_HOST = frozenset({"/healthz", "/readyz", "/metrics"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CROSS_SITE_HEADING = N_("This form was sent from another website")
CROSS_SITE_TEXT = N_(
    "This campaign accepts its forms only from its own pages, so that no other website can "
    "send them in your name. Please fill in the form on the campaign's page."
)


def embed_path(path: str) -> bool:
    """Whether `path` belongs to the embedded form's journey."""
    return path == EMBED_PATH or path.startswith(EMBED_PATH + "/")


class SecurityHeaders:
    """`hsts`: send Strict-Transport-Security on every answer, as the public address is https
    even where a proxy in front speaks plain http to the service. `embed_origins`: the sites
    whose frames may show the embedded form's journey (its errors too, so that they show in the
    frame); its answers then carry their frame-ancestors instead of X-Frame-Options, which
    cannot name a site. Every other answer refuses every frame."""

    def __init__(self, app: ASGIApp, hsts: bool = False, embed_origins: Sequence[str] = ()) -> None:
        self.app = app
        self.hsts = hsts
        self.embed_headers = HEADERS
        if embed_origins:
            framed = content_security_policy(" ".join(embed_origins)).encode()
            self.embed_headers = [(b"content-security-policy", framed)] + [
                (name, value) for name, value in HEADERS if name not in FRAME_HEADERS
            ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = self.hsts or scope.get("scheme") == "https"
        headers = self.embed_headers if embed_path(scope["path"]) else HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in headers if n not in present]
                if https:
                    extra.append(HSTS)
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Refuses a body larger than `max_bytes` with 413: at once when Content-Length says so,
    and as soon as the bytes received pass the limit when it does not. A body that has not
    arrived whole `timeout_s` after the application began to read it gets 408: a client that
    sends slowly, or stalls, costs its connection for that long and nothing more (routes read
    the body before they take a thread, a database connection or a place in the render line).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def _refuse(self, send: Send, status: int, message: str) -> None:
        body = json.dumps({"detail": [{"loc": ["body"], "msg": message}]}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"request body over {self.max_bytes} bytes"
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send, 413, too_large)
            return
        received = 0
        refused = False
        complete = False
        deadline: float | None = None

        async def counting_receive() -> Message:
            # Refused, the client is answered at once, and the application is told the client
            # went away, so it stops reading and nothing it sends after goes out.
            nonlocal received, refused, complete, deadline
            if refused:
                return {"type": "http.disconnect"}
            if complete:
                return await receive()  # the body is in: only a disconnect can come
            loop = asyncio.get_running_loop()
            if deadline is None:
                deadline = loop.time() + self.timeout_s
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0))
            except TimeoutError:
                refused = True
                slow = f"request body not received within {self.timeout_s:g} s"
                await self._refuse(send, 408, slow)
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > self.max_bytes:
                    refused = True
                    await self._refuse(send, 413, too_large)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)


def _host_and_port(scheme: str, host: str) -> tuple[str, int] | None:
    """A Host header's host and port, the scheme's default port where it names none."""
    try:
        parts = urlsplit(f"//{host}")
        return (parts.hostname or "", parts.port or DEFAULT_PORTS.get(scheme, 0))
    except ValueError:
        return None


def _host_header(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"host":
            return value.decode("latin-1")
    return ""


class PublicAddress:
    """Serves every request as a request for PUBLIC_URL: its scheme, host and port replace what
    reached the service, so every link, redirect and feed id the routes write is the public
    address, https behind a proxy that speaks plain http to the service. A request for another
    host is refused with 400: it would be written into pages, and into the cached feed."""

    def __init__(self, app: ASGIApp, public_url: str) -> None:
        self.app = app
        self.public_url = public_url
        parts = urlsplit(public_url)
        self.scheme = parts.scheme
        self.host_header = parts.netloc.encode("latin-1")
        self.server = _host_and_port(self.scheme, parts.netloc)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        asked = _host_and_port(self.scheme, _host_header(scope))
        if asked != self.server and scope["path"] not in ANY_HOST:
            refusal = PlainTextResponse(
                f"unknown host: this service answers at {self.public_url}", status_code=400
            )
            await refusal(scope, receive, send)
            return
        headers = [(name, value) for name, value in scope["headers"] if name != b"host"]
        public = {
            "scheme": self.scheme,
            "server": self.server,
            "headers": [(b"host", self.host_header), *headers],
        }
        await self.app({**scope, **public}, receive, send)


def cross_site(scope: Scope) -> bool:
    """Whether the browser says a request comes from anywhere but the service's own pages.

    Sec-Fetch-Site, which every current browser sends, decides where present (`same-site`, a
    neighbouring host of the same domain, is refused as `cross-site` is). Else the Origin
    must be the service's own (its public address under PublicAddress). `Origin: null` passes
    without Sec-Fetch-Site: browsers send it for the service's own forms, as its pages ask for
    no Referer (a sandboxed frame, which sends it too, is cross-site to Sec-Fetch-Site)."""
    headers = dict(scope.get("headers", []))
    site = headers.get(b"sec-fetch-site")
    if site is not None:
        return site not in (b"same-origin", b"none")
    origin = headers.get(b"origin", b"null").decode("latin-1")
    if origin == "null":
        return False
    theirs = urlsplit(origin)
    scheme = scope.get("scheme", "http")
    ours = _host_and_port(scheme, _host_header(scope))
    return theirs.scheme != scheme or ours is None or _host_and_port(scheme, theirs.netloc) != ours


def cross_site_refusal(request: Request) -> Response:
    """403, saying why: JSON for the API, a page in the supporter's language for forms."""
    if wants_json(request):
        detail = "cross-site request refused: this service accepts posts only from its own pages"
        return JSONResponse({"detail": detail}, status_code=403)
    lang = ui_language(request)
    text = gettext(lang, CROSS_SITE_TEXT)
    return problem_page(request, 403, CROSS_SITE_HEADING, [text], retry_after=None)


class CrossSiteRefusal:
    """Refuses every post a browser says another site sent (a form there, or a frame): none
    could otherwise make letters, confirm them or spend a supporter's rate limit in their name.
    Clients that send neither Sec-Fetch-Site nor Origin (curl, API clients) pass."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS or not cross_site(scope):
            await self.app(scope, receive, send)
            return
        await cross_site_refusal(Request(scope, receive))(scope, receive, send)
