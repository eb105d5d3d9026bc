"""`/api/workspaces/{id}/api-keys/`: create, list and delete a workspace's API keys."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.apikeys import actions, repository
from chatbot.apikeys.repository import KeyRecord
from chatbot.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyOut
from chatbot.errors import NotFound
from chatbot.http.responses import json_response, no_content
from chatbot.http.routing import RouteTable
from chatbot.http.validation import read_json
from chatbot.storage.values import iso
from chatbot.workspaces.policy import require
from chatbot.workspaces.principal import current_principal
from chatbot.workspaces.roles import Action

TAG = "api-keys"
COLLECTION = "/api/workspaces/{workspace_id}/api-keys/"
ITEM = COLLECTION + "{key_id}/"


def key_out(record: KeyRecord) -> ApiKeyOut:
    return ApiKeyOut(
        id=record.id,
        name=record.name,
        hint=record.hint,
        created_at=iso(record.created_at) or "",
        last_used_at=iso(record.last_used_at),
    )


async def create_api_key(request: web.Request) -> web.Response:
    """Only owners and admins manage keys. The key is in this answer only: keep it safe."""
    workspace_id = request.match_info["workspace_id"]
    await require(request, workspace_id, Action.MANAGE)
    body = await read_json(request, ApiKeyCreate, strict=True)
    record, key = await actions.create_key(
        request.app, workspace_id, body.name, current_principal(request).user_id
    )
    created = ApiKeyCreated(**key_out(record).model_dump(), key=key)
    return json_response(created, status=201)


async def list_api_keys(request: web.Request) -> web.Response:
    """The workspace's keys with when each was last used; never the keys themselves."""
    workspace_id = request.match_info["workspace_id"]
    await require(request, workspace_id, Action.MANAGE)
    records = await repository.workspace_keys(request.app[keys.ENGINE], workspace_id)
    return json_response(ApiKeyList(items=[key_out(record) for record in records]))


async def delete_api_key(request: web.Request) -> web.Response:
    """The key stops working at once, on every instance."""
    workspace_id, key_id = request.match_info["workspace_id"], request.match_info["key_id"]
    await require(request, workspace_id, Action.MANAGE)
    if not await actions.delete_key(request.app, workspace_id, key_id):
        raise NotFound(f"no API key with id {key_id!r} in this workspace", code="api_key_not_found")
    return no_content()


def add_api_key_routes(routes: RouteTable) -> None:
    routes.add(
        "POST",
        COLLECTION,
        create_api_key,
        body=ApiKeyCreate,
        response=ApiKeyCreated,
        status=201,
        errors=(403, 404),
        summary="Create an API key for the workspace",
        tag=TAG,
    )
    routes.add(
        "GET",
        COLLECTION,
        list_api_keys,
        response=ApiKeyList,
        errors=(403, 404),
        summary="List the workspace's API keys",
        tag=TAG,
    )
    routes.add(
        "DELETE",
        ITEM,
        delete_api_key,
        status=204,
        errors=(403, 404),
        summary="Delete an API key; it stops working at once",
        tag=TAG,
    )
