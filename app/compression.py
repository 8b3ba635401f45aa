"""Text answers compressed, with brotli or gzip, whichever the client accepts (brotli first).

On a slow phone the campaign page's HTML, stylesheet and scripts are a quarter of their size
compressed. Static files are compressed once per process (app/assets.py); pages as they go out,
by the Compression middleware.

Not compressed: answers marked `Cache-Control: no-store`. Those are the pages that hold what a
supporter typed beside a secret (the preview with its pack's token, the thank-you page with the
private link) and the staff pages with their CSRF tokens. Compressing such a page would let
another site that can make the browser send chosen text guess the secret from the lengths of the
answers (BREACH). Pages everyone gets alike (the campaign page, the privacy notice, the feed)
hold no secret, and static files hold nothing from a request.
"""

import gzip
import zlib

import brotli
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ENCODINGS = ("br", "gzip")
TEXT_TYPES = (
    "application/atom+xml",
    "application/javascript",
    "application/json",
    "application/xml",
    "image/svg+xml",
    "text/",
)
MINIMUM_SIZE = 512  # smaller answers gain less than the headers cost
STATIC_BROTLI_QUALITY = 11  # the smallest, once per file and process
LARGE_FILE = 256_000  # Swagger UI's script: quality 11 takes seconds, 9 a third of one
PAGE_BROTLI_QUALITY = 5  # every page, as it goes out: milliseconds, a tenth larger than 11


def accepted_encoding(accept_encoding: str) -> str | None:
    """The encoding to answer in: brotli or gzip where the client accepts it, else None."""
    accepted = set()
    for item in accept_encoding.lower().split(","):
        name, _, params = item.partition(";")
        quality = params.strip().removeprefix("q=").strip() if params else "1"
        try:
            if float(quality) > 0:
                accepted.add(name.strip())
        except ValueError:
            continue
    return next((encoding for encoding in ENCODINGS if encoding in accepted), None)


def compressible(media_type: str) -> bool:
    media_type = media_type.partition(";")[0].strip().lower()
    return media_type.startswith(TEXT_TYPES)


def compress_file(body: bytes, encoding: str) -> bytes:
    """A static file compressed for good: as small as it gets in reasonable time."""
    if encoding == "br":
        quality = STATIC_BROTLI_QUALITY if len(body) < LARGE_FILE else 9
        return brotli.compress(body, quality=quality)
    return gzip.compress(body, compresslevel=9, mtime=0)


class _Stream:
    """One answer's compressor; each chunk is flushed, so a streamed answer keeps streaming."""

    def __init__(self, encoding: str) -> None:
        if encoding == "br":
            self._br = brotli.Compressor(quality=PAGE_BROTLI_QUALITY)
        else:
            self._gzip = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        self.encoding = encoding

    def chunk(self, data: bytes, last: bool) -> bytes:
        if self.encoding == "br":
            out = self._br.process(data)
            return out + (self._br.finish() if last else self._br.flush())
        out = self._gzip.compress(data)
        return out + self._gzip.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


class Compression:
    """Compresses text answers not marked no-store; everything else passes as it is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        encoding = accepted_encoding(Headers(scope=scope).get("accept-encoding", ""))
        held: Message | None = None  # the start of an answer that may be compressed
        stream: _Stream | None = None

        async def compressing_send(message: Message) -> None:
            nonlocal held, stream
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                if not _eligible(message):
                    await send(message)
                    return
                MutableHeaders(scope=message).add_vary_header("Accept-Encoding")
                if encoding is None:
                    await send(message)
                else:
                    held = message
                return
            if held is None or message["type"] != "http.response.body":
                if stream is not None and message["type"] == "http.response.body":
                    last = not message.get("more_body", False)
                    message = {**message, "body": stream.chunk(message.get("body", b""), last)}
                await send(message)
                return
            start, held = held, None
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if more or len(body) >= MINIMUM_SIZE:
                stream = _Stream(encoding)  # type: ignore[arg-type]
                body = stream.chunk(body, last=not more)
                headers = MutableHeaders(scope=start)
                headers["Content-Encoding"] = stream.encoding
                del headers["Content-Length"]
                if not more:
                    headers["Content-Length"] = str(len(body))
            await send(start)
            await send({**message, "body": body})

        await self.app(scope, receive, compressing_send)


def _eligible(start: Message) -> bool:
    headers = Headers(raw=start["headers"])
    return (
        start["status"] not in (204, 206, 304)
        and "content-encoding" not in headers
        and "no-store" not in headers.get("cache-control", "").lower()
        and compressible(headers.get("content-type", ""))
    )
