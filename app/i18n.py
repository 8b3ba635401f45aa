"""The user interface in English, Russian and Kazakh: gettext catalogues for the pages, the choice
of language for a request, and country names and numbers as each language writes them.

English is the source language of the catalogues; Russian and Kazakh are compiled from the .po
files in app/locales by `make install` (pybabel compile).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from gettext import NullTranslations
from pathlib import Path
from typing import TYPE_CHECKING

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.supporter import COUNTRIES

if TYPE_CHECKING:
    from starlette.requests import Request

UI_LANGUAGES = ("en", "ru", "kk")
DEFAULT_UI_LANGUAGE = "en"
LOCALES_DIR = Path(__file__).parent / "locales"
TEMPLATES_DIR = Path(__file__).parent / "templates"
BABEL_LOCALES = {"en": "en_GB", "ru": "ru", "kk": "kk"}

# Alphabetical order as each language sorts its own letters, so a supporter finds their country
# where they expect it in a long list (code-point order puts Kazakh Ә after Я).
ALPHABETS = {
    "ru": "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    "kk": "аәбвгғдеёжзийкқлмнңоөпрстуұүфхһцчшщъыіьэюя",
}

# Browsers send a few dozen characters; a longer header is cut at a range's end, not read on.
ACCEPT_LANGUAGE_READ = 500
ACCEPT_LANGUAGE_RANGES = 20
_LANGUAGE_TAG = re.compile(r"([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*")
_QUALITY = re.compile(r"[0-9.]{1,8}")


def N_(message: str) -> str:  # noqa: N802 (the gettext convention for "translate later")
    """Marks a message for extraction; it is translated where it is shown, in the UI language."""
    return message


@dataclass(frozen=True)
class Plural:
    """A message whose words follow a number: its English singular and plural, as NN_ marks them.
    A catalogue holds as many forms as its language needs (Russian three: 1 and 21 take one, 2 to
    4 another, 5 to 20 a third), and ngettext() picks one for the number shown."""

    singular: str
    plural: str


def NN_(singular: str, plural: str) -> Plural:  # noqa: N802 (N_ for a message with a plural)
    """Marks a message with a plural for extraction (babel.cfg's command names it `-k NN_:1,2`);
    it is translated where it is shown, for its number, by ngettext(). Each such message carries
    one number, %(num)s: a sentence with several numbers is a frame of parts, one number each."""
    return Plural(singular, plural)


class MissingCatalogue(RuntimeError):
    """A compiled catalogue is missing: the set-up did not run."""


@cache
def translations(lang: str) -> NullTranslations:
    if lang == DEFAULT_UI_LANGUAGE:
        return NullTranslations()
    mo = LOCALES_DIR / lang / "LC_MESSAGES" / "messages.mo"
    if not mo.is_file():
        raise MissingCatalogue(f"{mo} is missing: run `make install` to compile the catalogues")
    with mo.open("rb") as stream:
        return Translations(stream)


def gettext(lang: str, message: str, **variables: object) -> str:
    """A message in the UI language, formatted like the templates' newstyle gettext."""
    return translations(lang).gettext(message) % variables


def ngettext(lang: str, message: Plural, n: int, **variables: object) -> str:
    """The form of a message for the number n in the UI language, formatted like the templates'
    newstyle ngettext: %(num)s is n, written as the language writes numbers."""
    variables.setdefault("num", number(n, lang))
    return translations(lang).ngettext(message.singular, message.plural, n) % variables


def negotiate(accept_language: str | None) -> str:
    """The UI language the browser prefers among ours (RFC 9110 quality values).

    Split and matched piece by piece, each regular expression anchored on a short piece, so the
    time taken grows with the (capped) header's length and no more: a header built to make a
    pattern backtrack once held the whole process for seconds."""
    header = accept_language or ""
    if len(header) > ACCEPT_LANGUAGE_READ:
        header = header[:ACCEPT_LANGUAGE_READ].rpartition(",")[0]
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")[:ACCEPT_LANGUAGE_RANGES]):
        tag, _, parameters = item.partition(";")
        match = _LANGUAGE_TAG.fullmatch(tag.strip())
        quality = _quality(parameters)
        if match and quality:
            primary = match.group(1).lower()
            if primary in UI_LANGUAGES:
                ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else DEFAULT_UI_LANGUAGE


def _quality(parameters: str) -> float:
    """The weight after a language range's `;`, 1 without one, 0 when it cannot be read."""
    if not parameters.strip():
        return 1.0
    name, _, value = parameters.partition("=")
    value = value.strip()
    if name.strip().lower() != "q" or not _QUALITY.fullmatch(value):
        return 0.0
    try:
        return float(value)
    except ValueError:
        return 0.0


def ui_language(request: "Request") -> str:
    """From the URL (`?lang=ru`, what the switcher sets) or else the browser's preference."""
    chosen = request.query_params.get("lang", "")
    if chosen in UI_LANGUAGES:
        return chosen
    return negotiate(request.headers.get("accept-language"))


def number(value: int, lang: str) -> str:
    return format_decimal(value, locale=BABEL_LOCALES[lang])


# Kazakh writes "2026 жылғы 4 желтоқсан", not babel's long "2026 ж. 4 желтоқсан".
LONG_DATE_FORMATS = {"kk": "y 'жылғы' d MMMM"}


def long_date(value: date, lang: str) -> str:
    pattern = LONG_DATE_FORMATS.get(lang, "long")
    return format_date(value, format=pattern, locale=BABEL_LOCALES[lang])


def _sort_key(lang: str) -> Callable[[str], tuple]:
    alphabet = ALPHABETS.get(lang, "")

    def key(name: str) -> tuple:
        folded = name.casefold()
        return tuple((0, alphabet.index(ch)) if ch in alphabet else (1, ord(ch)) for ch in folded)

    return key


@cache
def countries(lang: str) -> tuple[tuple[str, str], ...]:
    """(code, name) of every country a supporter can choose, named and sorted in `lang`."""
    names = Locale.parse(BABEL_LOCALES[lang]).territories
    english = Locale.parse("en").territories
    key = _sort_key(lang)
    pairs = [(code, names.get(code) or english[code]) for code in COUNTRIES]
    return tuple(sorted(pairs, key=lambda pair: key(pair[1])))


def country_name(code: str, lang: str) -> str:
    return dict(countries(lang)).get(code, code)


@cache
def environment(lang: str) -> Environment:
    """The page templates with this language's catalogue installed (newstyle gettext, so every
    translated string is escaped and formatted the same way)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals["lang"] = lang
    env.filters["number"] = lambda value: number(value, lang)
    env.filters["long_date"] = lambda value: long_date(value, lang)
    return env


def render(lang: str, template: str, **context: object) -> str:
    return environment(lang).get_template(template).render(**context)
