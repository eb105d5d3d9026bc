"""The real `chatbot` command: start-up failures, concurrent starts, `migrate` and `check`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from conftest import create_postgres_database, drop_postgres_database
from support import ServerProcess, free_port, run_cli

pytestmark = pytest.mark.slow


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "CHATBOT_DATABASE_URL": f"sqlite:///{tmp_path}/chatbot.db",
        "CHATBOT_REDIS_URL": "",
        "CHATBOT_CONFIG": str(tmp_path / "none.yaml"),
        **extra,
    }


@pytest.fixture(autouse=True)
def _no_config_file(tmp_path: Path) -> None:
    (tmp_path / "none.yaml").write_text("{}\n")


@pytest.mark.parametrize(
    ("variable", "url", "named"),
    [
        ("CHATBOT_REDIS_URL", "redis://127.0.0.1:1/0", "redis://127.0.0.1:1/0"),
        (
            "CHATBOT_DATABASE_URL",
            "postgresql://app:hunter2@127.0.0.1:1/chat",
            "postgresql://app:***@127.0.0.1:1/chat",
        ),
    ],
)
def test_serve_exits_quickly_with_one_readable_line_when_a_dependency_is_unreachable(
    tmp_path: Path, variable: str, url: str, named: str
) -> None:
    started = time.monotonic()
    result = run_cli("serve", "--port", str(free_port()), env=_env(tmp_path, **{variable: url}))
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    # A refused connection fails at once; the bound only catches a start that waits for the
    # whole startup timeout (8 s) more than once or retries forever, so it is generous.
    assert elapsed < 20
    lines = [line for line in result.stderr.splitlines() if line.startswith("chatbot:")]
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_a_bad_setting_with_one_line(tmp_path: Path) -> None:
    result = run_cli("serve", env=_env(tmp_path, CHATBOT_PORT="eighty"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "CHATBOT_PORT" in result.stderr


async def test_two_instances_starting_together_on_one_empty_postgres_database_both_serve(
    tmp_path: Path,
) -> None:
    url = await create_postgres_database(migrated=False)
    servers = [ServerProcess(_env(tmp_path, CHATBOT_DATABASE_URL=url)) for _ in range(2)]
    try:
        for index, server in enumerate(servers):
            server.start(tmp_path / f"server{index}.log")
        await asyncio.gather(*(server.wait_ready() for server in servers))
        logs = [server.output() for server in servers]
        assert sum(log.count("database migrated from empty") for log in logs) == 1, logs
    finally:
        for server in servers:
            server.stop()
        await drop_postgres_database(url)


def test_migrate_applies_pending_migrations_once(tmp_path: Path) -> None:
    first = run_cli("migrate", env=_env(tmp_path))
    assert first.returncode == 0, first.stderr
    assert "migrated from empty" in first.stdout
    again = run_cli("migrate", env=_env(tmp_path))
    assert again.returncode == 0
    assert "already at" in again.stdout


def test_migrate_reports_an_unreachable_database_in_one_line(tmp_path: Path) -> None:
    result = run_cli(
        "migrate", env=_env(tmp_path, CHATBOT_DATABASE_URL="postgresql://x:pw@127.0.0.1:1/db")
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "x:***@127.0.0.1:1" in result.stderr


def _check_rows(output: str) -> dict[str, str]:
    rows: dict[str, str] = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip("│ ").split("│")]
        if len(cells) >= 2 and cells[1] in {"ok", "warn", "fail", "skip"}:
            rows[cells[0]] = cells[1]
    return rows


def test_check_passes_on_a_healthy_setup(tmp_path: Path) -> None:
    assert run_cli("migrate", env=_env(tmp_path)).returncode == 0
    result = run_cli("check", env=_env(tmp_path))
    assert result.returncode == 0, result.stdout
    assert _check_rows(result.stdout) == {
        "config": "ok",
        "database": "ok",
        "migrations": "ok",
        "redis": "ok",
        "secret key": "warn",
        "metrics": "warn",  # public in development, without a token
        "private addresses": "ok",
        "static files": "ok",
    }


async def test_check_passes_with_postgres_and_redis(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    env = _env(
        tmp_path,
        CHATBOT_DATABASE_URL=postgres_url,
        CHATBOT_REDIS_URL=redis_url,
        CHATBOT_SECRET_KEY="s" * 40,
        CHATBOT_METRICS_TOKEN="scrape-secret",
    )
    result = await asyncio.to_thread(run_cli, "check", env=env)
    assert result.returncode == 0, result.stdout
    assert set(_check_rows(result.stdout).values()) == {"ok"}


@pytest.mark.parametrize(
    ("extra", "failing", "hint"),
    [
        ({"CHATBOT_PORT": "eighty"}, "config", "CHATBOT_PORT"),
        (
            {"CHATBOT_ENV": "production", "CHATBOT_SECRET_KEY": "short"},
            "config",
            "CHATBOT_SECRET_KEY",
        ),
        (
            {"CHATBOT_DATABASE_URL": "postgresql://u@127.0.0.1:1/db"},
            "database",
            "CHATBOT_DATABASE_URL",
        ),
        ({"CHATBOT_REDIS_URL": "redis://127.0.0.1:1/0"}, "redis", "CHATBOT_REDIS_URL"),
        ({"CHATBOT_STATIC_DIR": "EMPTY"}, "static files", "widget.js"),
        ({"MIGRATE": "no"}, "migrations", "chatbot migrate"),
    ],
)
def test_check_fails_naming_each_broken_dependency_and_the_fix(
    tmp_path: Path, extra: dict[str, str], failing: str, hint: str
) -> None:
    extra = dict(extra)
    if extra.pop("MIGRATE", "yes") == "yes":
        assert run_cli("migrate", env=_env(tmp_path)).returncode == 0
    if extra.get("CHATBOT_STATIC_DIR") == "EMPTY":
        (tmp_path / "empty").mkdir()
        extra["CHATBOT_STATIC_DIR"] = str(tmp_path / "empty")
    result = run_cli("check", env=_env(tmp_path, **extra))
    assert result.returncode == 1
    rows = _check_rows(result.stdout)
    assert rows[failing] == "fail", result.stdout
    assert hint in " ".join(result.stdout.split()), result.stdout


def test_check_in_production_warns_about_metrics_without_a_token_and_private_addresses(
    tmp_path: Path,
) -> None:
    assert run_cli("migrate", env=_env(tmp_path)).returncode == 0
    production = _env(tmp_path, CHATBOT_ENV="production", CHATBOT_SECRET_KEY="k" * 40)
    exposed = {**production, "CHATBOT_BRAINS__ALLOW_PRIVATE_BASE_URLS": "true"}
    result = run_cli("check", env=exposed)
    assert result.returncode == 0, result.stdout  # warnings, not failures
    rows = _check_rows(result.stdout)
    assert rows["metrics"] == rows["private addresses"] == "warn", result.stdout
    text = " ".join(result.stdout.split())
    assert "CHATBOT_METRICS_TOKEN" in text
    assert "allow_private_base_urls" in text

    guarded = run_cli("check", env={**production, "CHATBOT_METRICS_TOKEN": "scrape-secret"})
    rows = _check_rows(guarded.stdout)
    assert rows["metrics"] == rows["private addresses"] == "ok", guarded.stdout


@pytest.mark.parametrize("key", [None, "dev-insecure-secret-key-change-me-in-production", "short"])
def test_check_and_serve_in_production_refuse_the_default_or_a_short_key(
    tmp_path: Path, key: str | None
) -> None:
    env = _env(tmp_path, CHATBOT_ENV="production")
    if key is not None:
        env["CHATBOT_SECRET_KEY"] = key
    check = run_cli("check", env=env)
    assert check.returncode == 1
    assert _check_rows(check.stdout)["config"] == "fail", check.stdout
    assert "CHATBOT_SECRET_KEY" in " ".join(check.stdout.split())
    serve = run_cli("serve", "--port", str(free_port()), env=env)
    assert serve.returncode == 1
    assert serve.stderr.count("\n") == 1, serve.stderr  # one line
    assert "CHATBOT_SECRET_KEY" in serve.stderr


@pytest.mark.slow
@pytest.mark.parametrize(("host", "warned"), [("0.0.0.0", True), ("127.0.0.1", False)])
async def test_serve_warns_loudly_when_the_development_key_listens_beyond_loopback(
    tmp_path: Path, host: str, warned: bool
) -> None:
    server = ServerProcess(_env(tmp_path), args=("--host", host))
    server.start(tmp_path / "server.log")
    try:
        await server.wait_ready(timeout=45)
    finally:
        server.stop()
    insecure = [line for line in server.output().splitlines() if "INSECURE" in line]
    if warned:
        assert len(insecure) == 1, server.output()
        assert "WARNING" in insecure[0]
        assert "CHATBOT_SECRET_KEY" in insecure[0]
        assert "0.0.0.0" in insecure[0]
    else:
        assert insecure == []
