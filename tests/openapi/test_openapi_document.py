"""The OpenAPI 3.1 document: generated from the route table, once, for every feature."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from chatbot import keys
from chatbot.http.routing import RouteTable, public
from chatbot.openapi.generator import BEARER_DESCRIPTION, build_openapi, openapi_path
from chatbot.openapi.routes import OPENAPI_DOCUMENT

from conftest import AppClient


class ThingCreate(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    tags: list[str] = []


class ThingOut(BaseModel):
    id: str
    name: str


class ThingQuery(BaseModel):
    after: int = Field(default=0, ge=0)
    q: str | None = None


async def handler(request: web.Request) -> web.Response:
    """Does a thing."""
    return web.Response()


@public
async def public_handler(request: web.Request) -> web.Response:
    return web.Response()


def feature_routes() -> RouteTable:
    """Routes as a future feature would add them."""
    routes = RouteTable()
    routes.add(
        "POST",
        "/api/things/",
        handler,
        body=ThingCreate,
        response=ThingOut,
        status=201,
        errors=(409,),
        summary="Create a thing",
        tag="things",
    )
    routes.add(
        "GET",
        "/api/things/{thing_id}",
        handler,
        response=ThingOut,
        query=ThingQuery,
        name="get_thing",
        tag="things",
    )
    routes.add("DELETE", r"/api/things/{thing_id:[0-9a-f-]+}/", handler, status=204)
    routes.add("GET", "/api/public/", public_handler, extra={"openapi": {"deprecated": True}})
    routes.add("GET", "/api/hidden/", handler, in_schema=False)
    return routes


def document() -> dict[str, Any]:
    return build_openapi(feature_routes().routes, title="t", version="1")


def test_paths_use_openapi_templates_with_the_trailing_slash() -> None:
    assert set(document()["paths"]) == {"/api/things/", "/api/things/{thing_id}/", "/api/public/"}
    assert openapi_path(r"/a/{id:\d+}/b/{name}/") == "/a/{id}/b/{name}/"


def test_request_bodies_and_responses_come_from_the_pydantic_models() -> None:
    doc = document()
    create = doc["paths"]["/api/things/"]["post"]
    body_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref == "#/components/schemas/ThingCreate"
    assert create["requestBody"]["required"] is True
    assert doc["components"]["schemas"]["ThingCreate"] == {
        **ThingCreate.model_json_schema(),
        "title": "ThingCreate",
    }
    success = create["responses"]["201"]["content"]["application/json"]["schema"]
    assert success == {"$ref": "#/components/schemas/ThingOut"}
    assert create["summary"] == "Create a thing"
    assert create["tags"] == ["things"]


def test_error_answers_are_documented_with_the_error_schema() -> None:
    doc = document()
    create = doc["paths"]["/api/things/"]["post"]["responses"]
    # Body validation, authentication, rate limiting, and what the route declares.
    assert {"400", "401", "409", "413", "422", "429"} <= set(create)
    for status in ("400", "401", "409", "413", "422", "429"):
        schema = create[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}
    assert create["429"]["headers"]["Retry-After"]["required"] is True
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message"]


def test_path_and_query_parameters_are_documented() -> None:
    operation = document()["paths"]["/api/things/{thing_id}/"]["get"]
    parameters = {(p["in"], p["name"]): p for p in operation["parameters"]}
    assert parameters[("path", "thing_id")]["required"] is True
    assert parameters[("query", "after")]["required"] is False
    assert parameters[("query", "after")]["schema"]["minimum"] == 0
    assert ("query", "q") in parameters
    assert "404" in operation["responses"]
    assert "422" in operation["responses"]


def test_no_content_answers_have_no_body_and_ids_are_unique() -> None:
    doc = document()
    delete = doc["paths"]["/api/things/{thing_id}/"]["delete"]
    assert delete["responses"]["204"] == {"description": "No Content"}
    ids = [op["operationId"] for path in doc["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))


def test_security_is_bearer_except_on_public_routes() -> None:
    doc = document()
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": BEARER_DESCRIPTION,
    }
    assert doc["security"] == [{"bearerAuth": []}]
    public_operation = doc["paths"]["/api/public/"]["get"]
    assert public_operation["security"] == []
    assert "401" not in public_operation["responses"]
    assert public_operation["deprecated"] is True
    assert "security" not in doc["paths"]["/api/things/"]["post"]


async def test_the_served_document_covers_every_route_of_the_table(client: AppClient) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    doc = await response.json()
    assert doc["openapi"] == "3.1.0"
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    expected = {
        (route.method, openapi_path(route.path))
        for route in client.app[keys.ROUTES].routes
        if route.in_schema
    }
    assert documented == expected
    assert ("POST", "/auth/login/") in documented
    assert doc["paths"]["/auth/login/"]["post"]["security"] == []
    assert "security" not in doc["paths"]["/auth/me/"]["get"]
    login_body = doc["components"]["schemas"]["LoginBody"]
    assert login_body["properties"]["email"]["format"] == "email"
    assert set(login_body["required"]) == {"email", "password"}


async def test_the_document_is_built_once_at_startup(client: AppClient) -> None:
    built = client.app[OPENAPI_DOCUMENT]
    first = await (await client.get("/api/openapi.json")).read()
    second = await (await client.get("/api/openapi.json/")).read()
    assert first == second == built
    assert client.app[OPENAPI_DOCUMENT] is built
