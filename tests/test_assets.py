"""Static files: served under names carrying their content's hash, cached for a year."""

import re

from app.assets import STATIC_DIR
from tests.html_pages import Page


def asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/assets/[^"]+)"', html)


def test_pages_load_their_files_under_hashed_names_cached_for_a_year(client):
    urls = asset_urls(client.get("/?lang=en").text)
    assert len(urls) >= 3
    for url in urls:
        assert re.fullmatch(r"/assets/[\w.-]+\.[0-9a-f]{12}\.\w+", url), url
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_a_hashed_name_changes_with_the_content(client, app):
    before = app.state.assets.url("site.css")
    served = client.get(before)
    assert served.content.decode() == (STATIC_DIR / "site.css").read_text().replace(
        'url("/assets/handwriting.woff2")', f'url("{app.state.assets.url("handwriting.woff2")}")'
    )
    after = app.state.assets.add("site.css", served.content + b"\n/* changed */\n")
    assert after != before
    assert client.get(after).status_code == 200


def test_unknown_and_unhashed_names_are_not_served(client):
    for url in ("/assets/site.css", "/assets/../app/main.py", "/assets/handwriting.ttf"):
        assert client.get(url).status_code == 404


def test_no_page_refers_to_a_file_outside_the_assets(client):
    page = Page(client.get("/?lang=ru").text)
    for element in page.all("script") + page.all("link"):
        url = element.get("src") or element.get("href") or ""
        if element.get("rel") in ("canonical", "alternate") or url.startswith(("http", "/share")):
            continue
        assert url.startswith("/assets/") or url.startswith("data:"), url
