"""A knowledge change updates the built index in place, on every instance, without a rebuild."""

from __future__ import annotations

from typing import Any

from knowledge_support import FAQ, Owner, add_entry, add_faq, owner_with_chatbot

from chatbot.knowledge.index import KNOWLEDGE_INDEXES, knowledge_index

from conftest import AppClient, ClientFactory

LEXICAL = {"brains": {"semantic": False}}


async def answer(api: AppClient, owner: Owner, question: str) -> str | None:
    """The reply the knowledge brain gives to the question, or None for the fallback."""
    response = await api.post(
        f"{owner.knowledge}test/", json={"question": question}, headers=owner.headers
    )
    body: dict[str, Any] = await response.json()
    assert response.status == 200, body
    return body["match"]["reply"] if body["answered"] else None


async def test_each_entry_change_is_applied_to_the_index_in_place(
    make_client: ClientFactory, database_url: str
) -> None:
    api = await make_client(database_url=database_url, **LEXICAL)
    owner = await owner_with_chatbot(api)
    await add_faq(api, owner)
    indexes = api.app[KNOWLEDGE_INDEXES]
    index = await knowledge_index(api.app, owner.chatbot["id"])
    assert (indexes.builds, index.updates) == (1, 0)

    entry = await add_entry(
        api, owner, question="Is parking free at the store?", answer="Yes, parking is free."
    )
    assert await answer(api, owner, "is parking free at the store") == "Yes, parking is free."
    assert (indexes.builds, index.updates) == (1, 1)

    await api.patch(
        f"{owner.knowledge}{entry['id']}/",
        json={"answer": "Parking costs 2 euros an hour."},
        headers=owner.headers,
    )
    assert await answer(api, owner, "is parking free at the store") == (
        "Parking costs 2 euros an hour."
    )
    assert (indexes.builds, index.updates) == (1, 2)

    await api.delete(f"{owner.knowledge}{entry['id']}/", headers=owner.headers)
    assert await answer(api, owner, "is parking free at the store") is None
    assert (indexes.builds, index.updates) == (1, 3)
    assert await knowledge_index(api.app, owner.chatbot["id"]) is index
    assert sorted(p.title for p in index.passages) == sorted(q for q, _ in FAQ)


async def test_with_meaning_a_new_entry_is_found_by_paraphrase_without_a_rebuild(
    make_client: ClientFactory,
) -> None:
    api = await make_client(brains={"semantic": True})
    owner = await owner_with_chatbot(api)
    await add_faq(api, owner)
    indexes = api.app[KNOWLEDGE_INDEXES]
    index = await knowledge_index(api.app, owner.chatbot["id"])
    assert index.semantic

    await add_entry(
        api,
        owner,
        question="Can I bring my dog into the shop?",
        answer="Dogs on a leash are welcome.",
    )

    assert await answer(api, owner, "are pets allowed inside?") == "Dogs on a leash are welcome."
    assert (indexes.builds, index.updates) == (1, 1)


async def test_a_change_on_one_instance_is_applied_in_place_on_the_other(
    make_client: ClientFactory, postgres_url: str, redis_url: str
) -> None:
    one = await make_client(database_url=postgres_url, redis_url=redis_url, **LEXICAL)
    two = await make_client(database_url=postgres_url, redis_url=redis_url, **LEXICAL)
    owner = await owner_with_chatbot(one)
    entries = await add_faq(one, owner)
    index = await knowledge_index(two.app, owner.chatbot["id"])
    builds = two.app[KNOWLEDGE_INDEXES].builds

    await one.patch(
        f"{owner.knowledge}{entries[1]['id']}/",
        json={"answer": "We are open every day from 8 to 20."},
        headers=owner.headers,
    )
    await one.delete(f"{owner.knowledge}{entries[2]['id']}/", headers=owner.headers)
    await add_entry(one, owner, question="Is parking free?", answer="Yes, always.")

    assert await answer(two, owner, "what are your opening hours?") == (
        "We are open every day from 8 to 20."
    )
    assert await answer(two, owner, "is parking free?") == "Yes, always."
    assert await answer(two, owner, "do you ship to canada?") is None
    assert await knowledge_index(two.app, owner.chatbot["id"]) is index
    assert two.app[KNOWLEDGE_INDEXES].builds == builds
    assert index.updates == 1  # the three changes, seen together


async def test_deleting_the_chatbot_frees_its_index(make_client: ClientFactory) -> None:
    api = await make_client(**LEXICAL)
    owner = await owner_with_chatbot(api)
    await add_faq(api, owner)
    await knowledge_index(api.app, owner.chatbot["id"])
    assert owner.chatbot["id"] in api.app[KNOWLEDGE_INDEXES]

    response = await api.delete(f"/api/chatbots/{owner.chatbot['id']}/", headers=owner.headers)

    assert response.status == 204
    assert owner.chatbot["id"] not in api.app[KNOWLEDGE_INDEXES]
