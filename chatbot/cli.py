"""The `chatbot` command: serve, migrate, check, purge, knowledge, model."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from chatbot.config import ConfigError, Settings, load_settings
from chatbot.knowledge.cli import add_knowledge_commands, run_knowledge_command
from chatbot.retrieval.model_command import add_model_commands, run_model_command

log = logging.getLogger("chatbot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatbot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve HTTP and WebSocket chat")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8000)")
    serve.add_argument("--config", type=Path, help="config file (default ./config.yaml)")
    serve.add_argument("--demo", action="store_true", help="create the demo account and chatbot")
    serve.add_argument("--log-format", choices=("text", "json"), help="log line format")
    serve.add_argument(
        "--workers",
        type=_worker_count,
        help="processes sharing the port (default 1; more need PostgreSQL and Redis)",
    )

    migrate = commands.add_parser("migrate", help="apply pending database migrations")
    migrate.add_argument("--config", type=Path)

    check = commands.add_parser("check", help="check config, database, Redis and files")
    check.add_argument("--config", type=Path)

    purge = commands.add_parser(
        "purge",
        help="delete the conversations older than their chatbot's retention_days now",
    )
    purge.add_argument("--config", type=Path)

    add_knowledge_commands(commands)
    add_model_commands(commands)
    return parser


def _worker_count(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of workers from 1 to 64")
    return int(value)


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    overrides = {
        key: value
        for key in ("host", "port", "log_format", "workers")
        if (value := getattr(args, key, None)) is not None
    }
    return settings.model_copy(update=overrides) if overrides else settings


def _fail(message: str) -> int:
    print(f"chatbot: {message}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check":
        from chatbot.checks import render_checks, run_checks

        results = asyncio.run(run_checks(args.config))
        render_checks(results, sys.stdout.write)
        return 1 if any(result.failed for result in results) else 0
    try:
        settings = _settings(args)
    except ConfigError as exc:
        return _fail(str(exc))

    from chatbot.logs import setup_logging

    setup_logging(settings.log_level, settings.log_format)
    if args.command == "migrate":
        return _migrate(settings)
    if args.command == "purge":
        from chatbot.privacy.cli import run_purge_command

        return run_purge_command(settings)
    if args.command == "knowledge":
        return run_knowledge_command(settings, args)
    if args.command == "model":
        return run_model_command(settings, args)
    from chatbot.server import serve

    return serve(settings, demo=args.demo)


def _migrate(settings: Settings) -> int:
    from chatbot.config import mask_url
    from chatbot.health.probes import describe_exception
    from chatbot.storage.engine import create_engine
    from chatbot.storage.migrations import migrate

    async def run() -> tuple[str | None, str | None]:
        engine = create_engine(settings.database_url)
        try:
            return await migrate(engine)
        finally:
            await engine.dispose()

    try:
        before, after = asyncio.run(run())
    except Exception as exc:
        return _fail(
            f"cannot migrate {mask_url(settings.database_url)} ({describe_exception(exc)}): "
            "check that the database is up and CHATBOT_DATABASE_URL is right"
        )
    if before == after:
        print(f"database already at {after}")
    else:
        print(f"database migrated from {before or 'empty'} to {after}")
    return 0
