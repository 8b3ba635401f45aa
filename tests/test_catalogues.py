"""The Russian and Kazakh catalogues keep every placeholder and every plural form (issue 27).

A translation that loses %(num)s, or a plural form its language needs, shows up only when a page
is drawn with the number that picks it: Russian picks the form for 1 also for 21, 31, 101...
Both checks below read the catalogues as they are edited, by hand: `msgfmt -c` (gettext, set up
by `make install-test`), and our own reading, which also checks the entries msgfmt skips because
they carry no python-format flag. And every message the extraction command in babel.cfg finds,
N_ and NN_ (with a plural) alike, is in every catalogue, a plural with every form.
"""

import gettext
import re
import shlex
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.pofile import read_po

from app.i18n import LOCALES_DIR, translations
from app.settings import SOURCE_ROOT

CATALOGUES = {path.parts[-3]: path for path in sorted(LOCALES_DIR.glob("*/LC_MESSAGES/*.po"))}
PLACEHOLDER = re.compile(r"%\((\w+)\)")
NUMBERS = range(1000)  # enough to meet every plural form of every rule gettext has


def names(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def catalogue_faults(po: Path) -> list[str]:
    """What a page would get wrong from this catalogue: an entry without its translation, a plural
    form missing, a placeholder lost or unknown, or a stray % that breaks formatting."""
    with po.open("rb") as stream:
        catalog = read_po(stream)
    plural = gettext.c2py(catalog.plural_expr)
    forms = range(catalog.num_plurals)
    used_for = {form: {n for n in NUMBERS if plural(n) == form} for form in forms}
    faults = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if message.pluralizable else (message.id,)
        strings = message.string if message.pluralizable else (message.string,)
        where = f"{po.parts[-3]} line {message.lineno} ({ids[0][:40]!r})"
        if message.pluralizable and len(strings) != catalog.num_plurals:
            faults.append(f"{where}: {len(strings)} plural forms, not {catalog.num_plurals}")
        known = names(" ".join(ids))
        for form, string in enumerate(strings):
            if not string:
                faults.append(f"{where}: form {form} is not translated")
                continue
            # The form shown only for n = 1 may leave the number out; any other form shows it.
            only_one = message.pluralizable and used_for.get(form) == {1}
            needed = names(ids[0] if not message.pluralizable or only_one else ids[1])
            if lost := needed - names(string):
                faults.append(f"{where}: form {form} loses {sorted(lost)}")
            if unknown := names(string) - known:
                faults.append(f"{where}: form {form} has unknown {sorted(unknown)}")
            try:
                string % dict.fromkeys(known, 1)  # every page formats its messages with %
            except (KeyError, TypeError, ValueError) as error:
                faults.append(f"{where}: form {form} does not format: {error!r}")
    return faults


def msgfmt(po: Path, out: Path) -> subprocess.CompletedProcess:
    program = shutil.which("msgfmt")
    assert program, "msgfmt is missing: install gettext (`make install-test` does)"
    return subprocess.run(
        [program, "--check", "-o", str(out / "messages.mo"), str(po)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("lang", sorted(CATALOGUES))
def test_every_translation_keeps_its_placeholders_and_plural_forms(lang):
    assert catalogue_faults(CATALOGUES[lang]) == []


@pytest.mark.parametrize("lang", sorted(CATALOGUES))
def test_msgfmt_compiles_every_catalogue_with_its_checks(lang, tmp_path):
    compiled = msgfmt(CATALOGUES[lang], tmp_path)
    assert compiled.returncode == 0, compiled.stderr


def test_both_catalogues_are_checked():
    assert {"ru", "kk"} <= set(CATALOGUES)


# Each breaks one entry of a real catalogue: (catalogue, text in it, the broken text).
BREAKAGES = {
    "a placeholder lost": ("kk", "Пошта индексі %(max)s таңбадан", "Пошта индексі 10 таңбадан"),
    "a placeholder misspelt": ("ru", "индекс может содержать не более %(max)s", "индекс %(maks)s"),
    "a plural form missing": ("ru", '\nmsgstr[2] "Скачать все %(num)s писем (PDF)"', ""),
    "a Kazakh plural form missing": ("kk", '\nmsgstr[1] "ең көбі %(num)s жинақ"', ""),
    "the number lost from the form for 1, 21, 31": (
        "ru",
        "Скачать %(num)s письмо (PDF)",
        "Скачать письмо (PDF)",
    ),
    "a stray percent sign": ("kk", "Жеке хабарлама (міндетті емес)", "Жеке хабарлама (100 %)"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_broken_copy_of_a_catalogue_fails_both_checks(breakage, tmp_path):
    lang, text, broken = BREAKAGES[breakage]
    original = CATALOGUES[lang].read_text(encoding="utf-8")
    assert original.count(text) == 1, f"{text!r} is no longer in the {lang} catalogue"
    po = tmp_path / "messages.po"
    po.write_text(original.replace(text, broken), encoding="utf-8")

    assert catalogue_faults(po), breakage
    if breakage != "a stray percent sign":  # msgid has no placeholder, so msgfmt does not look
        assert msgfmt(po, tmp_path).returncode != 0, breakage


def test_an_entry_without_the_python_format_flag_is_still_checked(tmp_path):
    text = CATALOGUES["ru"].read_text(encoding="utf-8")
    entry = '#, python-format\nmsgid "Your name can have at most %(max)s characters."'
    assert text.count(entry) == 1
    text = text.replace(entry, entry.removeprefix("#, python-format\n"))
    text = text.replace("Имя может содержать не более %(max)s", "Имя может содержать не более 10")
    po = tmp_path / "messages.po"
    po.write_text(text, encoding="utf-8")

    assert msgfmt(po, tmp_path).returncode == 0  # what msgfmt alone lets through
    assert any("loses ['max']" in fault for fault in catalogue_faults(po))


BABEL_CFG = SOURCE_ROOT / "babel.cfg"


def extraction_keywords() -> dict:
    """The keywords of the extraction command babel.cfg gives: pybabel's own and its `-k`s."""
    command = next(line for line in BABEL_CFG.read_text().splitlines() if "pybabel extract" in line)
    words = shlex.split(command.lstrip("# "))
    marked = [words[at + 1] for at, word in enumerate(words) if word == "-k"]
    return {**DEFAULT_KEYWORDS, **parse_keywords(marked)}


@cache
def extracted() -> tuple[tuple[str, str | tuple[str, str]], ...]:
    """(file, message) for every message the command finds; a plural as (singular, plural)."""
    with BABEL_CFG.open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = extract_from_dir(str(SOURCE_ROOT), method_map, options_map, extraction_keywords())
    return tuple((path, message) for path, _, message, *_ in found)


def test_the_extraction_command_finds_every_message_marked_with_a_plural():
    plurals = [(path, message) for path, message in extracted() if isinstance(message, tuple)]
    for path in (SOURCE_ROOT / "app").rglob("*.py"):
        if path.name == "i18n.py":
            continue
        marked = path.read_text(encoding="utf-8").count("NN_(")
        found = [m for p, m in plurals if p == path.relative_to(SOURCE_ROOT).as_posix()]
        assert len(found) == marked, f"{path.name}: {marked} NN_ markers, {len(found)} extracted"
    assert ("at most %(num)s pack", "at most %(num)s packs") in {m for _, m in plurals}


@pytest.mark.parametrize("lang", sorted(CATALOGUES))
def test_every_extracted_message_is_in_the_catalogue_a_plural_with_every_form(lang):
    with CATALOGUES[lang].open("rb") as stream:
        catalog = read_po(stream)
    compiled = translations(lang)
    for path, message in extracted():
        ids = message if isinstance(message, tuple) else (message,)
        entry = catalog.get(ids[0])
        where = f"{lang}: {ids[0]!r} ({path})"
        assert entry is not None, f"{where} is not in the catalogue"
        if isinstance(message, str):
            assert entry.string and not entry.pluralizable, where
            continue
        assert entry.pluralizable and tuple(entry.id) == message, f"{where} is not its plural"
        assert len(entry.string) == catalog.num_plurals and all(entry.string), where
        for n in (1, 2, 5, 21):
            shown = compiled.ngettext(*message, n)
            assert shown in entry.string, f"{where}: not compiled, run make install"
