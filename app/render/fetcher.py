"""What the renderer may read: the campaign's own files and the supporter's signature image."""

import base64
from pathlib import Path
from urllib.parse import unquote, urlsplit

from weasyprint.urls import URLFetcher, URLFetcherResponse

from app.signature_image import DATA_URLS


class RefusedURL(ValueError):
    """The renderer was asked for something the campaign did not ship."""


class CampaignFetcher(URLFetcher):
    """Serves the campaign's own files and the signature image, and refuses everything else.

    WeasyPrint would otherwise follow any URL in a template or stylesheet: file://, http://,
    data: SVGs with external references. Supporter text is escaped, so this is the second wall.
    """

    def __init__(self, templates_dir: Path, fonts_dir: Path) -> None:
        super().__init__(allowed_protocols=("file", "data"), allow_redirects=False)
        self.templates_dir = templates_dir.resolve()
        self.fonts_dir = fonts_dir.resolve()
        self._files: dict[Path, bytes] = {}

    def _campaign_file(self, url: str) -> Path:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost") or parts.query:
            raise RefusedURL(f"refused: {url[:80]}")
        path = Path(unquote(parts.path)).resolve()
        fonts_alias = self.templates_dir / "fonts"
        if path.is_relative_to(fonts_alias):
            path = self.fonts_dir / path.relative_to(fonts_alias)
        if not (path.is_relative_to(self.templates_dir) or path.is_relative_to(self.fonts_dir)):
            raise RefusedURL(f"refused: {url[:80]}")
        if path.suffix not in (".css", ".ttf", ".otf", ".png", ".svg"):
            raise RefusedURL(f"refused: {url[:80]}")
        return path

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        for prefix, kind in DATA_URLS.items():
            if url.startswith(prefix):
                body = base64.b64decode(url[len(prefix) :])
                return URLFetcherResponse(url, body, {"Content-Type": f"image/{kind.lower()}"})
        if not url.startswith("file:"):
            raise RefusedURL(f"refused: {url[:80]}")
        path = self._campaign_file(url)
        if path not in self._files:
            self._files[path] = path.read_bytes()
        return URLFetcherResponse(path.as_uri(), self._files[path])

    def forget(self) -> None:
        """Drop the files read so far: they changed on disk."""
        self._files = {}
