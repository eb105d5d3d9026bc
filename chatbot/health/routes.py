"""`GET /healthz` (the process serves) and `GET /readyz` (its dependencies answer)."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.health.probes import probe_database, probe_redis
from chatbot.http.responses import json_response
from chatbot.http.routing import RouteTable, public


@public
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@public
async def readyz(request: web.Request) -> web.Response:
    app = request.app
    timeout = app[keys.SETTINGS].dependency_timeout_seconds
    checks: dict[str, str] = {}
    database_problem = await probe_database(app[keys.ENGINE], timeout)
    checks["database"] = "ok" if database_problem is None else "unavailable"
    client = app[keys.REDIS]
    if client is None:
        checks["redis"] = "disabled"
    else:
        redis_problem = await probe_redis(client, timeout)
        healthy = (
            redis_problem is None
            and app[keys.BROKER].healthy
            and app[keys.RATE_LIMITER].status == "ok"
        )
        checks["redis"] = "ok" if healthy else "degraded"
    if database_problem is not None:
        body = {
            "status": "unavailable",
            "checks": checks,
            "error": {
                "code": "unavailable",
                "message": f"database unavailable: {database_problem}",
            },
        }
        return json_response(body, status=503)
    return json_response({"status": "ok", "checks": checks})


def add_health_routes(routes: RouteTable) -> None:
    routes.add("GET", "/healthz", healthz, tag="health", summary="The process serves")
    routes.add(
        "GET", "/readyz", readyz, tag="health", summary="Database and Redis answer", errors=(503,)
    )
