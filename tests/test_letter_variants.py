"""Letters that are not all identical: each pack picks its variant paragraphs at random, the
preview shows exactly what the download holds, and the fast path composes every choice exactly
as the full render lays it out."""

import re
from datetime import date

import pytest

from app.variants import decode, encode
from tests.html_pages import Page
from tests.reading import pdf_text, squeezed
from tests.test_campaign_state import typed  # noqa: F401 (the form's fixture)
from tests.test_supporter_form import post, preview

APPEALS = {
    1: "I respectfully urge you, within your powers:",
    2: "I therefore ask you to use the powers of your office:",
    3: "I call on you, within the limits of your authority:",
}
CLOSINGS = {
    1: "Thank you for your attention to this appeal. I look forward to your reply.",
    2: "I would be grateful for your reply and for news of the steps you have taken.",
    3: "Thank you for considering this appeal; I hope to hear from you soon.",
}


def chosen_in(text: str) -> tuple[int, int]:
    """Which appeal and closing a letter's text holds; exactly one of each."""
    flat = squeezed(text)
    appeals = [n for n, sentence in APPEALS.items() if squeezed(sentence) in flat]
    closings = [n for n, sentence in CLOSINGS.items() if squeezed(sentence) in flat]
    assert len(appeals) == 1 and len(closings) == 1, (appeals, closings)
    return appeals[0], closings[0]


def test_the_download_holds_the_variants_the_preview_showed(client, typed):  # noqa: F811
    english = {**typed, "language": "en", "message": ""}
    seen = set()
    for _ in range(12):
        shown = preview(client, english)
        previewed = {chosen_in(shown.text(".sheet"))}
        values = shown.form_values("form.decide")
        carried = decode(dict(values)["variants"], client.app.state.campaign)
        assert (carried["appeal"], carried["closing"]) in previewed
        thanks = Page(post(client, "/letters", values).text)
        pdf = post(client, "/letters/pdf", thanks.form_values("#download"))
        assert pdf.status_code == 200 and pdf.headers["cache-control"] == "no-store"
        letters = re.split(r"\f", pdf_text(pdf.content).strip("\f"))
        assert {chosen_in(letter) for letter in letters if letter.strip()} == previewed
        seen |= previewed
    assert len(seen) > 1, "twelve packs all picked the same variants"


def test_nothing_about_variants_reaches_the_database(client, typed, app):  # noqa: F811
    from sqlalchemy import inspect

    columns = {
        column["name"]
        for table in inspect(app.state.engine).get_table_names()
        for column in inspect(app.state.engine).get_columns(table)
    }
    assert not [name for name in columns if "variant" in name]


def test_the_api_picks_variants_per_pack(client, supporter_data):
    picked = set()
    for _ in range(10):
        body = {**supporter_data, "language": "en", "recipients": ["ombudsman"]}
        response = client.post("/api/letters", json=body)
        assert response.status_code == 200
        picked.add(chosen_in(pdf_text(response.content)))
    assert len(picked) > 1


def test_a_form_with_altered_variants_gets_a_valid_fresh_pick(client, typed, campaign):  # noqa: F811
    english = {**typed, "language": "en"}
    for altered in ("appeal:9,closing:1", "appeal:1", "<script>", "appeal:1,closing:1,x:1"):
        assert decode(altered, campaign) is None
        shown = preview(client, {**english, "variants": altered})
        carried = decode(dict(shown.form_values("form.decide"))["variants"], campaign)
        assert carried is not None


def test_every_choice_composes_exactly_as_the_full_render(renderer, supporter_data, campaign):
    from app.supporter import Supporter

    supporter = Supporter.model_validate({**supporter_data, "language": "en"})
    recipients = list(campaign.recipients[:2])
    for appeal, closing in [(2, 3), (3, 2)]:
        choice = {"appeal": appeal, "closing": closing}
        assert decode(encode(choice), campaign) == choice
        letters = renderer.letters(supporter, recipients, date(2026, 11, 5), choice)
        pack = renderer.make_pack(letters, "en")
        assert pack.how == "composed", "fell back to the full render"
        composed = pack.pdf
        full = renderer.make_pack(letters, "en", full=True).pdf
        assert pdf_text(composed) == pdf_text(full)
        assert chosen_in(pdf_text(composed)) == (appeal, closing)


@pytest.mark.slow
def test_check_names_a_variant_the_template_ignores(campaign_copy, tmp_path):
    from tests.test_check import check

    template = campaign_copy / "letter_templates" / "ru" / "letter.html.j2"
    source = template.read_text(encoding="utf-8")
    template.write_text(source.replace("variant.closing == 3", "variant.closing == 4"), "utf-8")
    result = check(tmp_path, campaign_copy)
    assert result.returncode == 1
    assert f"{template}: variant closing 3 is the same as variant 1" in result.stderr


@pytest.mark.slow
def test_check_names_an_undeclared_variant(campaign_copy, tmp_path):
    from tests.test_check import check

    template = campaign_copy / "letter_templates" / "en" / "letter.html.j2"
    source = template.read_text(encoding="utf-8")
    template.write_text(source.replace("variant.appeal == 2", "variant.opening == 2"), "utf-8")
    result = check(tmp_path, campaign_copy)
    assert result.returncode == 1
    assert str(template) in result.stderr and "opening" in result.stderr
