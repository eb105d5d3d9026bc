"""Chatbot pages: create, list, edit (brain, theme, key handling), delete, bad input."""

from __future__ import annotations

import html
from typing import Any

import pytest

from .dashboard_support import (
    XSS_IMG,
    XSS_SCRIPT,
    access_token,
    create_chatbot,
    post_form,
    sign_up,
)
from conftest import AppClient, ClientFactory

EDIT_FIELDS = {
    "name": "Support",
    "slug": "",
    "greeting": "Hello!",
    "brain_type": "knowledge",
    "threshold": "",
    "base_url": "",
    "model": "",
    "api_key": "",
    "system_prompt": "",
    "title": "",
    "primary_color": "#2563eb",
    "position": "right",
    "avatar_url": "",
    "allowed_origins": "",
}


async def api_chatbot(client: AppClient, chatbot_id: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {await access_token(client)}"}
    response = await client.get(f"/api/chatbots/{chatbot_id}/", headers=headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def edit(client: AppClient, chatbot_id: str, **fields: str) -> Any:
    path = f"/dashboard/chatbots/{chatbot_id}/"
    return await post_form(client, path, {**EDIT_FIELDS, **fields})


async def test_a_chatbot_made_in_the_dashboard_is_the_apis_chatbot(client: AppClient) -> None:
    await sign_up(client)

    chatbot_id = await create_chatbot(
        client,
        "Acme Help",
        slug="acme-help",
        greeting="Welcome to Acme",
        allowed_origins="https://acme.example\nhttps://www.acme.example",
        title="Acme",
        primary_color="#112233",
        position="left",
    )

    chatbot = await api_chatbot(client, chatbot_id)
    assert chatbot["slug"] == "acme-help"
    assert chatbot["greeting"] == "Welcome to Acme"
    assert chatbot["allowed_origins"] == ["https://acme.example", "https://www.acme.example"]
    assert chatbot["brain"] == {"type": "knowledge"}
    assert chatbot["theme"]["title"] == "Acme"
    assert chatbot["theme"]["primary_color"] == "#112233"
    assert chatbot["theme"]["position"] == "left"
    listing = await (await client.get("/dashboard/chatbots/")).text()
    assert "Acme Help" in listing
    assert "acme-help" in listing


async def test_the_edit_page_shows_the_embed_snippet_and_the_demo_page(client: AppClient) -> None:
    await sign_up(client)
    chatbot_id = await create_chatbot(client, slug="snippet-bot")

    page = await (await client.get(f"/dashboard/chatbots/{chatbot_id}/")).text()

    assert "/static/widget.js&#34; data-chatbot=&#34;snippet-bot&#34; async&gt;" in page
    assert 'data-copy="#embed-snippet"' in page
    assert 'data-src="/demo/snippet-bot/"' in page


async def test_the_provider_key_is_never_shown_and_kept_when_left_empty(client: AppClient) -> None:
    await sign_up(client)
    chatbot_id = await create_chatbot(client)
    openai = {
        "brain_type": "openai",
        "base_url": "https://llm.example/v1",
        "model": "small",
        "system_prompt": "Be brief.",
    }

    await edit(client, chatbot_id, api_key="sk-very-secret-key", **openai)
    page = await (await client.get(f"/dashboard/chatbots/{chatbot_id}/")).text()
    assert "sk-very-secret-key" not in page
    assert "A key is saved" in page
    await edit(client, chatbot_id, api_key="", **openai)
    kept = (await api_chatbot(client, chatbot_id))["brain"]
    await edit(client, chatbot_id, api_key="", clear_api_key="1", **openai)
    cleared = (await api_chatbot(client, chatbot_id))["brain"]

    assert kept["api_key_set"] is True
    assert kept["system_prompt"] == "Be brief."
    assert cleared["api_key_set"] is False


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": ""}, "name", "at least 1 character"),
        ({"name": "x" * 201}, "name", "at most 200 characters"),
        ({"slug": "Not A Slug!"}, "slug", "is not a valid slug"),
        ({"primary_color": "red"}, "primary_color", "is not a colour"),
        ({"position": "top"}, "position", "'left' or 'right'"),
        ({"avatar_url": "javascript:alert(1)"}, "avatar_url", "is not an image address"),
        ({"allowed_origins": "not an origin"}, "allowed_origins", ""),
        ({"brain_type": "openai", "model": "m"}, "base_url", "use the server's address"),
        ({"brain_type": "openai", "base_url": "https://x.example"}, "model", ""),
        (
            {"brain_type": "openai", "base_url": "http://169.254.169.254/v1", "model": "m"},
            "base_url",
            "169.254.169.254 is not a public internet address",
        ),
        ({"brain_type": "telepathy"}, "brain_type", "type must be one of"),
        ({"threshold": "very"}, "threshold", "valid number"),
        ({"threshold": "3"}, "threshold", "less than or equal to 1"),
    ],
)
async def test_invalid_chatbot_fields_are_named_and_nothing_is_saved(
    client: AppClient, fields: dict[str, str], field: str, message: str
) -> None:
    await sign_up(client)

    response = await post_form(client, "/dashboard/chatbots/new/", {**EDIT_FIELDS, **fields})

    assert response.status == 422
    page = html.unescape(await response.text())
    assert f'id="e-{field}"' in page
    assert message.lower() in page.lower()
    listing = await (await client.get("/dashboard/chatbots/")).text()
    assert "No chatbot yet" in listing


async def test_a_refused_form_keeps_what_was_typed(client: AppClient) -> None:
    await sign_up(client)

    response = await post_form(
        client,
        "/dashboard/chatbots/new/",
        {**EDIT_FIELDS, "name": "Kept name", "greeting": "Kept greeting", "slug": "x"},
    )

    page = await response.text()
    assert 'value="Kept name"' in page
    assert "Kept greeting</textarea>" in page


async def test_a_taken_slug_is_refused_with_409(client: AppClient) -> None:
    await sign_up(client)
    await create_chatbot(client, slug="taken-slug")

    response = await post_form(
        client, "/dashboard/chatbots/new/", {**EDIT_FIELDS, "slug": "taken-slug"}
    )

    assert response.status == 409
    assert "already used" in await response.text()


async def test_editing_changes_the_chatbot_and_a_bad_edit_changes_nothing(
    client: AppClient,
) -> None:
    await sign_up(client)
    chatbot_id = await create_chatbot(client)

    saved = await edit(client, chatbot_id, name="Renamed", greeting="", brain_type="echo")
    refused = await edit(client, chatbot_id, name="Broken", primary_color="#12")

    assert saved.status == 303
    assert refused.status == 422
    chatbot = await api_chatbot(client, chatbot_id)
    assert chatbot["name"] == "Renamed"
    assert chatbot["greeting"] == ""
    assert chatbot["brain"] == {"type": "echo"}


async def test_deleting_asks_first_then_removes_the_chatbot(client: AppClient) -> None:
    await sign_up(client)
    chatbot_id = await create_chatbot(client, "Doomed")
    confirm = await client.get(f"/dashboard/chatbots/{chatbot_id}/delete/")
    assert "cannot be undone" in await confirm.text()

    response = await post_form(client, f"/dashboard/chatbots/{chatbot_id}/delete/", {})

    assert response.status == 303
    gone = await client.get(f"/dashboard/chatbots/{chatbot_id}/")
    assert gone.status == 404
    assert "No such chatbot" in await gone.text()


async def test_another_users_chatbot_is_not_found(make_client: ClientFactory) -> None:
    owner, stranger = await make_client(), await make_client()
    await sign_up(owner)
    chatbot_id = await create_chatbot(owner, "Private")
    await sign_up(stranger)

    for path in ("", "knowledge/", "delete/"):
        response = await stranger.get(f"/dashboard/chatbots/{chatbot_id}/{path}")
        assert response.status == 404, path
    attempt = await post_form(
        stranger,
        f"/dashboard/chatbots/{chatbot_id}/delete/",
        {},
        token_from="/dashboard/chatbots/",
    )
    assert attempt.status == 404
    assert (await owner.get(f"/dashboard/chatbots/{chatbot_id}/")).status == 200


async def test_chatbot_names_are_shown_as_text(client: AppClient) -> None:
    await sign_up(client)
    chatbot_id = await create_chatbot(client, f"Evil {XSS_IMG}{XSS_SCRIPT}")

    for path in ("/dashboard/chatbots/", f"/dashboard/chatbots/{chatbot_id}/"):
        page = await (await client.get(path)).text()
        assert XSS_IMG not in page
        assert XSS_SCRIPT not in page
        assert "&lt;img src=x onerror=window.__pwned=1&gt;" in page


async def test_an_oversized_form_is_refused_with_a_page_that_says_so(
    make_client: ClientFactory,
) -> None:
    client = await make_client(max_body_bytes=4096)
    await sign_up(client)

    response = await post_form(client, "/dashboard/chatbots/new/", {"name": "x" * 10_000})

    assert response.status == 413
    assert "The form is too large" in await response.text()


async def test_a_nul_character_is_refused_not_stored(client: AppClient) -> None:
    await sign_up(client)

    response = await post_form(client, "/dashboard/chatbots/new/", {"name": "a\x00b"})

    assert response.status == 400
    assert "NUL character" in await response.text()
    listing = await (await client.get("/dashboard/chatbots/")).text()
    assert "No chatbot yet" in listing


async def test_retention_is_set_and_cleared_in_the_form_and_bad_values_are_named(
    client: AppClient,
) -> None:
    await sign_up(client)
    chatbot_id = await create_chatbot(client, retention_days="30")
    assert (await api_chatbot(client, chatbot_id))["retention_days"] == 30
    page = await (await client.get(f"/dashboard/chatbots/{chatbot_id}/")).text()
    assert 'name="retention_days" type="text" value="30"' in page

    for bad in ("0", "-1", "x", "1.5"):
        refused = await edit(client, chatbot_id, retention_days=bad)
        assert refused.status == 422
        assert 'id="e-retention_days"' in await refused.text()
    assert (await api_chatbot(client, chatbot_id))["retention_days"] == 30

    saved = await edit(client, chatbot_id, retention_days=" 7 ")
    assert saved.status == 303
    assert (await api_chatbot(client, chatbot_id))["retention_days"] == 7
    saved = await edit(client, chatbot_id, retention_days="")
    assert saved.status == 303
    assert (await api_chatbot(client, chatbot_id))["retention_days"] is None
