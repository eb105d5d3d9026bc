"""The imports between `chatbot/`'s packages follow the table in docs/architecture.md."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from support import REPO_ROOT

PACKAGE = REPO_ROOT / "chatbot"
DOC = REPO_ROOT / "docs" / "architecture.md"
ROW = re.compile(r"^\| `(\w+)` \| ([\w, ]*) \|$")


def unit_of(path: Path) -> str:
    """A file's unit: its package under chatbot/, or the module itself at the top level."""
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def imported_units(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from chatbot import keys` names the unit in the imported names.
            if node.module == "chatbot":
                names = [f"chatbot.{alias.name}" for alias in node.names]
            else:
                names = [node.module]
        else:
            continue
        found.update(name.split(".")[1] for name in names if name.startswith("chatbot."))
    return found


def actual_arrows() -> dict[str, set[str]]:
    arrows: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue  # Alembic's scripts, run by Alembic
        source = unit_of(path)
        for target in imported_units(ast.parse(path.read_text("utf-8"))):
            if target != source:
                arrows[source].add(target)
    return arrows


def allowed_arrows() -> dict[str, set[str]]:
    text = DOC.read_text("utf-8")
    table = text.split("<!-- imports:", 1)[1].split("<!-- end of imports -->", 1)[0]
    allowed: dict[str, set[str]] = {}
    for line in table.splitlines():
        if match := ROW.match(line):
            names = {name.strip() for name in match.group(2).split(",") if name.strip()}
            allowed[match.group(1)] = names
    return allowed


def test_no_package_imports_one_the_architecture_table_does_not_allow() -> None:
    allowed = allowed_arrows()
    assert allowed, "docs/architecture.md has lost its import table"
    new = {
        f"{source} -> {target}"
        for source, targets in actual_arrows().items()
        for target in targets - allowed.get(source, set())
    }

    assert not new, f"imports not in docs/architecture.md's table: {sorted(new)}"


def test_the_table_names_no_arrow_the_code_does_not_have() -> None:
    actual = actual_arrows()
    stale = {
        f"{source} -> {target}"
        for source, targets in allowed_arrows().items()
        for target in targets - actual.get(source, set())
    }

    assert not stale, f"docs/architecture.md allows imports nobody makes: {sorted(stale)}"
