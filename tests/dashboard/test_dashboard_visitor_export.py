"""The conversation view's Export button: the visitor's data as a JSON download."""

from __future__ import annotations

import pytest
from visitor_support import visitor_says

from .dashboard_support import create_chatbot, sign_up
from conftest import AppClient, ClientFactory


@pytest.fixture
async def client(make_client: ClientFactory, database_url: str) -> AppClient:
    """The app on this test's database (SQLite, then PostgreSQL)."""
    return await make_client(database_url=database_url, brains={"semantic": False})


@pytest.fixture
async def slug(client: AppClient) -> str:
    await sign_up(client)
    chatbot_id = await create_chatbot(client, "Echo", brain_type="echo", greeting="")
    page = await (await client.get(f"/dashboard/chatbots/{chatbot_id}/")).text()
    return page.split('id="f-slug" name="slug" type="text" value="', 1)[1].split('"', 1)[0]


async def test_the_export_button_downloads_the_visitors_data(client: AppClient, slug: str) -> None:
    conversation_id = await visitor_says(client, slug, ["Where is my parcel?"])
    other = await visitor_says(client, slug, ["Someone else"])
    export_path = f"/dashboard/conversations/{conversation_id}/export/"

    page = await (await client.get(f"/dashboard/conversations/{conversation_id}/")).text()
    assert f'href="{export_path}" download' in page
    assert ">Export</a>" in page

    response = await client.get(export_path)
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    visitor_id = body["visitor_id"]
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="visitor-{visitor_id}.json"'
    )
    [conversation] = body["conversations"]
    assert conversation["id"] == conversation_id
    texts = [message["text"] for message in conversation["messages"]]
    assert texts == ["Where is my parcel?", "Where is my parcel?"]
    assert "Someone else" not in await response.text()
    other_export = await (await client.get(f"/dashboard/conversations/{other}/export/")).json()
    assert other_export["visitor_id"] != visitor_id


async def test_another_owners_or_an_unknown_conversation_has_nothing_to_export(
    client: AppClient, slug: str, make_client: ClientFactory, database_url: str
) -> None:
    conversation_id = await visitor_says(client, slug, ["Private matter"])
    stranger = await make_client(database_url=database_url, brains={"semantic": False})
    await sign_up(stranger)
    for who, path in (
        (stranger, f"/dashboard/conversations/{conversation_id}/export/"),
        (client, "/dashboard/conversations/nope/export/"),
    ):
        response = await who.get(path)
        assert response.status == 404
        assert "Private matter" not in await response.text()
    logged_out = await make_client(database_url=database_url, brains={"semantic": False})
    response = await logged_out.get(
        f"/dashboard/conversations/{conversation_id}/export/", allow_redirects=False
    )
    assert response.status in (302, 303)
    assert "/dashboard/login/" in response.headers["Location"]
