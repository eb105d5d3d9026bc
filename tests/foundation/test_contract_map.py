"""`tests/CONTRACT_MAP.md` names, for every section of the contract, the tests that prove it."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

from support import REPO_ROOT

MAP = REPO_ROOT / "tests" / "CONTRACT_MAP.md"
# The contract lives beside the repository, where CI and the developers have it; a clone
# elsewhere names it with CHATBOT_TEST_CONTRACT.
CONTRACT = Path(
    os.environ.get("CHATBOT_TEST_CONTRACT", REPO_ROOT.parent / "shared" / "CONTRACT.md")
)
PENDING = re.compile(r"^- Pending: issue \d+ builds it\.$")
MODULE = re.compile(r"^- `(tests/[\w/]+\.py)`: \S")


def sections(text: str) -> dict[str, list[str]]:
    """Each `## ` heading of a markdown text with the bullet lines under it."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = found.setdefault(line[3:].strip(), [])
        elif current is not None and line.startswith("- "):
            current.append(line)
    return found


def defined_tests(path: Path) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"))
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    ]


def test_every_section_of_the_contract_is_in_the_map() -> None:
    mapped = sections(MAP.read_text("utf-8"))
    assert len(mapped) >= 9, "the map lost sections"
    if not CONTRACT.is_file():
        return  # a clone without the contract beside it: the map is checked on its own
    contract = sections(CONTRACT.read_text("utf-8"))

    assert list(mapped) == list(contract), "the map's sections must be the contract's, in order"


def test_every_section_names_tests_or_the_issue_that_builds_it() -> None:
    for section, lines in sections(MAP.read_text("utf-8")).items():
        assert lines, f"{section}: no test and no pending issue"
        pending = [line for line in lines if PENDING.match(line)]
        modules = [match.group(1) for line in lines if (match := MODULE.match(line))]
        assert len(pending) + len(modules) == len(lines), f"{section}: unreadable lines"
        assert not (pending and modules), f"{section}: tested, yet said to be pending"
        for module in modules:
            path = REPO_ROOT / module
            assert path.is_file(), f"{section}: {module} does not exist"
            assert defined_tests(path), f"{section}: {module} has no tests"
