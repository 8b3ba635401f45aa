"""Fast packs: composed from parts laid out once, and indistinguishable from a full render.

A reader compares what they see (every page as an image at 72 dpi) and what they can copy out
(pdftotext); both must be the same whether the pack was composed from parts or rendered in full,
on A4 and on US Letter, with or without the label page.
"""

import gc
import shutil
import subprocess
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from weasyprint import CSS, HTML
from weasyprint.css import ComputedStyle
from weasyprint.formatting_structure import boxes
from weasyprint.text.fonts import FontConfiguration

import app.render.pdf
from app.campaign import LANGUAGES, load_campaign
from app.render import LetterRenderer, RenderBudgetExceeded, collect_for_packs
from app.render.fetcher import CampaignFetcher
from app.render.fifo import FifoSemaphore
from app.render.speedups.styles import styles_kept
from app.settings import Settings
from app.supporter import MAX_MESSAGE, PAPERS, Supporter
from app.variants import first as first_variants
from tests.conftest import KAZAKH_NAME, SUITE_CAMPAIGN, jpeg_data_url, png_data_url
from tests.reading import page_texts, pdf_fonts, pdf_text, squeezed

pytestmark = pytest.mark.slow  # packs rendered in full, to compare the composed ones with

TODAY = date(2026, 11, 5)
WORDS = "I have followed this case since 2017 and I ask you to act within your powers. "


def page_images(pdf: bytes, folder: Path) -> list[bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pack.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "72", str(folder / "pack.pdf"), str(folder / "page")],
                   check=True)  # fmt: skip
    return [page.read_bytes() for page in sorted(folder.glob("page-*.ppm"))]


def both_ways(renderer: LetterRenderer, data: dict, ids: list[str] | None = None):
    supporter = Supporter.model_validate(data)
    recipients = renderer.campaign.choose(ids or supporter.recipients)
    letters = renderer.letters(supporter, recipients, TODAY)
    pack = renderer.make_pack(letters, supporter.language)
    full = renderer.make_pack(letters, supporter.language, full=True).pdf
    return (pack.pdf if pack.how == "composed" else None), full


def assert_same_to_a_reader(composed: bytes, full: bytes, folder: Path) -> None:
    assert pdf_text(composed) == pdf_text(full)
    seen, expected = page_images(composed, folder / "composed"), page_images(full, folder / "full")
    assert len(seen) == len(expected)
    for number, (page, wanted) in enumerate(zip(seen, expected, strict=True), start=1):
        assert page == wanted, f"page {number} differs at 72 dpi"


def weasyprint_alone(renderer: LetterRenderer, letters: list, lang: str) -> bytes:
    """The letters as WeasyPrint renders them by itself: nothing parsed, configured or computed
    before is reused."""
    fetcher = CampaignFetcher(renderer.templates_dir, renderer.fonts_dir)
    font_config = FontConfiguration()
    css = CSS(
        filename=str(renderer.templates_dir / "letter.css"),
        url_fetcher=fetcher,
        font_config=font_config,
    )
    html = HTML(
        string=renderer.pack_html(letters, lang),
        base_url=renderer.templates_dir.as_uri() + "/",
        url_fetcher=fetcher,
    )
    return html.write_pdf(stylesheets=[css], font_config=font_config)


def message(length: int, paragraph: int) -> str:
    """A message of `length` characters in paragraphs of about `paragraph` characters."""
    text = (WORDS * (length // len(WORDS) + 1))[:length]
    words = text.split(" ")
    paragraphs, current = [], []
    for word in words:
        current.append(word)
        if sum(len(w) + 1 for w in current) >= paragraph:
            paragraphs.append(" ".join(current))
            current = []
    paragraphs.append(" ".join(current))
    return "\n\n".join(p for p in paragraphs if p.strip())[:length]


@pytest.mark.parametrize("paper", PAPERS)
@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(
    ("case", "extra"),
    [
        ("drawn signature, no message", {"signature": {"kind": "drawn", "image": png_data_url()}}),
        ("drawn as the form sends it", {"signature": {"kind": "drawn", "image": jpeg_data_url()}}),
        ("typed signature, short message", {"message": "I stand with them.\nFree them now."}),
        (
            "no signature, 1,500-character message",
            {"message": message(1500, 1500), "signature": {"kind": "none"}},
        ),
    ],  # fmt: skip
)
def test_a_composed_pack_reads_and_looks_like_the_full_render(
    paper, lang, case, extra, renderer, supporter_data, tmp_path
):
    data = {**supporter_data, "language": lang, "paper": paper, **extra}
    composed, full = both_ways(renderer, data)
    assert composed is not None, f"{case}: fell back to the full render"
    assert_same_to_a_reader(composed, full, tmp_path)


@pytest.mark.parametrize("paper", PAPERS)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_pack_ending_with_its_label_page_composes_like_the_full_render(
    paper, lang, renderer, supporter_data, tmp_path
):
    data = {**supporter_data, "language": lang, "paper": paper, "labels": True}
    for number, ids in enumerate([[], ["ombudsman", "prosecutor-general"], ["ombudsman"]]):
        composed, full = both_ways(renderer, {**data, "message": message(300 * number, 200)}, ids)
        assert composed is not None, f"{ids}: fell back to the full render"
        assert_same_to_a_reader(composed, full, tmp_path / str(number))
        chosen = renderer.campaign.choose(ids)
        assert len(page_texts(composed)) > len(chosen)
        label_page = page_texts(composed)[-1]
        for recipient in chosen:
            assert squeezed(recipient.address_as[lang].address_lines[0]) in squeezed(label_page)


@pytest.mark.parametrize("paper", PAPERS)
def test_messages_of_every_length_break_over_pages_as_the_full_render_does(
    paper, renderer, supporter_data, tmp_path
):
    """Lengths and paragraph sizes chosen so the message ends or breaks at many places on the
    page: inside a paragraph, between paragraphs, and with the closing moved to the next page."""
    composed_packs = 0
    for number, (length, paragraph) in enumerate(
        [(700, 250), (900, 120), (1100, 400), (1250, 80), (1400, 300), (1600, 90),
         (1750, 600), (1900, 200), (MAX_MESSAGE, 2000)]
    ):  # fmt: skip
        data = {**supporter_data, "message": message(length, paragraph), "paper": paper}
        composed, full = both_ways(renderer, data)
        if composed is None:
            continue
        composed_packs += 1
        assert_same_to_a_reader(composed, full, tmp_path / str(number))
    assert composed_packs >= 7


def test_an_overflowing_pack_falls_back_to_the_full_render_and_loses_no_text(
    renderer, supporter_data
):
    opening = "\n\n".join(["Free them."] * 3 + [message(MAX_MESSAGE - 60, 400)]).rstrip()
    longest = opening + "!" * (MAX_MESSAGE - len(opening))
    data = {
        **supporter_data,
        "name": (KAZAKH_NAME + " ") * 4 + "Ж" * (120 - 4 * (len(KAZAKH_NAME) + 1)),
        "street": "Hauptstraße " * 16 + "5",
        "city": "Berlin-Charlottenburg-Wilmersdorf " * 2 + "Westend",
        "message": longest,
    }
    supporter = Supporter.model_validate(data)
    assert len(supporter.name) == 120 and len(supporter.message) == MAX_MESSAGE
    composed, full = both_ways(renderer, data)
    assert composed is None
    pdf = renderer.make_pack(
        renderer.letters(supporter, renderer.campaign.choose([]), TODAY), supporter.language
    ).pdf
    text = pdf_text(pdf)
    assert text == pdf_text(full)
    for part in (supporter.name, supporter.street, supporter.city, supporter.message):
        assert squeezed(part) in squeezed(text)


def test_font_subsets_of_the_parts_carry_distinct_names(renderer, supporter_data, tmp_path):
    composed, _ = both_ways(renderer, supporter_data)
    assert composed is not None
    names = [font["name"] for font in pdf_fonts(composed, tmp_path)]
    assert len(names) == len(set(names)) >= 3, names
    assert {name.split("+", 1)[1] for name in names} == {
        "DejaVu-Serif",
        "DejaVu-Serif-Bold",
        "Campaign-Handwriting",
    }


@pytest.fixture
def campaign_copy(tmp_path: Path) -> tuple[LetterRenderer, Path, Path]:
    """A renderer on its own copy of the campaign and fonts, free to be edited."""
    target = shutil.copytree(SUITE_CAMPAIGN, tmp_path / "campaign")
    fonts = shutil.copytree(Settings().fonts_dir, tmp_path / "fonts")
    return LetterRenderer(load_campaign(target), fonts), target / "letter_templates", fonts


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_parts_are_rebuilt_when_a_template_or_the_stylesheet_changes(
    campaign_copy, supporter_data, tmp_path
):
    renderer, templates, _ = campaign_copy
    before, _ = both_ways(renderer, supporter_data, ["ombudsman"])
    assert before is not None and "Обращаюсь к Вам" in pdf_text(before)

    edit(templates / "ru" / "letter.html.j2", "Обращаюсь к Вам", "Пишу Вам")
    edit(templates / "letter.css", "margin: 4mm 0 3mm;", "margin: 12mm 0 9mm;")
    composed, full = both_ways(renderer, supporter_data, ["ombudsman"])
    assert composed is not None
    assert "Пишу Вам" in pdf_text(composed) and "Обращаюсь к Вам" not in pdf_text(composed)
    assert_same_to_a_reader(composed, full, tmp_path / "after")
    assert page_images(composed, tmp_path / "new") != page_images(before, tmp_path / "old")


def test_parts_are_rebuilt_when_a_font_changes(campaign_copy, supporter_data, tmp_path):
    renderer, _, fonts = campaign_copy
    before, _ = both_ways(renderer, supporter_data, ["ombudsman"])
    shutil.copy("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", fonts / "handwriting.ttf")
    composed, full = both_ways(renderer, supporter_data, ["ombudsman"])
    assert composed is not None
    assert_same_to_a_reader(composed, full, tmp_path / "after")
    assert page_images(composed, tmp_path / "new") != page_images(before, tmp_path / "old")


def test_letters_from_different_supporters_are_never_composed_together(renderer, supporter_data):
    other = Supporter.model_validate({**supporter_data, "name": "Someone Else"})
    recipients = renderer.campaign.choose(["ombudsman", "state-secretary"])
    mixed = [
        renderer.letters(Supporter.model_validate(supporter_data), recipients[:1], TODAY)[0],
        renderer.letters(other, recipients[1:], TODAY)[0],
    ]
    pack = renderer.make_pack(mixed, "ru")
    assert pack.how == "declined"
    text = pdf_text(pack.pdf)
    assert KAZAKH_NAME in text and "Someone Else" in text


@pytest.mark.parametrize("paper", PAPERS)
@pytest.mark.parametrize("choice", [{"appeal": 3, "closing": 2}, {"appeal": 2, "closing": 3}])
def test_variant_paragraphs_compose_like_the_full_render(
    choice, paper, renderer, supporter_data, tmp_path
):
    data = {**supporter_data, "message": message(1200, 300), "paper": paper}
    supporter = Supporter.model_validate(data)
    letters = renderer.letters(supporter, renderer.campaign.choose([]), TODAY, choice)
    pack = renderer.make_pack(letters, "ru")
    assert pack.how == "composed"
    assert_same_to_a_reader(pack.pdf, renderer.make_pack(letters, "ru", full=True).pdf, tmp_path)


def test_a_pack_is_still_made_in_full_when_composing_fails(renderer, supporter_data, monkeypatch):
    """The fast path leans on WeasyPrint's layout objects; a release that changes them must not
    cost a supporter their letters."""

    def changed_layout(document):
        raise AttributeError("'Page' object has no attribute '_page_box'")

    monkeypatch.setattr("app.render.pdf.read_column", changed_layout)
    supporter = Supporter.model_validate(supporter_data)
    letters = renderer.letters(supporter, renderer.campaign.choose(["ombudsman"]), TODAY)
    pack = renderer.make_pack(letters, "ru")
    assert pack.how == "failed"
    assert pdf_text(pack.pdf) == pdf_text(renderer.make_pack(letters, "ru", full=True).pdf)


def test_concurrent_packs_render_one_at_a_time_each_with_its_own_supporter(
    renderer, supporter_data, monkeypatch
):
    """WeasyPrint holds the GIL: a worker's threads render in turn, and no pack ever carries
    another supporter's name."""
    busy, most = [0], [0]
    lock = threading.Lock()
    read_column = app.render.pdf.read_column

    def counted(document):
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        try:
            return read_column(document)
        finally:
            with lock:
                busy[0] -= 1

    monkeypatch.setattr("app.render.pdf.read_column", counted)
    names = [f"Supporter Number {n}" for n in range(6)]
    recipients = renderer.campaign.choose(["ombudsman", "prosecutor-general"])

    def pack(name: str) -> str:
        supporter = Supporter.model_validate({**supporter_data, "name": name})
        letters = renderer.letters(supporter, recipients, TODAY)
        return pdf_text(renderer.make_pack(letters, "ru", budget=60).pdf)

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        texts = list(pool.map(pack, names))
    assert most[0] == 1
    for name, text in zip(names, texts, strict=True):
        assert [other for other in names if other in text] == [name]


def test_packs_waiting_to_render_take_their_turns_in_order_of_arrival():
    turns, order = FifoSemaphore(), []

    def render(number: int) -> None:
        with turns.turn():
            order.append(number)

    threads = [threading.Thread(target=render, args=(n,)) for n in range(6)]
    with turns.turn():
        for number, thread in enumerate(threads):
            thread.start()
            while turns.waiting <= number:  # until this one has queued behind the others
                thread.join(0.001)
    for thread in threads:
        thread.join()
    assert order == list(range(6))


def test_packs_made_one_after_another_look_as_weasyprint_alone_renders_each(
    renderer, supporter_data, tmp_path
):
    """Packs share computed styles (app/render/speedups/styles.py): whichever packs came before,
    each reads and looks as WeasyPrint renders it by itself."""
    drawn = {"kind": "drawn", "image": png_data_url()}
    packs = [
        ("kk", {"signature": {"kind": "drawn", "image": jpeg_data_url()}}),
        ("ru", {"message": message(900, 300)}),
        ("en", {"signature": {"kind": "none"}}),
        ("kk", {"message": "Short.", "name": "Ann Lee"}),
        ("en", {"message": message(1500, 200), "signature": drawn}),
    ]
    for number, (lang, extra) in enumerate(packs):
        supporter = Supporter.model_validate({**supporter_data, "language": lang, **extra})
        letters = renderer.letters(supporter, renderer.campaign.choose([]), TODAY)
        alone = weasyprint_alone(renderer, letters, lang)
        assert_same_to_a_reader(
            renderer.make_pack(letters, lang).pdf, alone, tmp_path / str(number)
        )


def test_styles_weasyprint_changes_for_one_box_do_not_reach_the_next_pack(
    campaign_copy, supporter_data, tmp_path
):
    """WeasyPrint changes some styles for the box at hand (tables, list markers, first lines and
    letters, the body's overflow, taken by the page): a template using them gives each pack the
    pages WeasyPrint alone gives it."""
    renderer, templates, _ = campaign_copy
    edit(
        templates / "ru" / "letter.html.j2",
        '<div class="body">',
        '<div class="body"><table class="facts"><tr><td>Дело</td><td>2017</td></tr></table>'
        "<ul><li>Первое</li><li>Второе</li></ul>",
    )
    with (templates / "letter.css").open("a", encoding="utf-8") as css:
        css.write(
            "table.facts { margin: 3mm 8mm; border: 1px solid; }\n"
            ".subject::first-letter { font-size: 18pt; color: #800; }\n"
            ".closing p::first-line { letter-spacing: 1px; }\n"
            "body { overflow: hidden; } .subject { margin-left: -30mm; }\n"
        )
    for number, name in enumerate(["Анна Ли", "Ерлан Сапаров", "Ann Lee"]):
        supporter = Supporter.model_validate({**supporter_data, "name": name, "message": "Да."})
        letters = renderer.letters(supporter, renderer.campaign.choose([]), TODAY)
        alone = weasyprint_alone(renderer, letters, "ru")
        assert_same_to_a_reader(
            renderer.make_pack(letters, "ru").pdf, alone, tmp_path / str(number)
        )


def made_of(cls: type, monkeypatch) -> list[int]:
    """How many objects of `cls` have been made; set it to [0] to start counting again."""
    made = [0]
    make = cls.__init__

    def counted(self, *args, **kwargs) -> None:
        made[0] += 1
        make(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__init__", counted)
    return made


@pytest.fixture
def styles_made(monkeypatch) -> list[int]:
    """How many computed styles WeasyPrint has made."""
    return made_of(ComputedStyle, monkeypatch)


def styles_per_pack(renderer: LetterRenderer, supporter_data: dict, made: list[int]) -> list[int]:
    """Styles made for each of two packs of the same kind by different supporters."""
    counts = []
    for name, text in [(KAZAKH_NAME, "Free them."), ("Ann Lee", "I write from Riga.\n\nNow.")]:
        made[0] = 0
        supporter = Supporter.model_validate({**supporter_data, "name": name, "message": text})
        renderer.make_pack(renderer.letters(supporter, renderer.campaign.choose([]), TODAY), "ru")
        counts.append(made[0])
    return counts


def test_a_pack_computes_few_styles_once_one_pack_has_been_made(
    campaign, supporter_data, styles_made
):
    renderer = LetterRenderer(campaign, Settings().fonts_dir)
    renderer.warm_up()
    first, second = styles_per_pack(renderer, supporter_data, styles_made)
    assert second < first / 3, (first, second)  # pages' and margin boxes' styles are not shared


def test_after_a_failed_render_the_next_pack_computes_its_styles_afresh(
    campaign, supporter_data, styles_made, monkeypatch
):
    """A render stopped mid-way (its budget spent) may leave a style half computed."""
    renderer = LetterRenderer(campaign, Settings().fonts_dir)
    renderer.warm_up()
    first, _ = styles_per_pack(renderer, supporter_data, styles_made)

    def stopped(document):
        raise RenderBudgetExceeded(15)

    with monkeypatch.context() as stop:
        stop.setattr("app.render.pdf.read_column", stopped)
        with pytest.raises(RenderBudgetExceeded):
            styles_per_pack(renderer, supporter_data, styles_made)
    again, second = styles_per_pack(renderer, supporter_data, styles_made)
    assert again > first / 2 and second < first / 3, (first, again, second)


@pytest.mark.parametrize(
    ("why", "template", "old", "new"),
    [
        ("its own stylesheet", "pack.html.j2", "</head>", "<style>p { widows: 2 }</style></head>"),
        ("viewport units", "letter.css", "margin: 4mm 0 3mm;", "margin: 4mm 0 3mm 0.1vw;"),
    ],
)  # fmt: skip
def test_templates_whose_styles_cannot_be_shared_are_rendered_as_weasyprint_alone_does(
    why, template, old, new, campaign_copy, supporter_data, styles_made, tmp_path
):
    renderer, templates, _ = campaign_copy
    edit(templates / template, old, new)
    renderer.warm_up()
    kept = styles_kept(renderer.font_config)
    first, second = styles_per_pack(renderer, supporter_data, styles_made)
    assert second > first / 2, (why, first, second)
    assert styles_kept(renderer.font_config) == kept  # nothing kept that no pack will use
    supporter = Supporter.model_validate({**supporter_data, "message": "Free them."})
    letters = renderer.letters(supporter, renderer.campaign.choose([]), TODAY)
    assert_same_to_a_reader(
        renderer.make_pack(letters, "ru").pdf, weasyprint_alone(renderer, letters, "ru"), tmp_path
    )


def test_another_weasyprint_release_computes_its_styles_as_it_does(
    campaign, supporter_data, styles_made, monkeypatch
):
    monkeypatch.setattr("weasyprint.__version__", "71.0")
    renderer = LetterRenderer(campaign, Settings().fonts_dir)
    renderer.warm_up()
    first, second = styles_per_pack(renderer, supporter_data, styles_made)
    assert second > first / 2, (first, second)


@pytest.mark.parametrize("error", [AttributeError, ValueError, TypeError])
def test_styles_are_computed_as_weasyprint_does_when_its_internals_change(
    error, renderer, supporter_data, monkeypatch, tmp_path
):
    def changed_internals(*args: object) -> None:
        raise error("'StyleFor' object has no attribute '_sheets'")

    monkeypatch.setattr("app.render.speedups.styles._key", changed_internals)
    supporter = Supporter.model_validate({**supporter_data, "message": "Free them."})
    letters = renderer.letters(supporter, renderer.campaign.choose([]), TODAY)
    pack = renderer.make_pack(letters, "ru")
    assert pack.how == "composed"
    composed = pack.pdf
    alone = weasyprint_alone(renderer, letters, "ru")
    assert_same_to_a_reader(composed, alone, tmp_path / "composed")
    assert_same_to_a_reader(
        renderer.make_pack(letters, "ru", full=True).pdf, alone, tmp_path / "full"
    )


def test_after_a_template_change_the_old_styles_and_fonts_are_freed(campaign_copy, supporter_data):
    """As in a served process, where start-up objects are frozen out of garbage collection."""
    renderer, templates, _ = campaign_copy
    renderer.warm_up()
    supporter = Supporter.model_validate(supporter_data)
    renderer.make_pack(renderer.letters(supporter, renderer.campaign.choose([]), TODAY), "ru")
    old = weakref.ref(renderer.font_config)
    thresholds = gc.get_threshold()
    collect_for_packs()
    try:
        edit(templates / "letter.css", "margin: 4mm 0 3mm;", "margin: 5mm 0 3mm;")
        choice = first_variants(renderer.campaign)
        letters = renderer.letters(supporter, renderer.campaign.choose([]), TODAY, choice)
        renderer.make_pack(letters, "ru", budget=60)
        gc.collect()
        assert old() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


# --- margin boxes ----------------------------------------------------------------------------


@pytest.fixture
def margin_boxes_made(monkeypatch) -> list[int]:
    """How many page margin boxes WeasyPrint has made (generated or not)."""
    return made_of(boxes.MarginBox, monkeypatch)


def test_pages_without_margin_boxes_make_none(renderer, supporter_data, margin_boxes_made):
    """WeasyPrint makes all sixteen margin boxes of every page and keeps only those with content;
    the letters have none, so a pack makes none, composed or in full, and reads as before."""
    renderer.warm_up()
    supporter = Supporter.model_validate({**supporter_data, "message": "Free them."})
    letters = renderer.letters(supporter, renderer.campaign.choose([]), TODAY)
    margin_boxes_made[0] = 0
    assert renderer.make_pack(letters, "ru").how == "composed"
    full = renderer.make_pack(letters, "ru", full=True).pdf
    assert margin_boxes_made[0] == 0
    alone = weasyprint_alone(renderer, letters, "ru")
    assert margin_boxes_made[0] == 16 * len(letters)  # WeasyPrint alone makes them all
    assert pdf_text(full) == pdf_text(alone)


@pytest.mark.parametrize("text", ["Free them.", None])
def test_a_template_with_margin_boxes_gets_them_on_every_page(
    campaign_copy, supporter_data, text, tmp_path
):
    """Staff may add a running header or page numbers: the pack has them as WeasyPrint alone
    gives them (such a pack is rendered in full)."""
    renderer, templates, _ = campaign_copy
    with (templates / "letter.css").open("a", encoding="utf-8") as css:
        css.write(
            '@page { @top-right { content: "Open Dialog"; font-size: 7pt; }\n'
            '        @bottom-center { content: counter(page) " / " counter(pages); } }\n'
        )
    supporter = Supporter.model_validate({**supporter_data, "message": text})
    letters = renderer.letters(supporter, renderer.campaign.choose([]), TODAY)
    pack = renderer.make_pack(letters, "ru").pdf
    assert_same_to_a_reader(pack, weasyprint_alone(renderer, letters, "ru"), tmp_path)
    assert squeezed(pdf_text(pack)).count("OpenDialog") == len(letters)
    assert f"{len(letters)}/{len(letters)}" in squeezed(pdf_text(pack))


def test_another_weasyprint_release_makes_its_margin_boxes_as_it_does(
    campaign, supporter_data, margin_boxes_made, monkeypatch
):
    monkeypatch.setattr("weasyprint.__version__", "71.0")
    renderer = LetterRenderer(campaign, Settings().fonts_dir)
    supporter = Supporter.model_validate(supporter_data)
    letters = renderer.letters(supporter, renderer.campaign.choose([]), TODAY)
    renderer.make_pack(letters, "en", full=True)
    assert margin_boxes_made[0] == 16 * len(renderer.campaign.recipients)


MARGIN_BOXES = [  # CSS Paged Media's sixteen
    *(f"@top-{p}" for p in ("left-corner", "left", "center", "right", "right-corner")),
    *(f"@bottom-{p}" for p in ("left-corner", "left", "center", "right", "right-corner")),
    *(f"@left-{p}" for p in ("top", "middle", "bottom")),
    *(f"@right-{p}" for p in ("top", "middle", "bottom")),
]


def test_each_margin_box_alone_prints_its_text(campaign_copy, supporter_data):
    """One generated margin box is enough for WeasyPrint to make the page's sixteen: whichever
    it is, the page gets it."""
    renderer, templates, _ = campaign_copy
    css = templates / "letter.css"
    original = css.read_text(encoding="utf-8")
    supporter = Supporter.model_validate(supporter_data)
    for number, at_keyword in enumerate(MARGIN_BOXES):
        mark = f"MB{number:02d}"  # short: corner boxes are narrow
        css.write_text(
            original + f'@page {{ {at_keyword} {{ content: "{mark}"; font-size: 6pt; }} }}\n',
            encoding="utf-8",
        )
        letters = renderer.letters(supporter, renderer.campaign.choose(["ombudsman"]), TODAY)
        assert mark in squeezed(pdf_text(renderer.make_pack(letters, "ru").pdf)), at_keyword


def test_a_margin_box_on_the_first_page_only(campaign_copy, supporter_data, tmp_path):
    renderer, templates, _ = campaign_copy
    with (templates / "letter.css").open("a", encoding="utf-8") as css:
        css.write('@page :first { @top-center { content: "Open Dialog"; } }\n')
    supporter = Supporter.model_validate({**supporter_data, "message": "Free them."})
    letters = renderer.letters(supporter, renderer.campaign.choose([]), TODAY)
    pack = renderer.make_pack(letters, "ru").pdf
    assert_same_to_a_reader(pack, weasyprint_alone(renderer, letters, "ru"), tmp_path)
    assert squeezed(pdf_text(pack)).count("OpenDialog") == 1
