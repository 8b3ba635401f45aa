"""The `letter-campaign` command: render packs, migrate the database, serve the web service."""

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from pydantic import ValidationError

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
    from app.pdf import LetterRenderer

    try:
        data = json.loads(Path(args.supporter).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return _fail(f"{args.supporter}: {exc}")
    try:
        supporter = Supporter.model_validate(data)
    except ValidationError as exc:
        return _fail(
            f"{args.supporter}: invalid supporter\n  " + "\n  ".join(validation_lines(exc))
        )
    campaign = load_campaign(settings.campaign_dir)
    try:
        recipients = campaign.choose(supporter.recipients)
    except UnknownRecipient as exc:
        return _fail(f"{args.supporter}: recipients: {exc}")
    renderer = LetterRenderer(campaign, settings.fonts_dir)
    pdf = renderer.render_pack(supporter, recipients, date.today())
    Path(args.out).write_bytes(pdf)
    print(f"wrote {len(recipients)} letters to {args.out}", file=sys.stderr)
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from app.db import migrate

    migrate(settings.database_url)
    print("database is up to date", file=sys.stderr)
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.logs import logging_config

    load_campaign(settings.campaign_dir)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers or settings.workers,
        access_log=False,
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        server_header=False,
        log_config=logging_config(settings.log_level),
        log_level=settings.log_level,
    )
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

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(handler=cmd_migrate)

    serve = commands.add_parser("serve", help="start the web service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, help="worker processes (default: WORKERS, 1)")
    serve.set_defaults(handler=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    try:
        return args.handler(args, settings)
    except CampaignError as exc:
        return _fail(str(exc))


if __name__ == "__main__":
    sys.exit(main())
