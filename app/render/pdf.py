"""Renders a supporter's pack of appeal letters as one printable PDF."""

import gc
import itertools
import logging
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pikepdf
from babel import Locale
from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from weasyprint import CSS, HTML
from weasyprint.document import Document
from weasyprint.text.fonts import FontConfiguration

from app.campaign import Campaign, Recipient
from app.render.budget import within_budget
from app.render.fetcher import CampaignFetcher
from app.render.fifo import FifoSemaphore
from app.render.labels import label_page
from app.render.speedups import (
    COMPOSITION,
    FONT_NAMES,
    MARGIN_BOXES,
    NAMES,
    SHARED_STYLES,
    on_checked_release,
)
from app.render.speedups.leaks import free_font_names
from app.render.speedups.margins import skip_empty_margin_boxes
from app.render.speedups.parts import (
    FixedPack,
    build_fixed,
    compose,
    paint,
    plan,
    read_column,
    renamed_fonts,
)
from app.render.speedups.split import (
    HIDE_FIXED,
    HIDE_SUPPORTER,
    PLACEHOLDER_DAY,
    fixed_html,
    placeholders,
    split_is_clean,
    without_fixed,
)
from app.render.speedups.styles import forget_styles, share_styles
from app.render.watch import fingerprint, system_font_files
from app.supporter import PAPERS, Paper, Supporter
from app.variants import first as first_variants

DATE_LOCALES = {"en": "en_GB", "ru": "ru", "kk": "kk"}
# The letter's date line, and a month as the letters cite a report's ("the report of February
# 2018"). Kazakh writes dates "2026 жылғы 4 желтоқсан", not babel's long "2026 ж. 4 желтоқсан";
# Russian names a month alone in the nominative ("февраль 2018 года", LLLL), not the genitive.
LETTER_DATE_FORMATS = {"en": "long", "ru": "long", "kk": "y 'жылғы' d MMMM"}
MONTH_FORMATS = {"en": "MMMM y", "ru": "LLLL y 'года'", "kk": "y 'жылғы' MMMM"}
HANDWRITING_FONT = "handwriting.ttf"
LOGGER = logging.getLogger("letter_campaign.render")
COLUMN_PAGE_HEIGHT = 40_000  # CSS px, about 10 m
LABEL_PAGES_KEPT = 64  # label pages kept per template version: one per language, paper, officials


def collect_for_packs() -> None:
    """Called once start-up is done, in each process that makes packs. Start-up leaves some
    100,000 long-lived objects (campaign, templates, parsed stylesheets, fonts) that every full
    garbage collection would walk again, and a pack allocates tens of thousands of short-lived
    layout objects, most freed by reference counting. So the start-up objects are frozen out of
    collection and the young generation is made larger (benchmarks/README.md has what that
    gains in benchmarks/load.py)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


@dataclass(frozen=True)
class PackToken:
    """Marks the letters of one letters() call: one supporter, one template version, and how the
    supporter's pack is printed (the paper, and whether it ends with a label page)."""

    key: tuple
    lang: str
    has_message: bool
    variants: tuple = ()
    paper: Paper = "a4"
    labels: bool = False


@dataclass(frozen=True)
class Letter:
    recipient: Recipient
    html: Markup
    pack: PackToken | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Pack:
    """A pack's PDF and how it was made, for /metrics: "composed" from parts, or rendered in
    full because composing "declined" (only the full render is exact for it), "failed" (a
    WeasyPrint that composing does not know), or was not asked for ("full")."""

    pdf: bytes
    how: str
    seconds: float


@dataclass
class _Assets:
    """What a template version needs: parsed stylesheets, fonts, and the parts laid out so far."""

    key: tuple
    font_config: FontConfiguration
    stylesheet: CSS
    hide_supporter: CSS
    hide_fixed: CSS
    fixed: dict[tuple, FixedPack | None] = field(default_factory=dict)
    in_fixed: dict[str, frozenset[str]] = field(default_factory=dict)
    labels: dict[tuple, bytes] = field(default_factory=dict)


class LetterRenderer:
    """Holds what every render shares: templates, the parsed stylesheet and the font cache.

    Packs are composed from parts where that gives the full render's pages exactly
    (app/render/speedups/), else rendered in full. Parts are rebuilt when a template, the
    stylesheet or a font changes on disk. `off` names speed-ups to leave off (SPEEDUPS_OFF).
    """

    def __init__(
        self,
        campaign: Campaign,
        fonts_dir: Path,
        *,
        off: Collection[str] = (),
    ) -> None:
        font = fonts_dir / HANDWRITING_FONT
        if not font.is_file():
            raise FileNotFoundError(f"{font} is missing: run `make install` to build the fonts")
        unknown = set(off) - set(NAMES)
        if unknown:
            raise ValueError(f"no such speed-up: {', '.join(sorted(unknown))}")
        self.off = frozenset(off)
        # Which speed-ups are on: each is also off where WeasyPrint is not the release it knows.
        self.speedups = {name: name not in self.off for name in NAMES}
        if self.speedups[COMPOSITION]:
            self.speedups[COMPOSITION] = on_checked_release()
        if self.speedups[FONT_NAMES]:
            self.speedups[FONT_NAMES] = free_font_names()
        self.campaign = campaign
        self.templates_dir = campaign.templates_dir
        self.fonts_dir = fonts_dir
        self.env = Environment(
            loader=FileSystemLoader(self.templates_dir),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
        )
        self.fetcher = CampaignFetcher(self.templates_dir, fonts_dir)
        self._system_fonts: list[Path] = []
        self._lock = threading.Lock()
        self._line = FifoSemaphore()
        self._refreeze = False
        self._assets = self._load(self._key())

    def _key(self) -> tuple:
        return fingerprint([self.templates_dir, self.fonts_dir, *self._system_fonts])

    def _load(self, key: tuple) -> _Assets:
        self.fetcher.forget()
        font_config = FontConfiguration()
        if SHARED_STYLES not in self.off:
            self.speedups[SHARED_STYLES] = share_styles(font_config, self.templates_dir)
        if MARGIN_BOXES not in self.off:
            self.speedups[MARGIN_BOXES] = skip_empty_margin_boxes(font_config)

        def css(**source: str) -> CSS:
            return CSS(**source, url_fetcher=self.fetcher, font_config=font_config)

        return _Assets(
            key=key,
            font_config=font_config,
            stylesheet=css(filename=str(self.templates_dir / "letter.css")),
            hide_supporter=css(string=HIDE_SUPPORTER),
            hide_fixed=css(string=HIDE_FIXED),
        )

    def _current(self) -> _Assets:
        """The assets for the files as they are now on disk, reloaded if anything changed."""
        key = self._key()
        assets = self._assets
        if key != assets.key:
            with self._lock:
                if self._assets.key != key:
                    font_config = self._assets.font_config
                    self._assets = self._load(key)
                    self._forget_styles(font_config)
                assets = self._assets
        return assets

    def _forget_styles(self, font_config: FontConfiguration) -> None:
        """Drops the computed styles shared so far (app/render/speedups/styles.py). Shared at
        start-up, they were frozen out of garbage collection with the rest (collect_for_packs),
        and their cycles would never be freed: so the next pack's turn collects and freezes the
        start-up objects again, before its budget starts (not here: a render over its budget
        still has exceptions raised into it)."""
        forget_styles(font_config)
        self._refreeze = gc.get_freeze_count() > 0

    @property
    def font_config(self) -> FontConfiguration:
        return self._assets.font_config

    def letters(
        self,
        supporter: Supporter,
        recipients: Sequence[Recipient],
        today: date,
        variants: Mapping[str, int] | None = None,
    ) -> list[Letter]:
        """One HTML letter per official, from the same templates as the PDF, with the variant
        paragraphs chosen for this pack (app/variants.py; variant 1 of each when none given)."""
        lang = supporter.language
        variant = dict(variants) if variants is not None else first_variants(self.campaign)
        locale = Locale.parse(DATE_LOCALES[lang])
        month = MONTH_FORMATS[lang]
        case = self.campaign.case
        paragraphs = supporter.message_paragraphs()
        context = {
            "sender": {
                "name": supporter.name,
                "street": supporter.street,
                "postcode": supporter.postcode,
                "city": supporter.city,
                "country": locale.territories.get(supporter.country, supporter.country),
            },
            "date": format_date(today, format=LETTER_DATE_FORMATS[lang], locale=locale),
            "case": {
                "title": case.title[lang],
                "prisoners": case.prisoners[lang],
                "summary": case.summary[lang],
                "subject": case.subject[lang],
                "source": {
                    "title": case.source.title,
                    "publisher": case.source.publisher,
                    "url": case.source.url,
                    "date": format_date(case.source.published, month, locale=locale),
                    "facts_as_of": format_date(case.source.facts_as_of, month, locale=locale),
                },
            },
            "message_paragraphs": paragraphs,
            "signature": supporter.signature.model_dump(),
            "variant": variant,
        }
        token = PackToken(
            self._current().key,
            lang,
            bool(paragraphs),
            tuple(sorted(variant.items())),
            supporter.paper or "a4",
            supporter.labels,
        )
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
                pack=token,
            )
            for recipient in recipients
        ]

    def pack_html(self, letters: Sequence[Letter], lang: str) -> str:
        """The pack's HTML: the letters on the supporter's paper, and the label page if asked."""
        token = letters[0].pack if letters else None
        paper = token.paper if token else "a4"
        labels = [letter.recipient for letter in letters] if token and token.labels else None
        return self._pack_page([letter.html for letter in letters], lang, paper, labels)

    def _pack_page(
        self,
        letters: Sequence[Markup],
        lang: str,
        paper: Paper,
        labels: Sequence[Recipient] | None = None,
    ) -> str:
        """pack.html.j2 with these letters; `paper` names the paper (letter.css lays out each),
        `labels` the officials whose addresses a label page ends the pack with (none: no page)."""
        return self.env.get_template("pack.html.j2").render(
            lang=lang,
            paper=paper,
            title=self.campaign.case.letter_title[lang],
            letters=letters,
            labels=label_page(self.campaign, labels, lang) if labels else None,
        )

    def _document(self, html: str, assets: _Assets, *extra: CSS) -> Document:
        return HTML(
            string=html,
            base_url=self.templates_dir.as_uri() + "/",
            url_fetcher=self.fetcher,
        ).render(stylesheets=[assets.stylesheet, *extra], font_config=assets.font_config)

    def document(self, html: str) -> Document:
        """A pack's HTML (pack_html) laid out as the full render lays it out, for checks that
        measure its boxes (app/check.py)."""
        return self._document(html, self._current())

    def make_pack(
        self,
        letters: Sequence[Letter],
        lang: str,
        *,
        budget: float | None = None,
        full: bool = False,
    ) -> Pack:
        """The PDF of these letters, each starting on a new page: composed from parts where that
        gives the full render's pages exactly, else rendered in full (`full`: always).

        With a budget, packs take turns, one at a time per process (app/render/fifo.py: renders
        side by side only share the GIL), and RenderBudgetExceeded stops one that runs past
        `budget` seconds from when its turn came (app/render/budget.py)."""
        if budget is None:
            return self._timed(letters, lang, full)
        with self._line.turn():
            if self._refreeze:
                self._refreeze = False
                gc.unfreeze()
                collect_for_packs()
            return within_budget(budget, self._timed, letters, lang, full)

    def _timed(self, letters: Sequence[Letter], lang: str, full: bool) -> Pack:
        started = time.perf_counter()
        pdf, how = self._render(letters, lang, full)
        return Pack(pdf, how, time.perf_counter() - started)

    def _render(self, letters: Sequence[Letter], lang: str, full: bool) -> tuple[bytes, str]:
        if full or not self.speedups[COMPOSITION]:
            return self._full(letters, lang), "full"
        try:
            try:
                composed = self._composed(letters, lang)
            except (AttributeError, TypeError, KeyError, IndexError, pikepdf.PdfError) as exc:
                # Composing leans on WeasyPrint's layout objects; should a WeasyPrint release
                # change them, packs are still made, in full. Only the error's kind is logged: its
                # message could quote the supporter.
                LOGGER.warning(
                    "composing a pack failed (%s); rendering it in full", type(exc).__name__
                )
                self._forget_styles(self._assets.font_config)
                return self._full(letters, lang), "failed"
            if composed is None:
                return self._full(letters, lang), "declined"
            return composed, "composed"
        except BaseException:
            # Stopped mid-way (its budget spent, perhaps), a render may leave a style half
            # computed (app/render/speedups/styles.py).
            self._forget_styles(self._assets.font_config)
            raise

    def _full(self, letters: Sequence[Letter], lang: str) -> bytes:
        return self._document(self.pack_html(letters, lang), self._current()).write_pdf()

    def _composed(self, letters: Sequence[Letter], lang: str) -> bytes | None:
        """The pack composed from parts, or None where only the full render is exact."""
        assets = self._current()
        token = letters[0].pack if letters else None
        ids = [letter.recipient.id for letter in letters]
        if (
            token is None
            or token.key != assets.key
            or token.lang != lang
            or any(letter.pack is not token for letter in letters)
            or len(set(ids)) != len(ids)
        ):
            return None
        chosen = self._fixed_variants(assets, lang, token.variants)
        fixed = self._fixed(assets, lang, token.has_message, chosen, token.paper)
        if fixed is None or any(rid not in fixed.pages for rid in ids):
            return None
        own = Markup(without_fixed(letters[0].html, fixed.inner[ids[0]]))  # noqa: S704
        document = self._document(
            self._pack_page([own], lang, token.paper), assets, assets.hide_fixed, fixed.column_css
        )
        column = read_column(document)
        composition = plan(column, fixed, ids) if column else None
        if composition is None:
            return None
        labels = None
        if token.labels:
            labels = self._labels(assets, lang, token.paper, [x.recipient for x in letters])
        return compose(fixed, paint(document, column, composition), composition, labels)

    def _labels(
        self, assets: _Assets, lang: str, paper: Paper, recipients: Sequence[Recipient]
    ) -> bytes:
        """The label page for these officials, laid out as the full render lays it out (the
        pack's template with no letters), its fonts renamed; the latest few kept."""
        slot = (lang, paper, tuple(r.id for r in recipients))
        pdf = assets.labels.pop(slot, None)
        if pdf is None:
            html = self._pack_page([], lang, paper, recipients)
            pdf = renamed_fonts(self._document(html, assets).write_pdf(), repr((assets.key, slot)))
            while len(assets.labels) >= LABEL_PAGES_KEPT:
                del assets.labels[next(iter(assets.labels))]
        assets.labels[slot] = pdf  # the latest last
        return pdf

    def _fixed(
        self,
        assets: _Assets,
        lang: str,
        with_message: bool,
        variants: tuple = (),
        paper: Paper = "a4",
    ) -> FixedPack | None:
        """The officials' fixed parts for this language, variant choice and paper, laid out on
        first use (variant paragraphs may sit in the fixed parts)."""
        slot = (lang, with_message, variants, paper)
        if slot in assets.fixed:
            return assets.fixed[slot]
        with self._lock:
            if slot not in assets.fixed:
                assets.fixed[slot] = self._build_fixed(assets, lang, with_message, variants, paper)
                if assets.fixed[slot] and not self._system_fonts:
                    # The first layout names the system fonts in use; watch them from now on.
                    self._system_fonts = system_font_files(assets.fixed[slot].families)
                    assets.key = self._key()
        return assets.fixed[slot]

    def warm_up(self) -> int:
        """Lays out every set of fixed parts a pack can need (each paper, each language, with
        and without a message, each choice of the variant paragraphs that sit in them), so that
        the first supporters after a start do not wait for them. Each set takes a turn, as a
        pack does: packs that come meanwhile are rendered in between. Returns how many sets are
        ready."""
        assets = self._current()
        counts = self.campaign.case.variants
        sets = 0
        for paper in PAPERS:
            for lang in self.campaign.languages:
                with self._line.turn():
                    names = sorted(self._in_fixed(assets, lang))
                for numbers in itertools.product(*(range(1, counts[n] + 1) for n in names)):
                    for with_message in (False, True):
                        chosen = tuple(zip(names, numbers, strict=True))
                        with self._line.turn():
                            fixed = self._fixed(assets, lang, with_message, chosen, paper)
                            sets += fixed is not None
        return sets

    def warm_up_logged(self) -> None:
        """warm_up(), logged. Should it fail, packs still come: their parts are then laid out on
        first use, or the pack is rendered in full."""
        started = time.perf_counter()
        try:
            sets = self.warm_up()
            seconds = time.perf_counter() - started
            LOGGER.info("warm-up: %d sets of fixed parts laid out in %.1f s", sets, seconds)
        except Exception as exc:
            self._forget_styles(self._assets.font_config)
            kind = type(exc).__name__
            LOGGER.warning("warm-up failed (%s); parts are laid out on first use", kind)

    def _fixed_variants(self, assets: _Assets, lang: str, variants: tuple) -> tuple:
        """The pack's choice of those variant paragraphs that sit in the fixed parts: only
        they tell one set of fixed parts from another (a closing variant is the supporter's)."""
        in_fixed = self._in_fixed(assets, lang)
        return tuple((name, n) for name, n in variants if name in in_fixed)

    def _in_fixed(self, assets: _Assets, lang: str) -> frozenset[str]:
        """The variant paragraphs whose choice changes the fixed parts, found once per language
        and template version by comparing the letters each choice gives."""
        if lang not in assets.in_fixed:
            recipients = list(self.campaign.recipients)
            someone = Supporter.model_validate(placeholders(lang, False)[0])
            base = first_variants(self.campaign)

            def fixed(choice: dict[str, int]) -> list[list[bytes]]:
                letters = self.letters(someone, recipients, PLACEHOLDER_DAY, choice)
                return [fixed_html(str(letter.html)) for letter in letters]

            reference = fixed(base)
            assets.in_fixed[lang] = frozenset(
                name
                for name, count in self.campaign.case.variants.items()
                if any(fixed({**base, name: n}) != reference for n in range(2, count + 1))
            )
        return assets.in_fixed[lang]

    def _build_fixed(
        self,
        assets: _Assets,
        lang: str,
        with_message: bool,
        chosen: tuple = (),
        paper: Paper = "a4",
    ) -> FixedPack | None:
        recipients = list(self.campaign.recipients)
        variants = [
            self.letters(
                Supporter.model_validate({**data, "paper": paper}),
                recipients,
                PLACEHOLDER_DAY,
                {**first_variants(self.campaign), **dict(chosen)},
            )
            for data in placeholders(lang, with_message)
        ]
        html = [[str(letter.html) for letter in letters] for letters in variants]
        if not split_is_clean(*html):
            LOGGER.warning("letter template for %s does not split into fixed parts", lang)
            return None
        fixed = build_fixed(
            lambda source: self._document(source, assets, assets.hide_supporter),
            self.pack_html(variants[0], lang),
            {r.id: str(letter.html) for r, letter in zip(recipients, variants[0], strict=True)},
            (assets.key, lang, with_message, chosen, paper),
        )
        if fixed is not None:
            # The supporter's column is laid out once, on a page as wide as a letter's and
            # tall enough for any message; speedups/flow.py then breaks it over the letters' pages.
            # Important, to size every page, named ones too (a paper's page: letter.css).
            size = f"{fixed.page_width}px {COLUMN_PAGE_HEIGHT}px"
            fixed.column_css = CSS(
                string=f"@page {{ size: {size} !important; }}",
                font_config=assets.font_config,
            )
        return fixed
