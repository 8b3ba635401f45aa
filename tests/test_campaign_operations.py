"""Campaign operations: open, pause, close; officials paused; replies, updates; the audit log."""

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.storage.models import CampaignState, OfficialPause
from app.storage.operations import (
    Status,
    audit_log,
    pause_official,
    read_pack_conditions,
    resume_official,
    set_state,
)
from tests.test_letters import run_cli


def campaign_status(session: Session) -> Status:
    """The campaign's state as its table holds it, read plainly: the reference for one read."""
    row = session.get(CampaignState, 1)
    return Status(row.state, dict(row.message or {})) if row else Status("open", {})


def paused_officials(session: Session) -> dict[str, str]:
    """Recipient id -> the reason it is paused, read plainly."""
    return dict(session.execute(select(OfficialPause.recipient_id, OfficialPause.reason)).all())


def cli(database_url: str, tmp_path, *args: str):
    return run_cli(*args, cwd=tmp_path, env={"DATABASE_URL": database_url})


@pytest.mark.slow
def test_the_command_line_opens_pauses_and_closes_with_a_message(app, database_url, tmp_path):
    engine = app.state.engine
    with Session(engine) as session:
        assert campaign_status(session).state == "open"
    result = cli(
        database_url,
        tmp_path,
        "campaign",
        "pause",
        "--message",
        "Paused: the family asks for quiet.",
        "--message-ru",
        "Пауза по просьбе семьи.",
    )
    assert result.returncode == 0, result.stderr
    with Session(engine) as session:
        status = campaign_status(session)
        assert status.state == "paused"
        assert status.message_in("ru") == "Пауза по просьбе семьи."
        assert status.message_in("kk") == "Paused: the family asks for quiet."
        assert [e.action for e in audit_log(session)] == ["campaign paused"]
    assert cli(database_url, tmp_path, "campaign", "close").returncode == 0
    with Session(engine) as session:
        assert campaign_status(session).state == "closed"
        assert [e.action for e in audit_log(session)] == ["campaign closed", "campaign paused"]
        assert audit_log(session)[0].actor.startswith("command line")


@pytest.mark.slow
def test_the_command_line_pauses_and_resumes_one_official(app, database_url, tmp_path):
    result = cli(
        database_url, tmp_path, "official", "pause", "ombudsman", "--reason", "Left office"
    )
    assert result.returncode == 0, result.stderr
    with Session(app.state.engine) as session:
        assert paused_officials(session) == {"ombudsman": "Left office"}
    assert cli(database_url, tmp_path, "official", "resume", "ombudsman").returncode == 0
    with Session(app.state.engine) as session:
        assert paused_officials(session) == {}
        assert [e.action for e in audit_log(session)] == ["official resumed", "official paused"]


@pytest.mark.slow
def test_an_unknown_official_or_a_missing_reason_is_refused(app, database_url, tmp_path):
    result = cli(database_url, tmp_path, "official", "pause", "nobody", "--reason", "x")
    assert result.returncode == 2 and "no official 'nobody'" in result.stderr
    result = cli(database_url, tmp_path, "official", "pause", "ombudsman", "--reason", " ")
    assert result.returncode == 2 and "--reason" in result.stderr


def test_one_read_gives_the_campaign_state_and_the_paused_officials(app):
    """What every pack asks before it is made, in one query: as campaign_status() and
    paused_officials() answer, with no state set, pauses alone, a state alone and both."""
    campaign = app.state.campaign

    def both(session: Session):
        return campaign_status(session), paused_officials(session)

    def in_one_read(session: Session):
        found = read_pack_conditions(session)
        return found.status, found.paused

    with Session(app.state.engine) as session:
        assert in_one_read(session) == both(session) == (campaign_status(session), {})
        pause_official(session, campaign, "ombudsman", "Left office", "test")
        pause_official(session, campaign, "prosecutor-general", "Ill", "test")
        session.commit()
        assert in_one_read(session) == both(session)
        assert in_one_read(session)[1] == {"ombudsman": "Left office", "prosecutor-general": "Ill"}
        set_state(session, "paused", {"en": "Quiet, please.", "ru": "Тише."}, "test")
        session.commit()
        assert in_one_read(session) == both(session)
        assert in_one_read(session)[0].message_in("ru") == "Тише."
        for recipient_id in ("ombudsman", "prosecutor-general"):
            resume_official(session, campaign, recipient_id, "test")
        session.commit()
        assert in_one_read(session) == both(session)
        assert in_one_read(session)[0].state == "paused"
