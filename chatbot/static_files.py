"""Where the static files (widget, dashboard scripts, API docs page) are served from."""

from __future__ import annotations

from pathlib import Path

from chatbot.config import Settings

_CHECKOUT_STATIC = Path(__file__).resolve().parent.parent / "static"


def static_dir(settings: Settings) -> Path:
    """The configured folder, else the checkout's `static/`, else `./static`."""
    if settings.static_dir:
        return Path(settings.static_dir)
    if _CHECKOUT_STATIC.is_dir():
        return _CHECKOUT_STATIC
    return Path("static").resolve()
