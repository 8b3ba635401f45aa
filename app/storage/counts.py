"""Counting letters: the running counts, the public counter and the staff dashboard's figures.

Letters are counted as they are written: recording or confirming letters adds to two small
tables (LetterTotal, LetterDay) in the same transaction as the letter rows, so a crash leaves both
or neither. Every figure is read from those tables, whose size depends on the officials,
languages, countries and days, never on the number of letters. `differences` compares them with
a direct count over the rows; `recount` rebuilds them from the rows (after a bulk load).
"""

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from time import monotonic
from weakref import WeakKeyDictionary

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Insert,
    Select,
    delete,
    event,
    func,
    insert,
    literal,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.campaign import Campaign
from app.storage import models
from app.storage.db import READ_ONLY, read_snapshot
from app.storage.models import EmbedCount, Letter, LetterDay, LetterTotal, OfflineLetters

PUBLIC_MAX_AGE_S = 5.0
"""How old the public counter may be when letters are written by another process."""

Event = tuple[str, str, str, date]
"""A letter generated or confirmed posted: official, letter language, country, day."""

_CHANGED = "letter_counts_changed"
_public: "WeakKeyDictionary[Engine, tuple[float, dict[str, tuple[int, int]]]]" = WeakKeyDictionary()


def add_to_counts(session: Session, events: Sequence[Event], column: str) -> None:
    """Add letters to the running counts (`column` is "generated" or "sent"), in the caller's
    transaction. Rows are upserted in key order, so concurrent writers lock them in the same
    order and cannot deadlock each other."""
    if not events:
        return
    totals = Counter((rid, language, country) for rid, language, country, _ in events)
    days = Counter((day, rid) for rid, _, _, day in events)
    _upsert(session, LetterTotal, ("recipient_id", "language", "country"), totals, column)
    _upsert(session, LetterDay, ("day", "recipient_id"), days, column)
    session.info[_CHANGED] = True


def _upsert(
    session: Session, model: type, keys: tuple[str, ...], counts: Counter, column: str
) -> None:
    rows = [
        {**dict(zip(keys, key, strict=True)), "generated": 0, "sent": 0, column: number}
        for key, number in sorted(counts.items())
    ]
    statement = _upsert_statement(session.get_bind().dialect.name, model, keys, column)
    # executemany, not one multi-row VALUES: SQLAlchemy compiles that anew for every call.
    session.execute(statement, rows)


@cache
def _upsert_statement(dialect: str, model: type, keys: tuple[str, ...], column: str) -> Insert:
    """Built once: every pack runs it, and building it took as long as running it."""
    table = model.__table__  # type: ignore[attr-defined]
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = make(table)
    return statement.on_conflict_do_update(
        index_elements=list(keys), set_={column: table.c[column] + statement.excluded[column]}
    )


def add_to_embed_count(session: Session, origin: str, letters: int) -> None:
    """One pack of `letters` made through the form framed for `origin`, in the caller's
    transaction."""
    table = EmbedCount.__table__
    make = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = make(table).values(origin=origin, packs=1, generated=letters)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["origin"],
            set_={"packs": table.c.packs + 1, "generated": table.c.generated + letters},
        )
    )


@dataclass(frozen=True)
class EmbedTally:
    """Packs and letters made through the form framed for `origin`; `allowed`: the origin is
    still in EMBED_ORIGINS."""

    origin: str
    packs: int
    letters: int
    allowed: bool


def by_embed_origin(session: Session, allowed: Sequence[str]) -> list[EmbedTally]:
    """Every allowed origin in the order of EMBED_ORIGINS, then any origin only the database
    knows (taken off the list since)."""
    found = {
        origin: (packs, letters)
        for origin, packs, letters in session.execute(
            select(EmbedCount.origin, EmbedCount.packs, EmbedCount.generated)
        )
    }
    origins = list(allowed) + sorted(found.keys() - set(allowed))
    return [
        EmbedTally(origin, *found.get(origin, (0, 0)), allowed=origin in allowed)
        for origin in origins
    ]


@event.listens_for(Session, "after_commit")
def _forget_public_counts(session: Session) -> None:
    """This process's own letters show on its counter at once, not a few seconds later."""
    if session.info.pop(_CHANGED, False):
        _public.pop(session.get_bind(), None)  # type: ignore[call-overload]


def _online_by_official(connection: Connection | Session) -> dict[str, tuple[int, int]]:
    rows = connection.execute(
        select(
            LetterTotal.recipient_id, func.sum(LetterTotal.generated), func.sum(LetterTotal.sent)
        ).group_by(LetterTotal.recipient_id)
    )
    return {rid: (_total(generated), _total(sent)) for rid, generated, sent in rows}


def public_stats(engine: Engine, campaign: Campaign) -> dict:
    """Generated and posted letters, in total and per official (every official listed).

    Kept in this process for PUBLIC_MAX_AGE_S seconds: every page view asks for it, and under
    heavy load a count a few seconds old is good enough (the page says so); the dashboard is
    exact. Read in a transaction of its own that never waits for writers.
    """
    cached = _public.get(engine)
    asked = monotonic()
    if cached is None or asked - cached[0] >= PUBLIC_MAX_AGE_S:
        with engine.connect() as connection:
            connection.execution_options(**READ_ONLY)
            cached = (asked, _online_by_official(connection))
        _public[engine] = cached
    by_id = cached[1]
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
    online = _online_by_official(session)
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
    generated = func.sum(LetterTotal.generated)
    rows = session.execute(
        select(column, generated, func.sum(LetterTotal.sent))
        .group_by(column)
        .order_by(generated.desc(), column)
    )
    return [Tally(key, _total(g), _total(s)) for key, g, s in rows]


def by_language(session: Session) -> list[Tally]:
    return _grouped(session, LetterTotal.language)


def by_country(session: Session) -> list[Tally]:
    return _grouped(session, LetterTotal.country)


def add_to_event(
    session: Session, event_id: int, packs: int = 0, generated: int = 0, sent: int = 0
) -> None:
    """Add to a write-a-thon's running counts, in the caller's transaction (after the letter
    rows and the other counts, as every writer does)."""
    event = models.Event
    session.execute(
        update(event)
        .where(event.id == event_id)
        .values(
            packs=event.packs + packs,
            generated=event.generated + generated,
            sent=event.sent + sent,
        )
    )


def daily_statement(since: date | None = None, per_official: bool = True) -> Select:
    """Letters generated, posted and collected on paper, per day (and official), by day.

    One statement, so the export can stream it through a server-side cursor.
    """
    zero = literal(0).cast(BigInteger)
    online = select(
        LetterDay.day.label("day"),
        LetterDay.recipient_id.label("rid"),
        LetterDay.generated.cast(BigInteger).label("generated"),
        LetterDay.sent.cast(BigInteger).label("posted"),
        zero.label("paper"),
    )
    paper = select(
        OfflineLetters.collected_on.label("day"),
        OfflineLetters.recipient_id.label("rid"),
        zero.label("generated"),
        zero.label("posted"),
        func.sum(OfflineLetters.count).cast(BigInteger).label("paper"),
    ).group_by(OfflineLetters.collected_on, OfflineLetters.recipient_id)
    if since is not None:
        online = online.where(LetterDay.day >= since)
        paper = paper.where(OfflineLetters.collected_on >= since)
    rows = union_all(online, paper).subquery()
    keys = [rows.c.day, rows.c.rid] if per_official else [rows.c.day]
    sums = [func.sum(rows.c[k]).cast(BigInteger) for k in ("generated", "posted", "paper")]
    return select(*keys, *sums).group_by(*keys).order_by(*keys)


def per_day(session: Session, since: date, until: date) -> list[DayCount]:
    """Every day from `since` to `until`, days without letters as zeros."""
    found = {
        day: (int(generated), int(posted), int(paper))
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
    first_online = session.scalar(select(func.min(LetterDay.day)).where(LetterDay.generated > 0))
    first_paper = session.scalar(select(func.min(OfflineLetters.collected_on)))
    return min((d for d in (first_online, first_paper) if d is not None), default=None)


def dashboard_figures(
    session: Session, campaign: Campaign, goal: int, today: date, chart_days: int | None
) -> Figures:
    """Everything the dashboard shows, its days the last `chart_days` since the first letter
    (None: every day since then). On PostgreSQL it reads one snapshot, so the tables agree
    with each other even while letters are being recorded."""
    read_snapshot(session)
    officials = by_official(session, campaign)
    total = Tally(
        "all",
        sum(t.generated for t in officials),
        sum(t.posted for t in officials),
        sum(t.paper for t in officials),
    )
    start = first_day(session) or today
    since = start if chart_days is None else max(start, today - timedelta(days=chart_days - 1))
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
    if not connection.in_transaction():
        connection.execution_options(**READ_ONLY)
    result = connection.execute(
        daily_statement(), execution_options={"stream_results": True, "yield_per": 1000}
    )
    for day, rid, generated, posted, paper in result:
        yield DailyRow(day, rid, int(generated), int(posted), int(paper))


# --- checking and rebuilding the running counts ---------------------------------------------------


def _direct_totals() -> Select:
    return select(
        Letter.recipient_id,
        Letter.language,
        Letter.country,
        func.count(),
        func.count(Letter.sent_on),
    ).group_by(Letter.recipient_id, Letter.language, Letter.country)


def _direct_days() -> Select:
    generated = select(
        Letter.generated_on.label("day"),
        Letter.recipient_id.label("rid"),
        func.count().label("generated"),
        literal(0).label("sent"),
    ).group_by(Letter.generated_on, Letter.recipient_id)
    sent = (
        select(Letter.sent_on, Letter.recipient_id, literal(0), func.count())
        .where(Letter.sent_on.is_not(None))
        .group_by(Letter.sent_on, Letter.recipient_id)
    )
    events = union_all(generated, sent).subquery()
    return select(
        events.c.day, events.c.rid, func.sum(events.c.generated), func.sum(events.c.sent)
    ).group_by(events.c.day, events.c.rid)


def _direct_events() -> Select:
    """Per write-a-thon: packs, letters, letters posted (read through the partial index)."""
    return (
        select(
            Letter.event_id,
            func.count(func.distinct(Letter.token_hash)),
            func.count(),
            func.count(Letter.sent_on),
        )
        .where(Letter.event_id.is_not(None))
        .group_by(Letter.event_id)
    )


def differences(connection: Connection | Session) -> list[str]:
    """Where the running counts disagree with a count over the letter rows; empty if nowhere.

    Reads every letter: for tests, the benchmark and checks by hand, never for a page.
    """
    event = models.Event
    rows = {e: tuple(map(int, n)) for e, *n in connection.execute(_direct_events())}
    kept = select(event.id, event.packs, event.generated, event.sent)
    counts = {e: tuple(n) for e, *n in connection.execute(kept) if any(n)}
    found = [
        f"event {key}: rows {rows.get(key)}, kept {counts.get(key)}"
        for key in sorted(rows.keys() | counts.keys())
        if rows.get(key) != counts.get(key)
    ]
    for name, direct, kept in (
        ("totals", _direct_totals(), select(LetterTotal.__table__)),
        ("days", _direct_days(), select(LetterDay.__table__)),
    ):
        rows = {tuple(r[:-2]): (int(r[-2]), int(r[-1])) for r in connection.execute(direct)}
        counts = {tuple(r[:-2]): (int(r[-2]), int(r[-1])) for r in connection.execute(kept)}
        counts = {key: value for key, value in counts.items() if value != (0, 0)}
        for key in sorted(rows.keys() | counts.keys(), key=str):
            if rows.get(key, (0, 0)) != counts.get(key, (0, 0)):
                found.append(f"{name} {key}: rows {rows.get(key)}, kept {counts.get(key)}")
    return found


def recount(connection: Connection) -> None:
    """Rebuild the running counts from the letter rows, e.g. after letters were bulk-loaded
    without them. Letters written meanwhile wait for the caller's commit: on PostgreSQL the
    letters are locked against writes (and against a second rebuild), on SQLite the transaction
    holds the write lock from its start (app.storage.db)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("LOCK TABLE letters IN SHARE ROW EXCLUSIVE MODE"))
    connection.execute(delete(LetterTotal))
    connection.execute(delete(LetterDay))
    totals = ["recipient_id", "language", "country", "generated", "sent"]
    connection.execute(insert(LetterTotal).from_select(totals, _direct_totals()))
    days = ["day", "recipient_id", "generated", "sent"]
    connection.execute(insert(LetterDay).from_select(days, _direct_days()))
    connection.execute(update(models.Event).values(packs=0, generated=0, sent=0))
    for event_id, packs, generated, sent in connection.execute(_direct_events()).all():
        values = {"packs": packs, "generated": generated, "sent": sent}
        connection.execute(update(models.Event).where(models.Event.id == event_id).values(values))
