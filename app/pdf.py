"""Renders a supporter's pack of appeal letters as one printable PDF."""

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urlsplit

from babel import Locale
from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from app.campaign import Campaign, Recipient
from app.supporter import PNG_DATA_URL, Supporter

DATE_LOCALES = {"en": "en_GB", "ru": "ru", "kk": "kk"}
HANDWRITING_FONT = "handwriting.ttf"


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
        if url.startswith(PNG_DATA_URL):
            body = base64.b64decode(url[len(PNG_DATA_URL) :])
            return URLFetcherResponse(url, body, {"Content-Type": "image/png"})
        if not url.startswith("file:"):
            raise RefusedURL(f"refused: {url[:80]}")
        path = self._campaign_file(url)
        if path not in self._files:
            self._files[path] = path.read_bytes()
        return URLFetcherResponse(path.as_uri(), self._files[path])


@dataclass(frozen=True)
class Letter:
    recipient: Recipient
    html: Markup


class LetterRenderer:
    """Holds what every render shares: templates, the parsed stylesheet and the font cache."""

    def __init__(self, campaign: Campaign, fonts_dir: Path) -> None:
        font = fonts_dir / HANDWRITING_FONT
        if not font.is_file():
            raise FileNotFoundError(f"{font} is missing: run `make install` to build the fonts")
        self.campaign = campaign
        self.templates_dir = campaign.templates_dir
        self.env = Environment(
            loader=FileSystemLoader(self.templates_dir),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
        )
        self.fetcher = CampaignFetcher(self.templates_dir, fonts_dir)
        self.font_config = FontConfiguration()
        self.stylesheet = CSS(
            filename=str(self.templates_dir / "letter.css"),
            url_fetcher=self.fetcher,
            font_config=self.font_config,
        )

    def letters(
        self, supporter: Supporter, recipients: Sequence[Recipient], today: date
    ) -> list[Letter]:
        """One HTML letter per official, from the same templates as the PDF."""
        lang = supporter.language
        locale = Locale.parse(DATE_LOCALES[lang])
        case = self.campaign.case
        context = {
            "sender": {
                "name": supporter.name,
                "street": supporter.street,
                "postcode": supporter.postcode,
                "city": supporter.city,
                "country": locale.territories.get(supporter.country, supporter.country),
            },
            "date": format_date(today, format="long", locale=locale),
            "case": {
                "title": case.title[lang],
                "prisoners": case.prisoners[lang],
                "summary": case.summary[lang],
                "subject": case.subject[lang],
            },
            "message_paragraphs": supporter.message_paragraphs(),
            "signature": supporter.signature.model_dump(),
        }
        template = self.env.get_template(f"{lang}/letter.html.j2")
        return [
            Letter(
                recipient=recipient,
                html=Markup(  # noqa: S704 (an autoescaped template's output)
                    template.render(
                        **context,
                        recipient=recipient.address_as[lang],
                        demands=self.campaign.demands_for(recipient, lang),
                    )
                ),
            )
            for recipient in recipients
        ]

    def pack_html(self, letters: Sequence[Letter], lang: str) -> str:
        return self.env.get_template("pack.html.j2").render(
            lang=lang,
            title=self.campaign.case.letter_title[lang],
            letters=[letter.html for letter in letters],
        )

    def render(self, letters: Sequence[Letter], lang: str) -> bytes:
        """The PDF of these letters, each starting on a new page."""
        html = HTML(
            string=self.pack_html(letters, lang),
            base_url=self.templates_dir.as_uri() + "/",
            url_fetcher=self.fetcher,
        )
        return html.write_pdf(stylesheets=[self.stylesheet], font_config=self.font_config)

    def render_pack(
        self, supporter: Supporter, recipients: Sequence[Recipient], today: date
    ) -> bytes:
        return self.render(self.letters(supporter, recipients, today), supporter.language)
