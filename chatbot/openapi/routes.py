"""`GET /api/openapi.json` (built once, at startup) and the `/api/docs` page (our own files)."""

from __future__ import annotations

import json

from aiohttp import web

import chatbot
from chatbot import keys
from chatbot.errors import NotFound
from chatbot.http.routing import RouteTable, public
from chatbot.openapi.generator import build_openapi
from chatbot.static_files import static_dir

DESCRIPTION = (
    "REST API of the chatbot server. Authenticate with `Authorization: Bearer <access token>` "
    'from `POST /auth/login/`. Errors are `{"error": {"code", "message"}}`.'
)
# The page's files; anything else under /api/docs/ is a 404, never a file-system lookup.
DOCS_ASSETS = {"docs.js": "text/javascript", "docs.css": "text/css"}
# The page loads only its own files and the document: nothing from elsewhere runs in it.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

OPENAPI_DOCUMENT = web.AppKey("openapi_document", bytes)


async def build_document(app: web.Application) -> None:
    """Generate the document once the route table is complete (on startup)."""
    document = build_openapi(
        app[keys.ROUTES].routes,
        title="chatbot",
        version=chatbot.__version__,
        description=DESCRIPTION,
    )
    app[OPENAPI_DOCUMENT] = json.dumps(document, ensure_ascii=False).encode()


@public
async def openapi_document(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_DOCUMENT], content_type="application/json")


def _docs_file(request: web.Request, name: str, content_type: str) -> web.FileResponse:
    path = static_dir(request.app[keys.SETTINGS]) / "docs" / name
    if not path.is_file():
        raise NotFound(f"the API docs page is not installed: {path} is missing")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": content_type,
            "Content-Security-Policy": _CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        },
    )


@public
async def api_docs(request: web.Request) -> web.FileResponse:
    return _docs_file(request, "index.html", "text/html; charset=utf-8")


@public
async def api_docs_asset(request: web.Request) -> web.FileResponse:
    name = request.match_info["asset"]
    content_type = DOCS_ASSETS.get(name)
    if content_type is None:
        raise NotFound(f"the API docs page has no file named {name!r}")
    return _docs_file(request, name, content_type)


def setup_openapi(app: web.Application, routes: RouteTable) -> None:
    """Add the document and docs routes; the document is built when the app starts."""
    routes.add("GET", "/api/openapi.json", openapi_document, in_schema=False, tag="docs")
    routes.add("GET", "/api/docs/", api_docs, in_schema=False, tag="docs")
    routes.add("GET", "/api/docs/{asset}", api_docs_asset, in_schema=False, tag="docs")
    app.on_startup.append(build_document)
