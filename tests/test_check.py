"""`letter-campaign check` proofs the campaign content and names what is wrong."""

from pathlib import Path

import pytest

from tests.reading import page_texts
from tests.test_letters import run_cli


def check(cwd: Path, campaign_dir: Path, *args: str):
    return run_cli("check", *args, cwd=cwd, env={"CAMPAIGN_DIR": str(campaign_dir)})


@pytest.mark.slow
def test_the_shipped_campaign_passes_and_writes_one_proof_pack_per_language(
    campaign, campaign_copy, tmp_path
):
    result = check(tmp_path, campaign_copy, "--out", str(tmp_path / "proofs"))
    assert result.returncode == 0, result.stderr
    for lang in ("en", "ru", "kk"):
        pages = page_texts((tmp_path / "proofs" / f"proof-{lang}.pdf").read_bytes())
        assert len(pages) >= len(campaign.recipients)
        assert campaign.case.subject[lang] in "\n".join(pages)


@pytest.mark.slow
def test_a_broken_template_is_named_with_its_line(campaign_copy, tmp_path):
    template = campaign_copy / "letter_templates" / "kk" / "letter.html.j2"
    template.write_text(template.read_text().replace("{% endfor %}", "{% endfor", 1))
    result = check(tmp_path, campaign_copy)
    assert result.returncode == 1
    assert "letter_templates/kk/letter.html.j2:" in result.stderr


@pytest.mark.slow
def test_an_unknown_template_variable_is_named(campaign_copy, tmp_path):
    template = campaign_copy / "letter_templates" / "ru" / "letter.html.j2"
    template.write_text(template.read_text().replace("case.subject", "case.subjekt"))
    result = check(tmp_path, campaign_copy)
    assert result.returncode == 1
    assert "letter_templates/ru/letter.html.j2" in result.stderr and "subjekt" in result.stderr


@pytest.mark.slow
def test_a_demand_no_letter_carries_fails(campaign_copy, tmp_path):
    path = campaign_copy / "recipients.yaml"
    text = path.read_text().replace("demands: [5, 6]", "demands: [5]")
    path.write_text(
        text.replace("demands: [1, 4, 6]", "demands: [1, 4]").replace(
            "demands: [1, 2, 4, 5, 6]", "demands: [1, 2, 4, 5]"
        )
    )
    result = check(tmp_path, campaign_copy)
    assert result.returncode == 2
    assert "demand 6" in result.stderr and "campaign.yaml" in result.stderr


@pytest.mark.slow
def test_an_address_wider_or_taller_than_the_window_is_named(campaign_copy, tmp_path):
    path = campaign_copy / "recipients.yaml"
    text = path.read_text()
    unbreakable = "14_Mangilik_Yel_Avenue_Esil_district_Government_quarter"
    text = text.replace("- 14 Mangilik Yel\n", f"- {unbreakable}\n", 1)
    wrapping = "          - a line of the address long enough to wrap over two lines\n"
    text = text.replace("          - The House of Ministries, Left Bank\n", wrapping * 4, 1)
    path.write_text(text)
    result = check(tmp_path, campaign_copy)
    assert result.returncode == 1
    assert (
        "recipient 'prosecutor-general', field address_as.en.address_lines: "
        "an address line is wider than the window"
    ) in result.stderr
    assert (
        "recipient 'ombudsman', field address_as.en.address_lines: "
        "address runs below the window field"
    ) in result.stderr
