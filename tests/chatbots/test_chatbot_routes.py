"""`/api/chatbots/`: create, list, read, update and delete, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from chatbot_support import Account, error_of, new_chatbot, signup

from chatbot.chatbots.lookup import chatbot_by_slug
from chatbot.chatbots.schemas import DEFAULT_GREETING

from conftest import AppClient, ClientFactory


@pytest.fixture
async def api(make_client: ClientFactory, database_url: str) -> AppClient:
    """The app on SQLite, then on PostgreSQL."""
    return await make_client(database_url=database_url)


@pytest.fixture
async def owner(api: AppClient) -> Account:
    return await signup(api)


async def test_a_name_alone_makes_a_knowledge_chatbot_with_a_slug_greeting_and_snippet(
    api: AppClient, owner: Account
) -> None:
    bot = await new_chatbot(api, owner, name="Café Support!")

    assert bot["slug"] == "cafe-support"
    assert bot["name"] == "Café Support!"
    assert bot["greeting"] == DEFAULT_GREETING
    assert bot["allowed_origins"] == []
    assert bot["brain"] == {"type": "knowledge"}
    assert bot["theme"] == {
        "title": None,
        "primary_color": "#2563eb",
        "position": "right",
        "avatar_url": None,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", bot["created_at"])
    host = f"http://{api.host}:{api.port}"
    assert bot["embed_snippet"] == (
        f'<script src="{host}/static/widget.js" data-chatbot="cafe-support" async></script>'
    )
    assert bot["demo_url"] == f"{host}/demo/cafe-support/"


async def test_generated_slugs_take_a_numbered_suffix_when_the_name_is_taken(
    api: AppClient, owner: Account
) -> None:
    slugs = [(await new_chatbot(api, owner, name="Help Desk"))["slug"] for _ in range(3)]
    other = await signup(api, "Bob")
    slugs.append((await new_chatbot(api, other, name="help desk"))["slug"])

    assert slugs == ["help-desk", "help-desk-2", "help-desk-3", "help-desk-4"]


async def test_short_or_symbol_only_names_still_get_a_valid_slug(
    api: AppClient, owner: Account
) -> None:
    assert (await new_chatbot(api, owner, name="Q"))["slug"] == "q-bot"
    assert (await new_chatbot(api, owner, name="!!!"))["slug"] == "chatbot"
    long = await new_chatbot(api, owner, name="word " * 40)
    assert 3 <= len(long["slug"]) <= 64


async def test_a_chosen_slug_that_is_taken_answers_409_slug_taken_even_across_users(
    api: AppClient, owner: Account
) -> None:
    await new_chatbot(api, owner, slug="acme-help")
    other = await signup(api, "Bob")

    response = await api.post(
        "/api/chatbots/", json={"name": "Mine", "slug": "acme-help"}, headers=other.headers
    )

    error = await error_of(response, 409)
    assert error["code"] == "slug_taken"
    assert "acme-help" in error["message"]
    listed = await (await api.get("/api/chatbots/", headers=other.headers)).json()
    assert listed["items"] == []


async def test_greeting_omitted_is_the_default_and_empty_means_none(
    api: AppClient, owner: Account
) -> None:
    silent = await new_chatbot(api, owner, greeting="")
    custom = await new_chatbot(api, owner, greeting="  Welcome to Acme!  ")
    null = await new_chatbot(api, owner, greeting=None)

    assert silent["greeting"] == ""
    assert custom["greeting"] == "Welcome to Acme!"
    assert null["greeting"] == DEFAULT_GREETING


async def test_allowed_origins_are_normalized_and_deduplicated(
    api: AppClient, owner: Account
) -> None:
    bot = await new_chatbot(
        api,
        owner,
        allowed_origins=[
            "HTTPS://Shop.Example.com/",
            "https://shop.example.com:443",
            "http://localhost:3000",
            "https://bücher.de",
        ],
    )

    assert bot["allowed_origins"] == [
        "https://shop.example.com",
        "http://localhost:3000",
        "https://xn--bcher-kva.de",
    ]


async def test_the_list_holds_only_the_users_own_chatbots_oldest_first(
    api: AppClient, owner: Account
) -> None:
    first = await new_chatbot(api, owner, name="First")
    second = await new_chatbot(api, owner, name="Second")
    await new_chatbot(api, await signup(api, "Bob"), name="Not yours")

    response = await api.get("/api/chatbots", headers=owner.headers)

    assert response.status == 200
    assert [bot["id"] for bot in (await response.json())["items"]] == [first["id"], second["id"]]


async def test_get_answers_the_chatbot_with_and_without_the_trailing_slash(
    api: AppClient, owner: Account
) -> None:
    bot = await new_chatbot(api, owner)

    for path in (f"/api/chatbots/{bot['id']}/", f"/api/chatbots/{bot['id']}"):
        response = await api.get(path, headers=owner.headers)
        assert response.status == 200
        assert await response.json() == bot


async def test_patch_changes_only_the_fields_sent(api: AppClient, owner: Account) -> None:
    bot = await new_chatbot(
        api, owner, greeting="Hello", allowed_origins=["https://a.example"], theme={"title": "A"}
    )

    response = await api.patch(
        f"/api/chatbots/{bot['id']}/",
        json={"name": "Renamed", "theme": {"primary_color": "#FF0000", "position": "left"}},
        headers=owner.headers,
    )

    assert response.status == 200
    patched = await response.json()
    assert patched["name"] == "Renamed"
    assert patched["slug"] == bot["slug"]
    assert patched["greeting"] == "Hello"
    assert patched["allowed_origins"] == ["https://a.example"]
    assert patched["theme"] == {
        "title": "A",
        "primary_color": "#ff0000",
        "position": "left",
        "avatar_url": None,
    }
    assert patched["updated_at"] >= bot["updated_at"]
    again = await (await api.get(f"/api/chatbots/{bot['id']}/", headers=owner.headers)).json()
    assert again == patched


async def test_patch_greeting_null_restores_the_default_and_origins_can_be_emptied(
    api: AppClient, owner: Account
) -> None:
    bot = await new_chatbot(api, owner, greeting="", allowed_origins=["https://a.example"])

    response = await api.patch(
        f"/api/chatbots/{bot['id']}/",
        json={"greeting": None, "allowed_origins": []},
        headers=owner.headers,
    )

    patched = await response.json()
    assert patched["greeting"] == DEFAULT_GREETING
    assert patched["allowed_origins"] == []


async def test_patch_to_a_taken_slug_answers_409_and_changes_nothing(
    api: AppClient, owner: Account
) -> None:
    await new_chatbot(api, owner, slug="taken-slug")
    bot = await new_chatbot(api, owner, slug="mine-slug")

    response = await api.patch(
        f"/api/chatbots/{bot['id']}/",
        json={"slug": "taken-slug", "name": "Changed"},
        headers=owner.headers,
    )

    assert (await error_of(response, 409))["code"] == "slug_taken"
    unchanged = await (await api.get(f"/api/chatbots/{bot['id']}/", headers=owner.headers)).json()
    assert unchanged["slug"] == "mine-slug"
    assert unchanged["name"] == "Support"


async def test_patch_to_a_new_slug_moves_the_chatbot_and_its_snippet(
    api: AppClient, owner: Account
) -> None:
    bot = await new_chatbot(api, owner, slug="old-slug")

    response = await api.patch(
        f"/api/chatbots/{bot['id']}/", json={"slug": "new-slug"}, headers=owner.headers
    )

    patched = await response.json()
    assert patched["slug"] == "new-slug"
    assert 'data-chatbot="new-slug"' in patched["embed_snippet"]
    assert await chatbot_by_slug(api.app, "old-slug") is None
    found = await chatbot_by_slug(api.app, "new-slug")
    assert found is not None
    assert found.id == bot["id"]


async def test_an_empty_patch_changes_nothing(api: AppClient, owner: Account) -> None:
    bot = await new_chatbot(api, owner)

    response = await api.patch(f"/api/chatbots/{bot['id']}/", json={}, headers=owner.headers)

    assert response.status == 200
    assert await response.json() == bot


async def test_delete_answers_204_and_the_chatbot_is_gone_everywhere(
    api: AppClient, owner: Account
) -> None:
    bot = await new_chatbot(api, owner, slug="short-lived")
    assert await chatbot_by_slug(api.app, "short-lived") is not None

    response = await api.delete(f"/api/chatbots/{bot['id']}", headers=owner.headers)

    assert response.status == 204
    assert (await api.get(f"/api/chatbots/{bot['id']}/", headers=owner.headers)).status == 404
    assert (await api.delete(f"/api/chatbots/{bot['id']}/", headers=owner.headers)).status == 404
    assert await chatbot_by_slug(api.app, "short-lived") is None
    # The slug is free again.
    assert (await new_chatbot(api, owner, slug="short-lived"))["slug"] == "short-lived"


async def test_a_missing_chatbot_answers_404_with_a_json_error(
    api: AppClient, owner: Account
) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = await api.request(
            method, "/api/chatbots/no-such-id/", json={"name": "x"}, headers=owner.headers
        )
        error = await error_of(response, 404)
        assert error["code"] == "chatbot_not_found"
