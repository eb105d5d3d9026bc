"""`GET /static/widget.js`: the embed script, gzipped once per version of the file.

Every page of every site that embeds the widget downloads this file, so it is sent compressed
(about a third of its size) and revalidated cheaply: a weak ETag, and a short `max-age`
because the URL is not versioned and a new release must reach sites within minutes. The file
is read again only when its modification time or size changes.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from chatbot.http.routing import Handler, public

MAX_AGE_SECONDS = 300


@dataclass(frozen=True, slots=True)
class ScriptVersion:
    """One version of the file: its bytes, their gzip form and their ETag."""

    stamp: tuple[int, int]  # (mtime_ns, size) of the file it was read from
    body: bytes
    gzipped: bytes
    etag: str


def _stamp(path: Path) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size


def _load(path: Path) -> ScriptVersion:
    stamp = _stamp(path)
    body = path.read_bytes()
    etag = 'W/"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    return ScriptVersion(stamp, body, gzip.compress(body, compresslevel=9, mtime=0), etag)


class WidgetScript:
    """The widget file, kept in memory with its gzip form, reloaded when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._version: ScriptVersion | None = None

    async def current(self) -> ScriptVersion:
        """The file's current version; raises FileNotFoundError when it is missing."""
        stamp = await asyncio.to_thread(_stamp, self.path)
        version = self._version
        if version is None or version.stamp != stamp:
            # Compressing runs in a thread: the event loop keeps serving meanwhile.
            version = await asyncio.to_thread(_load, self.path)
            self._version = version
        return version


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an `Accept-Encoding` header allows gzip (`gzip;q=0` refuses it)."""
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() not in ("gzip", "*"):
            continue
        quality = params.strip().removeprefix("q=")
        try:
            return not params.strip() or float(quality) > 0
        except ValueError:
            return False
    return False


def widget_script_handler(script: WidgetScript) -> Handler:
    """The handler serving `script`: gzip when accepted, 304 when the ETag still matches."""

    @public
    async def widget_script(request: web.Request) -> web.StreamResponse:
        try:
            version = await script.current()
        except FileNotFoundError:
            raise web.HTTPNotFound(
                text=f"widget.js is missing from {script.path.parent}: check static_dir "
                "(`chatbot check` says what is wrong)\n"
            ) from None
        headers = {
            "ETag": version.etag,
            "Cache-Control": f"public, max-age={MAX_AGE_SECONDS}",
            "Vary": "Accept-Encoding",
        }
        if version.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        body = version.body
        if accepts_gzip(request.headers.get("Accept-Encoding", "")):
            body = version.gzipped
            headers["Content-Encoding"] = "gzip"
        return web.Response(
            body=body, content_type="application/javascript", charset="utf-8", headers=headers
        )

    return widget_script
