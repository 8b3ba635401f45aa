"""Campaign content is data: a broken file stops start-up, naming file, entry and field."""

from pathlib import Path

import pytest

from app.campaign import CampaignError, load_campaign
from tests.test_letters import run_cli


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_campaign_loads_each_official_with_its_address_and_demands(campaign):
    assert [r.id for r in campaign.recipients] == [
        "la-155-1",
        "criminal-executive-committee",
        "prosecutor-general",
        "national-security-committee",
        "state-secretary",
        "ombudsman",
    ]
    assert sorted({n for r in campaign.recipients for n in r.demands}) == [1, 2, 3, 4, 5, 6]
    prosecutor = campaign.recipient("prosecutor-general")
    assert (prosecutor.name, prosecutor.street, prosecutor.postcode, prosecutor.city) == (
        "K.P. Kozhamzharov",
        "14 Mangilik Yel",
        "010000",
        "Astana",
    )
    assert campaign.recipient("la-155-1").phone == "+7 (727) 279 58 76"


def test_a_missing_field_names_file_entry_and_field(campaign_copy):
    edit(campaign_copy / "recipients.yaml", "        salutation: Dear Mr Masimov,\n", "")
    with pytest.raises(CampaignError) as error:
        load_campaign(campaign_copy)
    message = str(error.value)
    assert "recipients.yaml" in message
    assert "'national-security-committee'" in message
    assert "address_as.en.salutation" in message


def test_a_missing_translation_names_the_language(campaign_copy):
    path = campaign_copy / "campaign.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("subject:")
    kk = text.index("  kk:", start)
    end = text.index("\n", kk)
    path.write_text(text[:kk] + text[end + 1 :], encoding="utf-8")
    with pytest.raises(CampaignError, match=r"campaign.yaml: field subject.kk"):
        load_campaign(campaign_copy)


def test_advice_on_the_pages_is_optional_but_never_empty_or_half_translated(campaign_copy):
    path = campaign_copy / "campaign.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("postage:")
    end = text.index("demands:")
    postage = text[start:end]
    path.write_text(text.replace(postage, ""), encoding="utf-8")
    assert load_campaign(campaign_copy).case.postage is None
    path.write_text(text.replace(postage, "postage: {}\n"), encoding="utf-8")
    with pytest.raises(CampaignError, match=r"campaign.yaml: field postage: .*at least one"):
        load_campaign(campaign_copy)
    without_kk = postage[: postage.index("  kk:")]
    path.write_text(text.replace(postage, without_kk), encoding="utf-8")
    with pytest.raises(CampaignError, match=r"campaign.yaml: field postage.kk"):
        load_campaign(campaign_copy)


def test_a_demand_no_letter_carries_is_refused(campaign_copy):
    path = campaign_copy / "recipients.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("demands: [1, 2, 4, 5, 6]", "demands: [1, 4, 5, 6]")
    text = text.replace("demands: [1, 2, 3, 5]", "demands: [1, 3, 5]")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CampaignError, match="demand 2.*no recipient's letter carries it"):
        load_campaign(campaign_copy)


def test_broken_yaml_names_the_file(campaign_copy):
    (campaign_copy / "recipients.yaml").write_text("recipients: [\n", encoding="utf-8")
    with pytest.raises(CampaignError, match="recipients.yaml: not valid YAML"):
        load_campaign(campaign_copy)


@pytest.mark.slow
def test_the_command_line_reports_a_broken_campaign_in_one_message(
    campaign_copy, supporter_file, tmp_path
):
    edit(campaign_copy / "recipients.yaml", "id: ombudsman", "id: Ombudsman!")
    result = run_cli(
        "render",
        str(supporter_file()),
        "--out",
        str(tmp_path / "x.pdf"),
        cwd=tmp_path,
        env={"CAMPAIGN_DIR": str(campaign_copy)},
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "recipient 'Ombudsman!', field id" in result.stderr
