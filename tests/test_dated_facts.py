"""Letters state the case as their source reported it, in the past and with the source's date,
never as today's state: an official reading a letter dated today must not take facts of
February 2018 for the present."""

from datetime import date
from pathlib import Path

import pytest
import yaml

from app.campaign import CampaignError, load_campaign
from app.render import LetterRenderer
from app.settings import Settings
from app.supporter import Supporter
from tests.reading import flat, page_texts

TODAY = date(2026, 12, 4)

# How each letter names the report and its month (campaign.yaml `source`, published 2018-02-01).
SOURCE = {
    "en": "According to the Open Dialog Foundation's report of February 2018",
    "ru": "Согласно докладу Фонда «Открытый диалог» (февраль 2018 года)",
    "kk": "«Ашық диалог» қорының 2018 жылғы ақпан айындағы баяндамасына сәйкес",
}
# The case as it stood then, in the past; and the present tense the letters used to state it in.
PAST = {
    "en": ["were detained in Almaty on 28 November 2017",
           "at the time of the report they were still in pre-trial detention"],
    "ru": ["28 ноября 2017 года они были задержаны в Алматы",
           "на момент подготовки доклада они оставались под стражей"],
    "kk": ["2017 жылғы 28 қарашада Алматыда ұсталып",
           "баяндама жарияланғанда да қамауда болған"],
}  # fmt: skip
PRESENT = {
    "en": ["have been held", "are being held", "remain at large"],
    "ru": ["содержатся", "остаются на свободе"],
    "kk": ["қамауда отыр", "бостандықта жүр"],
}
ARTICLE = {
    "en": "Part 2 of Article 256 of the Criminal Code of the Republic of Kazakhstan",
    "ru": "ч. 2 ст. 256 УК РК",
    "kk": "ҚР ҚК-нің 256-бабы 2-бөлігі",
}


def letters(renderer: LetterRenderer, supporter_data: dict, lang: str, ids: list[str]) -> list[str]:
    supporter = Supporter.model_validate({**supporter_data, "language": lang})
    pdf = renderer.make_pack(
        renderer.letters(supporter, renderer.campaign.choose(ids), TODAY), supporter.language
    ).pdf
    return [flat(page) for page in page_texts(pdf)]


def edited_renderer(folder: Path, file: str, edit) -> LetterRenderer:  # type: ignore[no-untyped-def]
    path = folder / file
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(content)
    path.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    return LetterRenderer(load_campaign(folder), Settings().fonts_dir)


@pytest.mark.parametrize("lang", ["en", "ru", "kk"])
def test_each_letter_names_the_report_and_its_date_and_tells_the_case_in_the_past(
    lang, renderer, supporter_data
):
    pages = letters(renderer, supporter_data, lang, ["prosecutor-general", "ombudsman"])
    assert len(pages) == 2
    for page in pages:
        assert flat(SOURCE[lang]) in page
        for sentence in PAST[lang]:
            assert flat(sentence) in page
        assert flat(ARTICLE[lang]) in page
        assert not [verb for verb in PRESENT[lang] if verb in page]


def test_the_letters_take_the_reports_date_from_campaign_yaml(campaign_copy, supporter_data):
    """Staff who replace the source in campaign.yaml change every letter's citation with it."""

    def later_report(content: dict) -> None:
        content["source"]["published"] = date(2019, 3, 15)

    renderer = edited_renderer(campaign_copy, "campaign.yaml", later_report)
    months = {"en": "report of March 2019", "ru": "(март 2019 года)", "kk": "2019 жылғы наурыз"}
    for lang, month in months.items():
        (page,) = letters(renderer, supporter_data, lang, ["ombudsman"])
        assert month in page and "2018 жылғы ақпан" not in page and "February 2018" not in page


def test_a_kazakh_letter_is_dated_as_kazakh_writes_dates(renderer, supporter_data):
    (page,) = letters(renderer, supporter_data, "kk", ["ombudsman"])
    assert "2026 жылғы 4 желтоқсан" in page
    assert "2026 ж." not in page


def test_a_russian_letter_addresses_the_office_in_the_case_the_sentence_needs(
    campaign_copy, supporter_data
):
    """recipients.yaml `address_as.ru.in_capacity` names the office in the dative; a letter to
    an office without it leaves the capacity out rather than quoting the title."""

    def in_capacity(content: dict) -> None:
        prosecutor = next(r for r in content["recipients"] if r["id"] == "prosecutor-general")
        prosecutor["address_as"]["ru"]["in_capacity"] = (
            "как к Генеральному прокурору Республики Казахстан"
        )

    renderer = edited_renderer(campaign_copy, "recipients.yaml", in_capacity)
    addressed, plain = letters(renderer, supporter_data, "ru", ["prosecutor-general", "ombudsman"])
    assert "Обращаюсь к Вам как к Генеральному прокурору Республики Казахстан в связи" in addressed
    assert "Обращаюсь к Вам в связи с делом" in plain
    assert "занимающ" not in addressed + plain


def test_the_source_gives_a_web_address_and_the_date_its_facts_describe(campaign_copy):
    path = campaign_copy / "campaign.yaml"
    content = yaml.safe_load(path.read_text(encoding="utf-8"))

    def load(**source: object) -> None:
        changed = {**content, "source": {**content["source"], **source}}
        path.write_text(yaml.safe_dump(changed, allow_unicode=True), encoding="utf-8")
        load_campaign(campaign_copy)

    load(url="https://en.odfoundation.eu/", facts_as_of=date(2018, 1, 18))
    assert load_campaign(campaign_copy).case.source.facts_as_of == date(2018, 1, 18)
    for field, value in [("url", "ftp://example.org/report.pdf"), ("url", "report.pdf"),
                         ("facts_as_of", "early 2018")]:  # fmt: skip
        with pytest.raises(CampaignError, match=rf"campaign.yaml: field source.{field}: .*"):
            load(**{field: value})
    with pytest.raises(CampaignError, match=r"field source.url: .*http"):
        load(url="javascript:alert(1)")
    without = {key: value for key, value in content["source"].items() if key != "facts_as_of"}
    path.write_text(yaml.safe_dump({**content, "source": without}, allow_unicode=True), "utf-8")
    with pytest.raises(CampaignError, match=r"field source.facts_as_of: Field required"):
        load_campaign(campaign_copy)
