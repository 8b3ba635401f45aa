"""Using the staff pages the way a browser does: log in with the form's token, read tables."""

import re
from html.parser import HTMLParser

import httpx

from tests.html_pages import Page

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(page: str) -> str:
    match = CSRF_FIELD.search(page)
    assert match, "the page has no CSRF token field"
    return match.group(1)


def log_in(client, email: str, password: str) -> httpx.Response:
    """Open the login form (which sets its token cookie), then send it."""
    token = csrf_token(client.get("/login").text)
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def refusal(response: httpx.Response) -> tuple:
    """What a failed login shows: status, the page's message, headers that could tell more."""
    page = Page(response.text)
    return (
        response.status_code,
        page.text("#login-error"),
        response.headers.get("retry-after"),
        "staff_session=" in response.headers.get("set-cookie", ""),
        "staff_device=" in response.headers.get("set-cookie", ""),
    )


STEERING = "/dashboard/steering"


def dashboard_token(client) -> str:
    """The session's CSRF token as the dashboard's logout form carries it."""
    return csrf_token(client.get("/dashboard").text)


def steering_token(client) -> str:
    """The CSRF token of the steering page's forms (an organiser's or admin's)."""
    return csrf_token(client.get(STEERING).text)


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("id") or "", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        elif tag == "span" and self._cell is not None and ("class", "sub") in attrs:
            self._cell.append("\0")  # an official's title follows their name: cut it off

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            text = "".join(self._cell).split("\0")[0]
            self._table[-1].append(" ".join(text.split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(page: str) -> dict[str, list[list[str]]]:
    """Every table of the page by its id: rows of cell texts, header row included."""
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def rows_by_label(table: list[list[str]]) -> dict[str, list[str]]:
    """Body rows keyed by their first cell, the header row left out."""
    return {row[0]: row[1:] for row in table[1:]}
