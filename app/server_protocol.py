"""The HTTP protocol `letter-campaign serve` runs: uvicorn's httptools protocol, with a bound on
the size of a request's head."""

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# A request line and its headers, as Node.js and h11 allow by default; browsers send about 1 KB.
MAX_REQUEST_HEAD = 16 * 1024


class HeadTooLarge(Exception):
    """Raised in a parser callback: httptools stops and raises its own error for it, which
    uvicorn answers with 400 and a closed connection."""


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol for `serve`, refusing a request whose line and headers pass
    MAX_REQUEST_HEAD bytes with 400 and a closed connection.

    llhttp takes headers of any size, and httptools keeps an unfinished line in memory, copied
    whole for every piece that arrives; h11's limit holds only for a head that comes in pieces.
    So lines are counted as the parser hands them over, and bytes as they come while a line is
    still open. A module-level class, so that worker processes can unpickle it."""

    head_parsed = head_received = 0
    in_head = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.head_parsed, self.head_received, self.in_head = 0, 0, True

    def on_url(self, url: bytes) -> None:
        self._parsed(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.in_head = False
        super().on_headers_complete()

    def _parsed(self, size: int) -> None:
        self.head_parsed += size
        if self.head_parsed > MAX_REQUEST_HEAD:
            raise HeadTooLarge("request head too large")

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.in_head and not self.transport.is_closing():
            self.head_received += len(data)
            if self.head_received > MAX_REQUEST_HEAD:
                self.send_400_response("Request header fields too large.")
