"""The shipped campaign (recipients.yaml, campaign.yaml, letter_templates/ at the top) is staff's
to edit. The rest of the suite runs on its own frozen copy (tests/campaigns/suite), so the shipped
one is tested only as staff test it: `letter-campaign check` renders every official in every
language, finds every demand carried by some letter, and every address inside the window."""

import shutil
from pathlib import Path

import pytest
import yaml

from app.settings import SOURCE_ROOT, Settings
from tests.conftest import SUITE_CAMPAIGN
from tests.test_letters import run_cli


def check(campaign_dir: Path, cwd: Path) -> None:
    result = run_cli("check", cwd=cwd, env={"CAMPAIGN_DIR": str(campaign_dir)})
    assert result.returncode == 0, result.stderr


def shipped_copy(tmp_path: Path) -> Path:
    target = tmp_path / "shipped"
    target.mkdir()
    for name in ("recipients.yaml", "campaign.yaml"):
        shutil.copy(SOURCE_ROOT / name, target / name)
    shutil.copytree(SOURCE_ROOT / "letter_templates", target / "letter_templates")
    return target


@pytest.mark.slow
def test_the_shipped_campaign_passes_its_check(tmp_path):
    check(SOURCE_ROOT, tmp_path)


def test_the_suite_does_not_read_the_shipped_campaign():
    assert Settings().campaign_dir == SUITE_CAMPAIGN


@pytest.mark.slow
def test_staff_edits_to_the_shipped_campaign_pass_the_check(tmp_path):
    """A new holder, a demand moved to another office, an abolished office removed and a demand
    reworded: the edits this campaign's staff make, made the way they make them."""
    folder = shipped_copy(tmp_path)
    recipients_file = folder / "recipients.yaml"
    recipients = yaml.safe_load(recipients_file.read_text(encoding="utf-8"))
    officials = recipients["recipients"]

    first = officials[0]
    first["name"] = "B.B. Newholder"
    for lang, form in first["address_as"].items():
        form["name"] = f"Newholder ({lang})"

    carried_elsewhere = [
        official
        for official in officials
        if all(
            any(d in other["demands"] for other in officials if other is not official)
            for d in official["demands"]
        )
    ]
    removed = carried_elsewhere[-1]
    officials.remove(removed)

    moves = [
        (giver, demand, taker)
        for giver in officials
        if len(giver["demands"]) > 1
        for demand in giver["demands"]
        for taker in officials
        if demand not in taker["demands"]
    ]
    giver, moved, taker = moves[0]
    giver["demands"].remove(moved)
    taker["demands"] = sorted({*taker["demands"], moved})
    recipients_file.write_text(yaml.safe_dump(recipients, allow_unicode=True), encoding="utf-8")

    campaign_file = folder / "campaign.yaml"
    content = yaml.safe_load(campaign_file.read_text(encoding="utf-8"))
    for lang in content["demands"][0]["text"]:
        content["demands"][0]["text"][lang] += " (reworded)"
    campaign_file.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")

    check(folder, tmp_path)
