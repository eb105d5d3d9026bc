"""`chatbot knowledge import --chatbot SLUG FILES...`, run as the real command."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from knowledge_support import owner_with_chatbot, tiny_pdf

from chatbot.knowledge.index import knowledge_index

from conftest import ClientFactory
from support import run_cli

pytestmark = pytest.mark.slow


def _env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    (tmp_path / "none.yaml").write_text("{}\n")
    return {
        "CHATBOT_DATABASE_URL": database_url,
        "CHATBOT_REDIS_URL": "",
        "CHATBOT_CONFIG": str(tmp_path / "none.yaml"),
        "CHATBOT_BRAINS__SEMANTIC": "false",
        **extra,
    }


def _files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "faq.md").write_text("# Parking\n\nParking is free.\n\n# Pets\n\nDogs are welcome.\n")
    (folder / "terms.pdf").write_bytes(tiny_pdf("Refunds within 14 days."))
    (folder / "hours.html").write_text("<h1>Hours</h1><p>Open 9 to 5.</p>")
    return sorted(folder.iterdir())


async def _import(*args: str, env: dict[str, str]) -> Any:
    return await asyncio.to_thread(run_cli, "knowledge", "import", *args, env=env, timeout=120)


async def test_files_are_imported_as_documents_and_running_instances_see_them_at_once(
    make_client: ClientFactory, postgres_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    api = await make_client(
        database_url=postgres_url, redis_url=redis_url, brains={"semantic": False}
    )
    owner = await owner_with_chatbot(api, slug="import-target")
    assert len(await knowledge_index(api.app, owner.chatbot["id"])) == 0
    files = _files(tmp_path)

    result = await _import(
        "--chatbot",
        "import-target",
        *map(str, files),
        env=_env(
            tmp_path, postgres_url, CHATBOT_REDIS_URL=redis_url, CHATBOT_REDIS_PREFIX=redis_prefix
        ),
    )

    assert result.returncode == 0, result.stderr
    assert "imported 3 documents (4 passages) into chatbot import-target" in result.stdout
    assert "Reading files" in result.stderr  # the progress bar
    body = await (await api.get(owner.knowledge, headers=owner.headers)).json()
    assert sorted(item["source"] for item in body["items"]) == ["faq.md", "hours.html", "terms.pdf"]
    index = await knowledge_index(api.app, owner.chatbot["id"])
    assert {p.reply_text for p in index.passages} == {
        "Parking is free.",
        "Dogs are welcome.",
        "Refunds within 14 days.",
        "Open 9 to 5.",
    }


async def test_importing_again_with_replace_updates_instead_of_duplicating(
    make_client: ClientFactory, sqlite_url: str, tmp_path: Path
) -> None:
    api = await make_client(brains={"semantic": False})
    owner = await owner_with_chatbot(api, slug="replace-me")
    page = tmp_path / "page.txt"
    page.write_text("Old text.")
    env = _env(tmp_path, sqlite_url)
    assert (await _import("--chatbot", "replace-me", str(page), env=env)).returncode == 0

    page.write_text("New text.")
    result = await _import("--chatbot", "replace-me", "--replace", str(page), env=env)

    assert result.returncode == 0, result.stderr
    body = await (await api.get(owner.knowledge, headers=owner.headers)).json()
    assert [item["content"] for item in body["items"]] == ["New text."]


async def test_an_unknown_slug_fails_with_one_clear_line(
    make_client: ClientFactory, sqlite_url: str, tmp_path: Path
) -> None:
    await make_client()  # migrates the database
    page = tmp_path / "page.txt"
    page.write_text("Text.")

    result = await _import("--chatbot", "no-such-bot", str(page), env=_env(tmp_path, sqlite_url))

    assert result.returncode == 1
    assert "no chatbot has the slug 'no-such-bot'" in result.stderr
    assert "Traceback" not in result.stderr


async def test_one_unreadable_file_names_every_problem_and_stores_nothing(
    make_client: ClientFactory, sqlite_url: str, tmp_path: Path
) -> None:
    api = await make_client(brains={"semantic": False})
    owner = await owner_with_chatbot(api, slug="careful")
    good = tmp_path / "good.txt"
    good.write_text("Fine.")
    image = tmp_path / "photo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    missing = tmp_path / "missing.txt"

    result = await _import(
        "--chatbot", "careful", str(good), str(image), str(missing), env=_env(tmp_path, sqlite_url)
    )

    assert result.returncode == 1
    assert "nothing was imported" in result.stderr
    assert "photo.png" in result.stderr
    assert "missing.txt" in result.stderr
    assert "Traceback" not in result.stderr
    body = await (await api.get(owner.knowledge, headers=owner.headers)).json()
    assert body["items"] == []


async def test_an_unreachable_database_fails_with_one_line_naming_it(tmp_path: Path) -> None:
    page = tmp_path / "page.txt"
    page.write_text("Text.")
    env = _env(tmp_path, "postgresql://app:hunter2@127.0.0.1:1/chat")

    result = await _import("--chatbot", "any-bot", str(page), env=env)

    assert result.returncode == 1
    assert "postgresql://app:***@127.0.0.1:1/chat" in result.stderr
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr
