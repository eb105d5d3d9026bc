"""`chatbots/actions.py`: each chatbot write is seen through the cached lookups right after it.

The lookups by slug and id are read first, so that they are cached, then written through the
action: what the widget and the chat read next must be the write, never the cached entry.
"""

from __future__ import annotations

from typing import Any

import pytest
from chatbot_support import signup

from chatbot import keys
from chatbot.chatbots import actions
from chatbot.chatbots.lookup import chatbot_by_id, chatbot_by_slug
from chatbot.chatbots.repository import ChatbotRecord
from chatbot.chatbots.schemas import ChatbotCreate, ChatbotUpdate
from chatbot.errors import Conflict, NotFound
from chatbot.knowledge import actions as knowledge_actions
from chatbot.knowledge.index import KNOWLEDGE_INDEXES, knowledge_index
from chatbot.knowledge.schemas import KnowledgeCreate
from chatbot.workspaces.repository import memberships

from conftest import AppClient

pytestmark = pytest.mark.both_stacks

OPENAI_BRAIN = {"type": "openai", "base_url": "https://x.example/v1", "model": "m", "api_key": "k"}


async def _create(client: AppClient, **fields: Any) -> ChatbotRecord:
    """A chatbot made by the action in a new account's own workspace."""
    owner = await signup(client)
    [own] = await memberships(client.app[keys.ENGINE], owner.user["id"])
    body = ChatbotCreate.model_validate({"name": "Support", **fields})
    return await actions.create_chatbot(client.app, own.workspace_id, owner.user["id"], body)


async def _update(client: AppClient, current: ChatbotRecord, **fields: Any) -> ChatbotRecord:
    return await actions.update_chatbot(client.app, current, ChatbotUpdate.model_validate(fields))


async def _looked_up(client: AppClient, record: ChatbotRecord) -> ChatbotRecord:
    """The chatbot through both cached lookups, which must agree."""
    by_slug = await chatbot_by_slug(client.app, record.slug)
    by_id = await chatbot_by_id(client.app, record.id)
    assert by_slug is not None
    assert by_slug == by_id
    return by_slug


async def test_a_slug_looked_up_before_the_chatbot_existed_finds_it_once_created(
    client: AppClient,
) -> None:
    assert await chatbot_by_slug(client.app, "late-comer") is None  # cached as missing

    created = await _create(client, slug="late-comer")

    assert await _looked_up(client, created) == created


async def test_an_update_is_what_both_lookups_answer_next(client: AppClient) -> None:
    record = await _create(client, slug="before", greeting="Hi")
    await _looked_up(client, record)

    after = await _update(client, record, slug="after", greeting="Hello", name="Renamed")

    assert await chatbot_by_slug(client.app, "before") is None
    seen = await _looked_up(client, after)
    assert (seen.slug, seen.name, seen.greeting) == ("after", "Renamed", "Hello")


async def test_an_update_that_changes_nothing_writes_nothing(client: AppClient) -> None:
    record = await _create(client)

    assert await _update(client, record) is record


async def test_an_omitted_provider_key_is_kept_and_clearing_it_removes_it(
    client: AppClient,
) -> None:
    record = await _create(client, brain=OPENAI_BRAIN)
    await _looked_up(client, record)
    resent = {key: value for key, value in OPENAI_BRAIN.items() if key != "api_key"}

    kept = await _update(client, record, brain={**resent, "model": "m2"})
    assert (await _looked_up(client, kept)).brain["api_key"] == "k"
    assert kept.brain["model"] == "m2"

    body = ChatbotUpdate.model_validate({"brain": resent})
    cleared = await actions.update_chatbot(client.app, kept, body, clear_api_key=True)
    assert (await _looked_up(client, cleared)).brain.get("api_key") is None


async def test_a_rotated_identity_secret_replaces_the_cached_one(client: AppClient) -> None:
    record = await _create(client, identity_verification="required")
    old_secret = (await _looked_up(client, record)).identity_secret

    rotated = await actions.rotate_identity_secret(client.app, record.id)

    assert rotated.identity_secret != old_secret
    assert (await _looked_up(client, rotated)).identity_secret == rotated.identity_secret


async def test_a_deleted_chatbot_leaves_the_lookups_and_frees_its_knowledge_index(
    client: AppClient,
) -> None:
    record = await _create(client, slug="doomed")
    pair = KnowledgeCreate.model_validate({"question": "Open today?", "answer": "Yes."})
    await knowledge_actions.add_entry(client.app, record.id, pair)
    await _looked_up(client, record)
    assert len(await knowledge_index(client.app, record.id)) == 1
    assert record.id in client.app[KNOWLEDGE_INDEXES]

    deleted = await actions.delete_chatbot(client.app, record.id)

    assert deleted.id == record.id
    assert await chatbot_by_slug(client.app, "doomed") is None
    assert await chatbot_by_id(client.app, record.id) is None
    assert record.id not in client.app[KNOWLEDGE_INDEXES]


async def test_a_taken_slug_is_a_409_naming_the_slug_field_and_changes_nothing(
    client: AppClient,
) -> None:
    await _create(client, slug="taken")
    other = await _create(client, slug="free")

    with pytest.raises(Conflict) as creating:
        await _create(client, slug="taken")
    with pytest.raises(Conflict) as renaming:
        await _update(client, other, slug="taken")

    for refusal in (creating.value, renaming.value):
        assert refusal.code == "slug_taken"
        assert [item["field"] for item in refusal.details["fields"]] == ["slug"]
    assert await _looked_up(client, other) == other


async def test_writes_to_a_chatbot_deleted_meanwhile_are_404_chatbot_not_found(
    client: AppClient,
) -> None:
    record = await _create(client)
    await actions.delete_chatbot(client.app, record.id)

    for write in (
        _update(client, record, name="Gone"),
        actions.rotate_identity_secret(client.app, record.id),
        actions.delete_chatbot(client.app, record.id),
    ):
        with pytest.raises(NotFound) as refused:
            await write
        assert refused.value.code == "chatbot_not_found"
