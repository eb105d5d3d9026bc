"""Where the static files (widget, dashboard scripts, API docs page) are served from."""

from __future__ import annotations

from pathlib import Path

from chatbot.config import Settings

_PACKAGE = Path(__file__).resolve().parent
# An installed wheel carries them as chatbot/static (see setup.py); a checkout, or an editable
# install of one, keeps them in the repository's top-level static/ folder.
_INSTALLED_STATIC = _PACKAGE / "static"
_CHECKOUT_STATIC = _PACKAGE.parent / "static"


def static_dir(settings: Settings) -> Path:
    """The configured folder, else the copy installed with the package, else the checkout's."""
    if settings.static_dir:
        return Path(settings.static_dir)
    if _INSTALLED_STATIC.is_dir():
        return _INSTALLED_STATIC
    return _CHECKOUT_STATIC
