"""Database engine, one session per request, and Alembic migrations."""

from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import Request
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x4C45545445  # any constant shared by every instance of this service
READ_ONLY = {"read_only": True}
"""Execution options for a transaction that only reads: on SQLite it begins deferred, so it reads
a snapshot without taking the write lock (in WAL mode readers and the writer do not wait)."""


def read_snapshot(session: Session) -> Connection:
    """The session's connection for reads that must agree with each other, taken before
    anything else in its transaction: one snapshot (REPEATABLE READ) on PostgreSQL, a deferred
    transaction on SQLite (READ_ONLY), neither waiting for writers nor holding them up."""
    if session.get_bind().dialect.name == "postgresql":
        return session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    return session.connection(execution_options=READ_ONLY)


class SchemaBehind(RuntimeError):
    """The database has not been migrated to this version of the code."""


def make_engine(url: str) -> Engine:
    """An engine tuned for its backend: SQLite in WAL mode with a busy timeout, so concurrent
    requests wait for each other instead of failing with "database is locked"."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(
            url, pool_pre_ping=True, pool_size=5, max_overflow=10, hide_parameters=True
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection) -> None:  # type: ignore[no-untyped-def]
        # Take the write lock at BEGIN: a deferred transaction that later writes can fail with
        # "database is locked" without waiting for the busy timeout. Reads marked READ_ONLY
        # never write, so they begin deferred and do not queue behind writers.
        reading = connection.get_execution_options().get("read_only", False)
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")

    return engine


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Upgrade to the newest schema. On PostgreSQL an advisory lock makes replicas that start at
    once take turns, so the second finds the work done; SQLite's write lock does the same."""
    config = alembic_config(url)
    if make_url(url).get_backend_name() != "postgresql":
        command.upgrade(config, "head")
        return
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                connection.commit()
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                connection.commit()
    finally:
        engine.dispose()


def check_schema(engine: Engine) -> None:
    """Refuse to serve a database whose schema is behind the code. Only reads: on SQLite it
    neither takes nor waits for the write lock (/readyz asks this of every probe)."""
    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    with engine.connect() as connection:
        connection.execution_options(**READ_ONLY)
        current = MigrationContext.configure(connection).get_current_revision()
    if current != head:
        raise SchemaBehind(
            f"the database schema is at {current or 'nothing'}, the code needs {head}: "
            "run `letter-campaign migrate`"
        )


def get_session(request: Request) -> Iterator[Session]:
    """A FastAPI dependency: one session per request, closed when the response is done.

    A page (GET, HEAD) only reads, so its session never takes SQLite's write lock. A form post's
    session takes it at its first statement, so that its write never fails for a lock it could
    have waited for; such routes do nothing slow inside it. Routes that read, then render, then
    write (the supporter's form, the API) read with `app.state.reader` and write in a short
    transaction of their own instead.
    """
    safe = request.method in ("GET", "HEAD")
    factory: sessionmaker[Session] = (
        request.app.state.reader if safe else request.app.state.sessionmaker
    )
    with factory() as session:
        yield session
