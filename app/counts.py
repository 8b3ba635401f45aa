"""Counting letters: the public counter and the staff dashboard's figures.

Every figure is an aggregate query (COUNT/SUM ... GROUP BY): the database counts, Python only
arranges a handful of grouped rows, so the figures stay exact and quick with millions of letters.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import BigInteger, Connection, Select, case, func, literal, select, union_all
from sqlalchemy.orm import Session

from app.campaign import Campaign
from app.models import Letter, OfflineLetters


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


@dataclass(frozen=True)
class Tally:
    """Online letters generated and confirmed posted, plus paper letters entered by staff."""

    label: str
    generated: int = 0
    posted: int = 0
    paper: int = 0

    @property
    def share_posted(self) -> float | None:
        return self.posted / self.generated if self.generated else None

    @property
    def all_letters(self) -> int:
        return self.generated + self.paper


@dataclass(frozen=True)
class DayCount:
    day: date
    generated: int
    posted: int
    paper: int


@dataclass(frozen=True)
class Figures:
    total: Tally
    officials: list[Tally]
    languages: list[Tally]
    countries: list[Tally]
    days: list[DayCount]
    goal: int

    @property
    def progress(self) -> float:
        """Towards the campaign goal: every letter written, online or on paper."""
        return min(self.total.all_letters / self.goal, 1.0)


def _total(value: object) -> int:
    """SUM over no rows is NULL, and PostgreSQL's SUM of a count is a NUMERIC."""
    return int(value or 0)


def by_official(session: Session, campaign: Campaign) -> list[Tally]:
    """Every official of the campaign in campaign order, then any id only the database knows."""
    online = {
        rid: (generated, posted)
        for rid, generated, posted in session.execute(
            select(Letter.recipient_id, func.count(), func.count(Letter.sent_on)).group_by(
                Letter.recipient_id
            )
        )
    }
    paper = {
        rid: _total(count)
        for rid, count in session.execute(
            select(OfflineLetters.recipient_id, func.sum(OfflineLetters.count)).group_by(
                OfflineLetters.recipient_id
            )
        )
    }
    known = [r.id for r in campaign.recipients]
    ids = known + sorted((online.keys() | paper.keys()) - set(known))
    return [
        Tally(rid, *online.get(rid, (0, 0)), paper=paper.get(rid, 0))  # type: ignore[misc]
        for rid in ids
    ]


def _grouped(session: Session, column) -> list[Tally]:  # type: ignore[no-untyped-def]
    rows = session.execute(
        select(column, func.count(), func.count(Letter.sent_on))
        .group_by(column)
        .order_by(func.count().desc(), column)
    )
    return [Tally(key, generated, posted) for key, generated, posted in rows]


def by_language(session: Session) -> list[Tally]:
    return _grouped(session, Letter.language)


def by_country(session: Session) -> list[Tally]:
    return _grouped(session, Letter.country)


def daily_statement(since: date | None = None, per_official: bool = True) -> Select:
    """Letters generated, posted and collected on paper, per day (and official), by day.

    One statement, so the export can stream it through a server-side cursor.
    """
    zero = literal(0)

    def part(day, rid, generated, posted, paper) -> Select:  # type: ignore[no-untyped-def]
        statement = (
            select(
                day.label("day"),
                rid.label("rid"),
                generated.cast(BigInteger).label("generated"),
                posted.cast(BigInteger).label("posted"),
                paper.cast(BigInteger).label("paper"),
            )
            .where(day.is_not(None))
            .group_by(day, rid)
        )
        return statement if since is None else statement.where(day >= since)

    rows = union_all(
        part(Letter.generated_on, Letter.recipient_id, func.count(), zero, zero),
        part(Letter.sent_on, Letter.recipient_id, zero, func.count(), zero),
        part(
            OfflineLetters.collected_on,
            OfflineLetters.recipient_id,
            zero,
            zero,
            func.sum(OfflineLetters.count),
        ),
    ).subquery()
    keys = [rows.c.day, rows.c.rid] if per_official else [rows.c.day]
    sums = [func.sum(rows.c[k]).cast(BigInteger) for k in ("generated", "posted", "paper")]
    return select(*keys, *sums).group_by(*keys).order_by(*keys)


def per_day(session: Session, since: date, until: date) -> list[DayCount]:
    """Every day from `since` to `until`, days without letters as zeros."""
    found = {
        day: (generated, posted, paper)
        for day, generated, posted, paper in session.execute(
            daily_statement(since, per_official=False)
        )
    }
    days = []
    day = since
    while day <= until:
        days.append(DayCount(day, *found.get(day, (0, 0, 0))))
        day += timedelta(days=1)
    return days


def first_day(session: Session) -> date | None:
    first_online = session.scalar(select(func.min(Letter.generated_on)))
    first_paper = session.scalar(select(func.min(OfflineLetters.collected_on)))
    return min((d for d in (first_online, first_paper) if d is not None), default=None)


def dashboard_figures(
    session: Session, campaign: Campaign, goal: int, today: date, chart_days: int
) -> Figures:
    """Everything the dashboard shows. On PostgreSQL it reads one snapshot, so the tables agree
    with each other even while letters are being recorded."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    officials = by_official(session, campaign)
    total = Tally(
        "all",
        sum(t.generated for t in officials),
        sum(t.posted for t in officials),
        sum(t.paper for t in officials),
    )
    start = first_day(session) or today
    since = max(start, today - timedelta(days=chart_days - 1))
    return Figures(
        total=total,
        officials=officials,
        languages=by_language(session),
        countries=by_country(session),
        days=per_day(session, min(since, today), today),
        goal=goal,
    )


@dataclass(frozen=True)
class DailyRow:
    day: date
    recipient_id: str
    generated: int
    posted: int
    paper: int


def stream_daily_rows(connection: Connection) -> Iterator[DailyRow]:
    """Day-by-official rows through a server-side cursor, a batch at a time."""
    result = connection.execute(
        daily_statement(), execution_options={"stream_results": True, "yield_per": 1000}
    )
    for day, rid, generated, posted, paper in result:
        yield DailyRow(day, rid, int(generated), int(posted), int(paper))
