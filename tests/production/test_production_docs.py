"""The operator's docs stay true to the code: every setting documented, every failure covered."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from pydantic import BaseModel

from chatbot import config_reference
from chatbot.config import Settings, env_name

from support import REPO_ROOT

DOCS = REPO_ROOT / "docs"


def _setting_paths(
    model: type[BaseModel] = Settings, path: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths += _setting_paths(annotation, (*path, name))
        else:
            paths.append((*path, name))
    return paths


def test_every_setting_appears_in_the_configuration_reference_with_its_variable() -> None:
    text = (DOCS / "configuration.md").read_text()
    rows = {
        line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| `")
    }
    paths = _setting_paths()
    assert len(paths) > 40
    for path in paths:
        key = ".".join(path)
        assert f"`{key}`" in rows, f"{key} is missing from docs/configuration.md"
        assert f"`{env_name(path)}`" in rows[f"`{key}`"]


def test_the_configuration_reference_is_what_the_generator_prints() -> None:
    generated = subprocess.run(
        [sys.executable, "-m", "chatbot.config_reference"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert generated.returncode == 0, generated.stderr
    assert (DOCS / "configuration.md").read_text() == generated.stdout, (
        "docs/configuration.md is stale: run "
        "`python -m chatbot.config_reference > docs/configuration.md`"
    )


def test_the_reference_shows_defaults_but_never_the_development_secret() -> None:
    text = (DOCS / "configuration.md").read_text()
    assert Settings().secret_key.get_secret_value() not in text
    assert "| `port` | `CHATBOT_PORT` | int (≥ 0, ≤ 65535) | `8000` |" in text
    assert "`CHATBOT_RATE_LIMITS__LOGIN_PER_ADDRESS` | str | `10/minute` |" in text


def test_a_setting_without_a_description_stops_the_generator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(config_reference.DESCRIPTIONS, "chat.heartbeat_seconds")
    with pytest.raises(LookupError, match=r"chat\.heartbeat_seconds"):
        config_reference.render()


@pytest.mark.parametrize(
    "topic",
    [
        "/auth/me/",  # route wiring: the old system answered 404 for it
        "Redis",  # a missing Redis made every endpoint fail there
        "separate server",  # WebSockets needed another server (ASGI) there
        "profile",  # the profile endpoint failed for valid tokens there
        "chatbot check",
        "/readyz",
        "database is locked",
        "migrate",
        "403",
        "4008",
        "1009",
        "1001",
        "--workers",
    ],
)
def test_troubleshooting_covers(topic: str) -> None:
    assert topic in (DOCS / "troubleshooting.md").read_text()


@pytest.mark.parametrize("document", ["deployment.md", "troubleshooting.md", "configuration.md"])
def test_links_between_the_docs_point_at_files_that_exist(document: str) -> None:
    text = (DOCS / document).read_text()
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        assert (DOCS / target).resolve().exists(), f"{document} links to missing {target}"
