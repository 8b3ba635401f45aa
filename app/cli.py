"""The `letter-campaign` command: render packs, migrate the database, serve the web service,
and the operators' tasks (staff accounts, campaign state, officials, letter counts)."""

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from app.campaign import CampaignError, UnknownRecipient, load_campaign
from app.settings import Settings
from app.supporter import Supporter


def _fail(message: str) -> int:
    print(f"letter-campaign: {message}", file=sys.stderr)
    return 2


def validation_lines(exc: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(p) for p in error['loc']) or '(body)'}: {error['msg']}"
        for error in exc.errors()
    ]


def cmd_render(args: argparse.Namespace, settings: Settings) -> int:
    from app.render import LetterRenderer

    try:
        data = json.loads(Path(args.supporter).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return _fail(f"{args.supporter}: {exc}")
    campaign = load_campaign(settings.campaign_dir)
    try:
        supporter = Supporter.for_campaign(data, campaign)
    except ValidationError as exc:
        return _fail(
            f"{args.supporter}: invalid supporter\n  " + "\n  ".join(validation_lines(exc))
        )
    try:
        recipients = campaign.choose(supporter.recipients)
    except UnknownRecipient as exc:
        return _fail(f"{args.supporter}: recipients: {exc}")
    renderer = LetterRenderer(campaign, settings.fonts_dir)
    letters = renderer.letters(supporter, recipients, date.today())
    Path(args.out).write_bytes(renderer.make_pack(letters, supporter.language).pdf)
    print(f"wrote {len(recipients)} letters to {args.out}", file=sys.stderr)
    return 0


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from app.check import check_campaign
    from app.render import LetterRenderer

    campaign = load_campaign(settings.campaign_dir)
    renderer = LetterRenderer(campaign, settings.fonts_dir)
    problems = check_campaign(renderer, Path(args.out) if args.out else None, date.today())
    for problem in problems:
        print(f"letter-campaign: {problem}", file=sys.stderr)
    if problems:
        return 1
    where = f"; proofs in {args.out}" if args.out else ""
    print(f"campaign content is complete{where}", file=sys.stderr)
    return 0


class DatabaseUnusable(Exception):
    """The database cannot be reached or opened; the message names it (without its password)
    and the cause, on one line, where a traceback used to be."""


def shown_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "in DATABASE_URL, which is not a database URL (not shown: it may hold a password)"


def open_database(url: str, *, migrated: bool = True) -> Engine:
    """An engine on a database that answers and, when `migrated`, has this code's schema
    (else SchemaBehind)."""
    from app.storage.db import check_schema, make_engine

    try:
        engine = make_engine(url)
        try:
            if migrated:
                check_schema(engine)
            else:
                engine.connect().close()
        except BaseException:
            engine.dispose()
            raise
    except (SQLAlchemyError, OSError, ImportError) as exc:
        raise DatabaseUnusable(f"cannot use the database {shown_url(url)}: {cause(exc)}") from None
    return engine


def cause(exc: Exception) -> str:
    """The driver's own words (SQLAlchemy's wrapping adds a link), on one line."""
    original = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    words = " ".join(line.strip() for line in str(original).splitlines() if line.strip())
    return words or type(original).__name__


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from app.storage.db import migrate

    open_database(settings.database_url, migrated=False).dispose()
    migrate(settings.database_url)
    print("database is up to date", file=sys.stderr)
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.logs import logging_config
    from app.server_protocol import BoundedHeadProtocol
    from app.storage.db import SchemaBehind

    load_campaign(settings.campaign_dir)
    try:
        open_database(settings.database_url).dispose()
    except SchemaBehind as exc:
        return _fail(str(exc))
    workers = args.workers or settings.workers
    with contextlib.ExitStack() as stack:
        if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Each worker writes its counts there and /metrics adds them up (app/metrics.py).
            counts = tempfile.TemporaryDirectory(prefix="letter-campaign-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = stack.enter_context(counts)
        uvicorn.run(
            "app.main:create_served_app",
            factory=True,
            http=BoundedHeadProtocol,
            host=args.host,
            port=args.port,
            workers=workers,
            access_log=False,
            proxy_headers=bool(settings.forwarded_allow_ips),
            forwarded_allow_ips=settings.forwarded_allow_ips or None,
            server_header=False,
            log_config=logging_config(settings.log_level),
            log_level=settings.log_level,
        )
    return 0


def read_new_password(email: str) -> str:
    """From a pipe, the first line of standard input; on a terminal, asked twice, not echoed."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass(f"Password for {email}: ")
    if getpass.getpass("The same password again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def cmd_staff(args: argparse.Namespace, settings: Settings) -> int:
    from app.storage.db import SchemaBehind
    from app.storage.operations import audit
    from app.storage.staff import (
        DEFAULT_ROLE,
        StaffError,
        add_staff,
        check_role,
        describe,
        find_staff,
        list_staff,
        normalise_email,
        remove_staff,
        set_role,
        unlock_staff,
        utc_now,
    )

    try:
        with database_session(settings) as db:
            if args.action == "add":
                role = check_role(args.role or DEFAULT_ROLE)
                password = read_new_password(args.email)
                staff = add_staff(db, args.email, password, utc_now(), role)
                detail = f"{staff.email} ({staff.role})"
                audit(db, command_line_actor(), "staff account added", detail)
                done = f"added {staff.email} as {staff.role}"
            elif args.action == "role":
                staff = find_staff(db, args.email)
                if staff is None:
                    return _fail(f"there is no account for {args.email}")
                before = set_role(db, staff, args.role)
                detail = f"{staff.email}: {before} -> {staff.role}"
                audit(db, command_line_actor(), "staff role changed", detail)
                done = f"{staff.email} is now {staff.role} (was {before})"
            elif args.action in ("remove", "unlock"):
                change, verb = {"remove": (remove_staff, "removed"),
                                "unlock": (unlock_staff, "unlocked")}[args.action]  # fmt: skip
                if not change(db, args.email):
                    return _fail(f"there is no account for {args.email}")
                who = normalise_email(args.email)
                audit(db, command_line_actor(), f"staff account {verb}", who)
                done = f"{verb} {args.email}"
            else:
                now = utc_now()
                for staff, sessions in list_staff(db, now):
                    print(describe(staff, sessions, now))
                return 0
    except (StaffError, SchemaBehind, ValueError) as exc:
        return _fail(str(exc))
    print(done, file=sys.stderr)
    return 0


def cmd_staff_totp(args: argparse.Namespace, settings: Settings) -> int:
    """Enrol an account's second factor (printed once: the URI, its QR code and the recovery
    codes), replacing any it had, or remove it."""
    from sqlalchemy import select

    from app.storage.db import SchemaBehind
    from app.storage.models import Staff
    from app.storage.operations import audit
    from app.storage.staff import (
        StaffError,
        enrol_second_factor,
        normalise_email,
        remove_second_factor,
    )

    try:
        with database_session(settings) as db:
            email = normalise_email(args.email)
            staff = db.scalar(select(Staff).where(Staff.email == email))
            if staff is None:
                return _fail(f"there is no account for {args.email}")
            if args.remove:
                if not remove_second_factor(db, staff):
                    return _fail(f"{email} has no second factor")
                audit(db, command_line_actor(), "second factor removed", email)
                print(f"removed the second factor of {email}", file=sys.stderr)
                return 0
            uri, codes = enrol_second_factor(db, staff, second_factor_issuer(settings))
            audit(db, command_line_actor(), "second factor enrolled", email)
    except (StaffError, SchemaBehind) as exc:
        return _fail(str(exc))
    show_enrolment(uri, codes)
    print(f"enrolled a second factor for {email}; it replaces any before", file=sys.stderr)
    return 0


def second_factor_issuer(settings: Settings) -> str:
    """What authenticator apps call the account's entry: the campaign's name, in English if it
    has one."""
    try:
        return load_campaign(settings.campaign_dir).case.title["en"]
    except CampaignError:
        return "letter-campaign"


def show_enrolment(uri: str, codes: list[str]) -> None:
    import segno

    print("Add this to an authenticator app (or scan the QR code below):")
    print(uri)
    segno.make(uri, error="m").terminal(compact=True)
    print("Recovery codes: each opens one login without the app. Keep them safe: they are")
    print("not shown again, and running this command again replaces them.")
    for code in codes:
        print(code)


@contextmanager
def database_session(settings: Settings) -> Iterator[Session]:
    """A session on a migrated database, committed when the block ends without error."""
    engine = open_database(settings.database_url)
    try:
        with Session(engine) as session, session.begin():
            yield session
    finally:
        engine.dispose()


def command_line_actor() -> str:
    """Who the audit log names for a change made from the command line."""
    import getpass

    return f"command line ({getpass.getuser()})"


def cmd_campaign(args: argparse.Namespace, settings: Settings) -> int:
    from app.storage.db import SchemaBehind
    from app.storage.operations import OperationError, set_state

    state = {"open": "open", "pause": "paused", "close": "closed"}[args.action]
    message = {"en": args.message or "", "ru": args.message_ru or "", "kk": args.message_kk or ""}
    try:
        with database_session(settings) as session:
            set_state(session, state, message, command_line_actor())
    except (OperationError, SchemaBehind) as exc:
        return _fail(str(exc))
    print(f"the campaign is {state}", file=sys.stderr)
    return 0


def cmd_official(args: argparse.Namespace, settings: Settings) -> int:
    from app.storage.db import SchemaBehind
    from app.storage.operations import OperationError, pause_official, record_check, resume_official

    campaign = load_campaign(settings.campaign_dir)
    try:
        with database_session(settings) as session:
            if args.action == "pause":
                pause_official(session, campaign, args.id, args.reason, command_line_actor())
                done = "paused"
            elif args.action == "verify":
                actor = command_line_actor()
                source, note = args.source or "", args.note or ""
                check = record_check(session, campaign, args.id, source, note, actor)
                done = f"checked on {check.checked_at.date().isoformat()} (UTC)"
            else:
                resume_official(session, campaign, args.id, command_line_actor())
                done = "resumed"
    except (OperationError, SchemaBehind) as exc:
        return _fail(str(exc))
    print(f"{args.id}: {done}", file=sys.stderr)
    return 0


def cmd_update(args: argparse.Namespace, settings: Settings) -> int:
    from app.rich_text import first_line
    from app.storage.db import SchemaBehind
    from app.storage.operations import delete_update, in_language, updates

    try:
        with database_session(settings) as session:
            if args.action == "list":
                for update in updates(session, limit=None):
                    start = first_line(in_language(update.text, "en"))
                    print(f"{update.id}\t{update.posted_on.isoformat()}\t{start}")
                return 0
            if not delete_update(session, args.id, command_line_actor()):
                return _fail(f"there is no case update {args.id}")
    except SchemaBehind as exc:
        return _fail(str(exc))
    print(f"deleted case update {args.id}", file=sys.stderr)
    return 0


def cmd_counts(args: argparse.Namespace, settings: Settings) -> int:
    """The running counts that every figure reads, against the letter rows: after a restore or
    a bulk load, or to be sure. Reads every letter, so it is a task for a quiet moment."""
    from app.storage.counts import differences, recount
    from app.storage.db import SchemaBehind, read_snapshot
    from app.storage.operations import audit

    try:
        if args.action == "rebuild":
            with database_session(settings) as session:
                recount(session.connection())
                audit(session, command_line_actor(), "letter counts rebuilt from the letters")
        with database_session(settings) as session:
            found = differences(read_snapshot(session))
    except SchemaBehind as exc:
        return _fail(str(exc))
    for line in found:
        print(f"letter-campaign: counts differ from the letters: {line}", file=sys.stderr)
    if found:
        return 1
    done = "rebuilt; they agree" if args.action == "rebuild" else "agree"
    print(f"the letter counts {done} with the letters", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="letter-campaign",
        description="Turns a human-rights report into a letter-writing campaign.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    render = commands.add_parser("render", help="render a pack of letters from a supporter JSON")
    render.add_argument("supporter", help="a JSON file in the supporter schema")
    render.add_argument("--out", required=True, help="where to write the PDF")
    render.set_defaults(handler=cmd_render)

    check = commands.add_parser("check", help="proof the campaign content and write proof packs")
    check.add_argument("--out", help="folder for one proof PDF per language")
    check.set_defaults(handler=cmd_check)

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(handler=cmd_migrate)

    serve = commands.add_parser("serve", help="start the web service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, help="worker processes (default: WORKERS, 1)")
    serve.set_defaults(handler=cmd_serve)

    staff = commands.add_parser("staff", help="staff accounts for the dashboard")
    actions = staff.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add", help="create an account (password from standard input, or asked twice)"
    )
    add.add_argument("email")
    roles = "viewer|organiser|admin"  # checked by app.storage.staff, not imported here: it is slow
    add.add_argument(
        "--role",
        metavar=roles,
        help="viewer: the numbers and the export; organiser: also steering the campaign; "
        "admin: also staff accounts (default: organiser)",
    )
    role = actions.add_parser("role", help="change what an account may do")
    role.add_argument("email")
    role.add_argument("role", metavar=roles)
    remove = actions.add_parser("remove", help="delete an account and log it out everywhere")
    remove.add_argument("email")
    unlock = actions.add_parser("unlock", help="lift a lock after failed logins")
    unlock.add_argument("email")
    actions.add_parser("list", help="list the accounts (their roles and locks)")
    totp = actions.add_parser(
        "totp",
        help="enrol a second factor (a six-digit code after the password) and print it once, "
        "replacing any before; --remove removes it",
    )
    totp.add_argument("email")
    totp.add_argument("--remove", action="store_true", help="log in with the password alone")
    staff.set_defaults(handler=cmd_staff)
    totp.set_defaults(handler=cmd_staff_totp)

    campaign = commands.add_parser("campaign", help="open, pause or close the campaign")
    campaign.add_argument("action", choices=["open", "pause", "close"])
    campaign.add_argument("--message", help="the public message, in English")
    campaign.add_argument("--message-ru", help="the public message in Russian")
    campaign.add_argument("--message-kk", help="the public message in Kazakh")
    campaign.set_defaults(handler=cmd_campaign)

    official = commands.add_parser(
        "official", help="pause or resume letters to one official, or record a check of it"
    )
    official_actions = official.add_subparsers(dest="action", required=True, metavar="ACTION")
    pause = official_actions.add_parser("pause", help="stop offering this official")
    pause.add_argument("id")
    pause.add_argument("--reason", required=True, help="why, shown to supporters and staff")
    resume = official_actions.add_parser("resume", help="offer this official again")
    resume.add_argument("id")
    verify = official_actions.add_parser(
        "verify",
        help="record that the holder and address in recipients.yaml are still right "
        "(counts as checked from now on)",
    )
    verify.add_argument("id")
    verify.add_argument("--source", help="the web address where you checked it (http or https)")
    verify.add_argument("--note", help="what you found, for the audit log")
    official.set_defaults(handler=cmd_official)

    update = commands.add_parser("update", help="list or delete case updates")
    update_actions = update.add_subparsers(dest="action", required=True, metavar="ACTION")
    update_actions.add_parser("list", help="id, date and first line of each, latest first")
    delete = update_actions.add_parser("delete", help="delete one posted in error")
    delete.add_argument("id", type=int)
    update.set_defaults(handler=cmd_update)

    counts = commands.add_parser("counts", help="check or rebuild the letter counts")
    counts.add_argument(
        "action",
        choices=["check", "rebuild"],
        help="check: list where the counts differ from the letters (exit 1 if anywhere); "
        "rebuild: make them again from the letters, with writers held off",
    )
    counts.set_defaults(handler=cmd_counts)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    try:
        return args.handler(args, settings)
    except (CampaignError, DatabaseUnusable) as exc:
        return _fail(str(exc))


if __name__ == "__main__":
    sys.exit(main())
