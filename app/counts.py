"""Counting letters: the public counter and, later, the staff dashboard's figures."""

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.campaign import Campaign
from app.models import Letter


def public_stats(session: Session, campaign: Campaign) -> dict:
    """Generated and posted letters, in total and per official (every official listed)."""
    rows = session.execute(
        select(
            Letter.recipient_id,
            func.count(),
            func.count(case((Letter.sent_on.is_not(None), 1))),
        ).group_by(Letter.recipient_id)
    ).all()
    by_id = {recipient_id: (generated, sent) for recipient_id, generated, sent in rows}
    recipients = [
        {"id": r.id, "generated": by_id.get(r.id, (0, 0))[0], "sent": by_id.get(r.id, (0, 0))[1]}
        for r in campaign.recipients
    ]
    return {
        "generated": sum(g for g, _ in by_id.values()),
        "sent": sum(s for _, s in by_id.values()),
        "recipients": recipients,
    }
