"""The files pages load, each served under a name that carries its content's hash.

A hashed name never changes meaning, so browsers and proxies may keep it for a year
(`immutable`); a new version of a file is a new name. Everything is read once at start-up from
the package's static folder, the campaign's letter stylesheet, and what `make install` put in
node_modules/ and build/fonts/; nothing is fetched from another host. Text files are also
served compressed (brotli or gzip), each compressed once, when first asked for.
"""

import hashlib
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

from app.campaign import Campaign
from app.compression import compress_file, compressible
from app.preview import screen_stylesheet
from app.settings import Settings

PREFIX = "/assets/"
IMMUTABLE = "public, max-age=31536000, immutable"
STATIC_DIR = Path(__file__).resolve().parent / "static"
_LOGICAL_URL = re.compile(r"/assets/([A-Za-z0-9_.-]+)")


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str

    @property
    def compressible(self) -> bool:
        return compressible(self.media_type)


class Assets:
    def __init__(self) -> None:
        self._urls: dict[str, str] = {}
        self._files: dict[str, Asset] = {}
        self._compressed: dict[tuple[str, str], bytes] = {}

    def add(self, name: str, body: bytes) -> str:
        """Register `name` (e.g. "site.css"); stylesheets may refer to other assets by their
        plain name (`url("/assets/handwriting.ttf")`), which becomes the hashed one."""
        if name.endswith(".css"):
            body = self._hashed_references(body.decode("utf-8")).encode("utf-8")
        stem, dot, suffix = name.rpartition(".")
        hashed = f"{stem}.{hashlib.sha256(body).hexdigest()[:12]}{dot}{suffix}"
        media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if media_type.startswith("text/") or media_type.endswith("javascript"):
            media_type += "; charset=utf-8"
        self._files[hashed] = Asset(body, media_type)
        self._urls[name] = PREFIX + hashed
        return self._urls[name]

    def alias(self, name: str, target: str) -> None:
        """Serve `target` wherever a page or stylesheet names `name`."""
        self._urls[name] = self._urls[target]

    def _hashed_references(self, css: str) -> str:
        return _LOGICAL_URL.sub(lambda m: self._urls.get(m.group(1), m.group(0)), css)

    def url(self, name: str) -> str:
        return self._urls[name]

    def get(self, hashed: str) -> Asset | None:
        return self._files.get(hashed)

    def compressed(self, hashed: str, encoding: str) -> bytes:
        """The file `hashed` in `encoding` ("br" or "gzip"), compressed on the first request
        (a worker thread's work: milliseconds for the pages' files) and kept."""
        key = (hashed, encoding)
        if key not in self._compressed:
            self._compressed[key] = compress_file(self._files[hashed].body, encoding)
        return self._compressed[key]


def build_assets(settings: Settings, campaign: Campaign) -> Assets:
    """Fonts and libraries first, so the stylesheets that use them get their hashed names."""
    assets = Assets()
    node_modules = settings.node_modules
    assets.add("handwriting.woff2", (settings.fonts_dir / "handwriting.woff2").read_bytes())
    # The letters' stylesheet names the TrueType font the PDF is set in; the preview of the
    # letters on screen gets the WOFF2 subset of it (app/fonts.py) like the form's typed signature.
    assets.alias("handwriting.ttf", "handwriting.woff2")
    vendored = {
        "signature_pad.js": node_modules / "signature_pad" / "dist" / "signature_pad.umd.min.js",
        "swagger-ui.css": node_modules / "swagger-ui-dist" / "swagger-ui.css",
        "swagger-ui-bundle.js": node_modules / "swagger-ui-dist" / "swagger-ui-bundle.js",
    }
    for name, path in vendored.items():
        assets.add(name, path.read_bytes())
    for path in sorted(STATIC_DIR.iterdir()):
        if path.is_file():
            assets.add(path.name, path.read_bytes())
    letter_css = (campaign.templates_dir / "letter.css").read_text(encoding="utf-8")
    assets.add("letter.css", screen_stylesheet(letter_css, PREFIX).encode("utf-8"))
    return assets
