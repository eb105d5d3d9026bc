"""`/static/...` (widget, dashboard assets, API docs) and `GET /demo/{slug}/`."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from chatbot import keys
from chatbot.chatbots.lookup import chatbot_by_slug
from chatbot.http.routing import RouteTable, public
from chatbot.pages import public_origin
from chatbot.static_files import static_dir
from chatbot.widget.script import WidgetScript, widget_script_handler


@public
async def demo_page(request: web.Request) -> web.StreamResponse:
    chatbot = await chatbot_by_slug(request.app, request.match_info["slug"])
    if chatbot is None:
        raise web.HTTPNotFound(text="No chatbot with that name here.\n")
    context = {
        "slug": chatbot.slug,
        "chatbot_name": chatbot.name,
        "widget_url": f"{public_origin(request)}/static/widget.js",
    }
    response = aiohttp_jinja2.render_template("demo.html", request, context)
    response.headers["Cache-Control"] = "no-store"
    return response


def add_widget_routes(routes: RouteTable) -> None:
    routes.add(
        "GET",
        "/demo/{slug}",
        demo_page,
        tag="widget",
        in_schema=False,
        summary="A page with the widget embedded for that chatbot",
    )


def setup_static(app: web.Application) -> None:
    """Serve `static/` under `/static/`, with ETag and Last-Modified revalidation, and the
    widget script compressed (registered first, so that it wins over the folder)."""
    folder = static_dir(app[keys.SETTINGS])
    app.router.add_get(
        "/static/widget.js", widget_script_handler(WidgetScript(folder / "widget.js"))
    )
    app.router.add_static("/static/", folder, name="static")
