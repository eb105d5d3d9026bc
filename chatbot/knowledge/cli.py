"""The `chatbot knowledge ...` subcommands; light to import, the work is loaded when run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from chatbot.config import Settings


def add_knowledge_commands(commands: Any) -> None:
    """Add `knowledge import` to the `chatbot` command's subparsers."""
    knowledge = commands.add_parser("knowledge", help="manage chatbots' knowledge")
    actions = knowledge.add_subparsers(dest="knowledge_command", required=True, metavar="ACTION")
    upload = actions.add_parser(
        "import",
        help="import text, Markdown, HTML or PDF files as documents",
        description="Import files into a chatbot's knowledge, one document entry per file. "
        "Nothing is stored unless every file can be read.",
    )
    upload.add_argument("--chatbot", required=True, metavar="SLUG", help="the chatbot's slug")
    upload.add_argument("files", nargs="+", type=Path, metavar="FILE")
    upload.add_argument(
        "--replace",
        action="store_true",
        help="replace the entries imported before from files of the same names",
    )
    upload.add_argument("--config", type=Path, help="config file (default ./config.yaml)")


def run_knowledge_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run `chatbot knowledge ACTION`; returns the exit status."""
    from chatbot.knowledge.importer import run_import

    return run_import(settings, args.chatbot, args.files, replace=args.replace)
