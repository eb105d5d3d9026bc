"""`chatbot check`: each dependency and setting checked, with what to do when one fails."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chatbot.config import ConfigError, Settings, load_settings, mask_url
from chatbot.exposure import metrics_problem, private_addresses_problem
from chatbot.health.probes import describe_exception, probe_database, probe_redis
from chatbot.static_files import static_dir
from chatbot.storage.engine import create_engine
from chatbot.storage.migrations import current_revision, head_revision

REQUIRED_STATIC_FILES = ("widget.js",)


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok", "warn", "fail" or "skip"
    detail: str

    @property
    def failed(self) -> bool:
        return self.status == "fail"


async def run_checks(config_file: Path | None) -> list[Check]:
    try:
        settings = load_settings(config_file)
    except ConfigError as exc:
        return [Check("config", "fail", str(exc))]
    results = [Check("config", "ok", f"environment {settings.env}")]
    results += await _database_checks(settings)
    results.append(await _redis_check(settings))
    results.append(_secret_key_check(settings))
    results += _exposure_checks(settings)
    results.append(_static_check(settings))
    return results


async def _database_checks(settings: Settings) -> list[Check]:
    url = mask_url(settings.database_url)
    engine = create_engine(settings.database_url, connect_timeout=settings.startup_timeout_seconds)
    try:
        problem = await probe_database(engine, settings.startup_timeout_seconds)
        if problem is not None:
            return [
                Check(
                    "database", "fail", f"{url}: {problem}; start it or fix CHATBOT_DATABASE_URL"
                ),
                Check("migrations", "skip", "needs the database"),
            ]
        reachable = Check("database", "ok", url)
        try:
            current, head = await current_revision(engine), head_revision()
        except Exception as exc:
            return [reachable, Check("migrations", "fail", describe_exception(exc))]
        if current == head:
            return [reachable, Check("migrations", "ok", f"at {head}")]
        return [
            reachable,
            Check(
                "migrations",
                "fail",
                f"database at {current or 'no revision'}, code at {head}: run `chatbot migrate` "
                "(`chatbot serve` also migrates at start)",
            ),
        ]
    finally:
        await engine.dispose()


async def _redis_check(settings: Settings) -> Check:
    if not settings.redis_enabled:
        return Check("redis", "ok", "disabled: in-process backends, one instance")
    from chatbot.resources import _redis_client

    client = _redis_client(settings)
    try:
        problem = await probe_redis(client, settings.startup_timeout_seconds)
    finally:
        await client.aclose()
    url = mask_url(settings.redis_url)
    if problem is None:
        return Check("redis", "ok", url)
    return Check(
        "redis",
        "fail",
        f"{url}: {problem}; start Redis or fix CHATBOT_REDIS_URL (or leave it empty)",
    )


def _secret_key_check(settings: Settings) -> Check:
    problem = settings.secret_key_problem()
    if problem is None:
        return Check("secret key", "ok", "long enough and not the default")
    status = "fail" if settings.env == "production" else "warn"
    return Check(
        "secret key",
        status,
        f"{problem}: set CHATBOT_SECRET_KEY to 32+ random bytes before going to production",
    )


def _exposure_checks(settings: Settings) -> list[Check]:
    metrics = metrics_problem(settings)
    private = private_addresses_problem(settings)
    return [
        Check("metrics", "warn", metrics) if metrics else Check("metrics", "ok", "needs the token"),
        Check("private addresses", "warn", private)
        if private
        else Check("private addresses", "ok", "brains may not call private addresses"),
    ]


def _static_check(settings: Settings) -> Check:
    folder = static_dir(settings)
    missing = [name for name in REQUIRED_STATIC_FILES if not (folder / name).is_file()]
    if missing:
        return Check(
            "static files",
            "fail",
            f"{', '.join(missing)} missing in {folder}: set static_dir to a folder that has "
            "them, or reinstall the package",
        )
    return Check("static files", "ok", str(folder))


def render_checks(results: list[Check], write: Callable[[str], object]) -> None:
    """Print the checks as a table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="chatbot check", show_lines=False)
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    colours = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}
    for result in results:
        table.add_row(result.name, f"[{colours[result.status]}]{result.status}", result.detail)
    console = Console(width=140, record=True, force_terminal=False)
    with console.capture() as capture:
        console.print(table)
    write(capture.get())
