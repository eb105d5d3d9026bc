"""The inbox and the conversation view, on SQLite and PostgreSQL, fed by real visitors."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from visitor_support import visitor_says

from .dashboard_support import (
    XSS_IMG,
    XSS_SCRIPT,
    create_chatbot,
    sign_up,
)
from conftest import AppClient, ClientFactory

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def client(make_client: ClientFactory, database_url: str) -> AppClient:
    """The app on this test's database (SQLite, then PostgreSQL)."""
    return await make_client(database_url=database_url, brains={"semantic": False})


async def slug_of(client: AppClient, chatbot_id: str) -> str:
    page = await (await client.get(f"/dashboard/chatbots/{chatbot_id}/")).text()
    return page.split('id="f-slug" name="slug" type="text" value="', 1)[1].split('"', 1)[0]


def _acknowledges(frame: dict[str, Any], client_id: str) -> bool:
    message = frame.get("message") or {}
    return frame["type"] == "message" and message.get("client_id") == client_id


async def inbox_items(client: AppClient, query: str = "") -> list[dict[str, Any]]:
    response = await client.get("/dashboard/inbox/data/" + query)
    assert response.status == 200, await response.text()
    items: list[dict[str, Any]] = (await response.json())["items"]
    return items


@pytest.fixture
async def slug(client: AppClient) -> str:
    await sign_up(client)
    chatbot_id = await create_chatbot(client, "Echo", brain_type="echo", greeting="")
    return await slug_of(client, chatbot_id)


async def test_the_inbox_lists_conversations_newest_first_with_their_latest_message(
    client: AppClient, slug: str
) -> None:
    first = await visitor_says(client, slug, ["Hello there"])
    second = await visitor_says(client, slug, ["Where is my parcel?"])

    items = await inbox_items(client)

    assert [item["id"] for item in items] == [second, first]
    assert items[0]["last_message"] == {"role": "bot", "text": "Where is my parcel?", "seq": 2}
    assert items[0]["chatbot_name"] == "Echo"
    page = await (await client.get("/dashboard/inbox/")).text()
    assert ">Inbox</a>" in page
    assert page.index("Where is my parcel?") < page.index("Hello there")


async def test_a_conversation_without_a_visitor_message_is_not_listed(
    client: AppClient, slug: str
) -> None:
    async with client.ws_connect(f"/ws/chat/public/{slug}/") as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "welcome"

    assert await inbox_items(client) == []
    assert "No conversations yet" in await (await client.get("/dashboard/inbox/")).text()


async def test_search_matches_any_message_case_insensitively_and_literally(
    client: AppClient, slug: str
) -> None:
    parcel = await visitor_says(client, slug, ["Where is my PARCEL?", "Thanks"])
    percent = await visitor_says(client, slug, ["Is there 100% cotton?"])
    await visitor_says(client, slug, ["Hello"])

    assert [item["id"] for item in await inbox_items(client, "?q=parcel")] == [parcel]
    assert [item["id"] for item in await inbox_items(client, "?q=100%25")] == [percent]
    assert await inbox_items(client, "?q=_") == []
    page = await (await client.get("/dashboard/inbox/?q=parcel")).text()
    assert 'value="parcel"' in page
    assert "Thanks" in page  # the row shows the latest message, whichever one matched


async def test_the_inbox_filters_by_status_and_chatbot(client: AppClient, slug: str) -> None:
    # A knowledge chatbot without knowledge answers with the fallback and asks for a person.
    other = await create_chatbot(client, "Other", greeting="")
    waiting = await visitor_says(client, await slug_of(client, other), ["Help me"])
    mine = await visitor_says(client, slug, ["Hi"])

    by_status = await inbox_items(client, "?status=waiting_for_human")
    by_chatbot = await inbox_items(client, f"?chatbot={other}")

    assert [item["id"] for item in by_status] == [waiting]
    assert [item["id"] for item in by_chatbot] == [waiting]
    assert {item["id"] for item in await inbox_items(client)} == {waiting, mine}


async def test_unusable_inbox_queries_show_a_note_and_everything_else(
    client: AppClient, slug: str
) -> None:
    await visitor_says(client, slug, ["Hi"])

    page = await client.get("/dashboard/inbox/?status=lost&q=" + "x" * 300)

    assert page.status == 200
    text = html.unescape(await page.text())
    assert "Unknown status 'lost'" in text
    assert "limited to 200 characters" in text


async def test_the_conversation_view_shows_the_history_and_the_operator_controls(
    client: AppClient, slug: str
) -> None:
    conversation_id = await visitor_says(client, slug, ["First question", "Second question"])

    response = await client.get(f"/dashboard/conversations/{conversation_id}/")

    page = await response.text()
    texts = ["First question", "Second question"]
    positions = [page.index(f'<p class="message-text">{text}</p>') for text in texts]
    assert positions == sorted(positions)
    assert page.count('data-message-role="bot"') == 2
    for label in ("Take over", "Release", "Close"):
        assert f">{label}</button>" in page
    assert 'data-role="reply-text"' in page
    config = json.loads(page.split('id="inbox-config">', 1)[1].split("</script>", 1)[0])
    assert config["open"] == {
        "id": conversation_id,
        "status": "bot",
        "last_seq": 4,
        "assignee": None,
    }


async def test_another_owners_conversation_is_not_found_and_not_listed(
    client: AppClient, slug: str, make_client: ClientFactory, database_url: str
) -> None:
    conversation_id = await visitor_says(client, slug, ["Private matter"])
    stranger = await make_client(database_url=database_url, brains={"semantic": False})
    await sign_up(stranger)

    response = await stranger.get(f"/dashboard/conversations/{conversation_id}/")

    assert response.status == 404
    assert await inbox_items(stranger) == []
    assert await inbox_items(stranger, "?q=Private") == []


async def test_visitor_text_is_shown_as_text_in_the_inbox_and_the_conversation(
    client: AppClient, slug: str
) -> None:
    payload = f"{XSS_IMG}{XSS_SCRIPT}"
    conversation_id = await visitor_says(client, slug, [payload])

    for path in ("/dashboard/inbox/", f"/dashboard/conversations/{conversation_id}/"):
        page = await (await client.get(path)).text()
        assert XSS_IMG not in page
        assert XSS_SCRIPT not in page
        assert html.escape(XSS_IMG, quote=False) in page


async def test_the_page_config_cannot_be_broken_out_of(client: AppClient) -> None:
    await sign_up(client)
    await create_chatbot(client, f"</script>{XSS_SCRIPT}")

    page = await (await client.get("/dashboard/inbox/")).text()

    config = page.split('id="inbox-config">', 1)[1].split("</script>", 1)[0]
    assert "<" not in config
    assert f"</script>{XSS_SCRIPT}" in json.loads(config)["chatbots"].values()


async def test_a_long_conversation_shows_its_latest_thousand_messages(
    make_client: ClientFactory, database_url: str
) -> None:
    client = await make_client(
        database_url=database_url,
        brains={"semantic": False},
        rate_limits={"visitor_messages": "2000/minute"},  # 1,005 messages in a few seconds
    )
    await sign_up(client)
    # Without knowledge the bot answers the first message with the fallback and hands the
    # conversation to a person; from then on only the visitor writes.
    chatbot_id = await create_chatbot(client, greeting="")
    slug = await slug_of(client, chatbot_id)
    async with client.ws_connect(f"/ws/chat/public/{slug}/") as ws:
        conversation_id = (await ws.receive_json(timeout=5))["conversation_id"]
        for number in range(1, 1006):
            await ws.send_json(
                {"type": "message", "text": f"message {number}", "client_id": f"c{number}"}
            )
            # Each acknowledged before the next; the first also waits for the handoff.
            while not _acknowledges(await ws.receive_json(timeout=10), f"c{number}"):
                pass
            if number == 1:
                while (await ws.receive_json(timeout=10)).get("status") != "waiting_for_human":
                    pass

    page = await (await client.get(f"/dashboard/conversations/{conversation_id}/")).text()

    assert page.count('class="message role-visitor"') == 1000
    assert ">message 1005</p>" in page
    assert ">message 5</p>" not in page
