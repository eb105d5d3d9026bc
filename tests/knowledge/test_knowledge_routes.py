"""Knowledge entries through the API, stored with their passages on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from knowledge_support import Owner, add_entry, add_faq, error_of, owner_with_chatbot
from sqlalchemy import func, select

from chatbot import keys
from chatbot.knowledge.repository import load_passages
from chatbot.storage.schema import knowledge_entries, knowledge_passages

from conftest import AppClient, ClientFactory


@pytest.fixture
async def api(make_client: ClientFactory, database_url: str) -> AppClient:
    return await make_client(database_url=database_url, brains={"semantic": False})


@pytest.fixture
async def owner(api: AppClient) -> Owner:
    return await owner_with_chatbot(api)


async def test_a_question_and_answer_pair_is_stored_as_one_passage(
    api: AppClient, owner: Owner
) -> None:
    entry = await add_entry(
        api, owner, question="  What are your opening hours? ", answer="9 to 17, Monday to Friday."
    )

    assert entry["kind"] == "qa"
    assert entry["chatbot_id"] == owner.chatbot["id"]
    assert entry["question"] == "What are your opening hours?"
    assert entry["answer"] == "9 to 17, Monday to Friday."
    assert entry["title"] is None
    assert entry["content"] is None
    assert entry["source"] is None
    assert entry["passages"] == 1
    [passage] = await load_passages(api.app[keys.ENGINE], owner.chatbot["id"])
    assert passage.entry_id == entry["id"]
    assert passage.reply == "9 to 17, Monday to Friday."
    assert "opening hours" in passage.text


async def test_a_document_is_split_into_passages_at_its_headings(
    api: AppClient, owner: Owner
) -> None:
    content = "Intro text.\n\n## Shipping\n\nWe ship worldwide.\n\n## Returns\n\nFree for 30 days."

    entry = await add_entry(api, owner, title="Policies", content=content)

    assert entry["kind"] == "document"
    assert (entry["title"], entry["content"]) == ("Policies", content)
    assert entry["passages"] == 3
    passages = await load_passages(api.app[keys.ENGINE], owner.chatbot["id"])
    assert [p.reply for p in passages] == ["Intro text.", "We ship worldwide.", "Free for 30 days."]
    assert passages[1].text.startswith("Shipping")


async def test_the_list_holds_every_entry_oldest_first(api: AppClient, owner: Owner) -> None:
    entries = await add_faq(api, owner)
    document = await add_entry(api, owner, title="About", content="We sell tea.")

    response = await api.get(owner.knowledge.rstrip("/"), headers=owner.headers)

    assert response.status == 200
    assert (await response.json())["items"] == [*entries, document]


async def test_an_entry_reads_back_by_its_id(api: AppClient, owner: Owner) -> None:
    entry = await add_entry(api, owner, question="Q?", answer="A.")

    response = await api.get(f"{owner.knowledge}{entry['id']}", headers=owner.headers)

    assert await response.json() == entry


async def test_patching_an_answer_replaces_its_passage(api: AppClient, owner: Owner) -> None:
    entry = await add_entry(api, owner, question="Opening hours?", answer="9 to 5.")

    response = await api.patch(
        f"{owner.knowledge}{entry['id']}/", json={"answer": "8 to 6."}, headers=owner.headers
    )

    patched = await response.json()
    assert response.status == 200, patched
    assert (patched["question"], patched["answer"]) == ("Opening hours?", "8 to 6.")
    assert patched["updated_at"] > entry["updated_at"]
    assert patched["created_at"] == entry["created_at"]
    [passage] = await load_passages(api.app[keys.ENGINE], owner.chatbot["id"])
    assert passage.reply == "8 to 6."


async def test_patching_a_document_splits_it_again(api: AppClient, owner: Owner) -> None:
    entry = await add_entry(api, owner, title="Policies", content="One part.")

    response = await api.patch(
        f"{owner.knowledge}{entry['id']}/",
        json={"content": "First.\n\n## Second\n\nSecond part."},
        headers=owner.headers,
    )

    assert (await response.json())["passages"] == 2
    passages = await load_passages(api.app[keys.ENGINE], owner.chatbot["id"])
    assert [p.reply for p in passages] == ["First.", "Second part."]


async def test_a_pair_cannot_get_document_fields_nor_a_document_pair_fields_409(
    api: AppClient, owner: Owner
) -> None:
    pair = await add_entry(api, owner, question="Q?", answer="A.")
    document = await add_entry(api, owner, title="T", content="C.")

    to_pair = await api.patch(
        f"{owner.knowledge}{pair['id']}/", json={"content": "x"}, headers=owner.headers
    )
    to_document = await api.patch(
        f"{owner.knowledge}{document['id']}/", json={"answer": "x"}, headers=owner.headers
    )

    # Each body is valid for the other kind of entry: it conflicts with this entry's kind.
    pair_error = await error_of(to_pair, 409)
    assert pair_error["code"] == "entry_kind_mismatch"
    assert "question/answer pair" in pair_error["message"]
    assert pair_error["fields"][0]["field"] == "content"
    assert "document" in (await error_of(to_document, 409))["message"]
    listed = await (await api.get(owner.knowledge, headers=owner.headers)).json()
    assert listed["items"] == [pair, document]


async def test_deleting_an_entry_answers_204_and_removes_its_passages(
    api: AppClient, owner: Owner
) -> None:
    first, second, third = await add_faq(api, owner)

    response = await api.delete(f"{owner.knowledge}{second['id']}", headers=owner.headers)

    assert response.status == 204
    listed = await (await api.get(owner.knowledge, headers=owner.headers)).json()
    assert listed["items"] == [first, third]
    passages = await load_passages(api.app[keys.ENGINE], owner.chatbot["id"])
    assert {p.entry_id for p in passages} == {first["id"], third["id"]}
    again = await api.delete(f"{owner.knowledge}{second['id']}/", headers=owner.headers)
    assert (await error_of(again, 404))["code"] == "entry_not_found"


async def test_an_entry_of_another_chatbot_of_the_same_owner_is_not_found_here(
    api: AppClient, owner: Owner
) -> None:
    entry = await add_entry(api, owner, question="Q?", answer="A.")
    response = await api.post("/api/chatbots/", json={"name": "Second"}, headers=owner.headers)
    other = (await response.json())["id"]

    for method in ("GET", "PATCH", "DELETE"):
        response = await api.request(
            method,
            f"/api/chatbots/{other}/knowledge/{entry['id']}/",
            json={"answer": "Hijacked."},
            headers=owner.headers,
        )
        assert (await error_of(response, 404))["code"] == "entry_not_found"
    got = await api.get(f"{owner.knowledge}{entry['id']}/", headers=owner.headers)
    assert await got.json() == entry


async def test_deleting_the_chatbot_deletes_its_knowledge(api: AppClient, owner: Owner) -> None:
    await add_faq(api, owner)
    await add_entry(api, owner, title="T", content="C.")

    response = await api.delete(f"/api/chatbots/{owner.chatbot['id']}/", headers=owner.headers)

    assert response.status == 204
    async with api.app[keys.ENGINE].connect() as connection:
        for table in (knowledge_entries, knowledge_passages):
            count = await connection.scalar(select(func.count()).select_from(table))
            assert count == 0


@pytest.mark.parametrize("sibling", ["test", "upload"])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE", "OPTIONS"])
async def test_the_test_and_upload_paths_are_not_entries(
    api: AppClient, owner: Owner, sibling: str, method: str
) -> None:
    for path in (f"{owner.knowledge}{sibling}/", f"{owner.knowledge}{sibling}"):
        response = await api.request(method, path, json={}, headers=owner.headers)

        assert response.status == 405, path
        assert response.headers["Allow"] == "POST"
        assert (await response.json())["error"]["code"] == "method_not_allowed"


async def test_an_entry_id_that_is_not_a_lowercase_uuid_is_not_found(
    api: AppClient, owner: Owner
) -> None:
    entry = await add_entry(api, owner, question="Q?", answer="A.")

    response = await api.get(f"{owner.knowledge}{entry['id'].upper()}/", headers=owner.headers)

    assert (await error_of(response, 404))["code"] == "not_found"


async def test_a_document_may_be_larger_than_the_json_body_limit_up_to_the_upload_limit(
    make_client: ClientFactory,
) -> None:
    api = await make_client(max_body_bytes=4096, max_upload_bytes=64 * 1024)
    owner = await owner_with_chatbot(api)
    content = "Pâtisserie ouverte. " * 500  # 10,000 characters, ~35 KB as escaped JSON

    stored = await api.post(
        owner.knowledge, json={"title": "Hours", "content": content}, headers=owner.headers
    )
    too_big = await api.post(
        owner.knowledge, json={"title": "Hours", "content": "x" * 70_000}, headers=owner.headers
    )
    other_route = await api.post("/api/chatbots/", json={"name": "x" * 5000}, headers=owner.headers)

    assert stored.status == 201
    assert (await stored.json())["content"] == content.strip()
    assert too_big.status == 413
    assert (await error_of(too_big, 413))["code"] == "payload_too_large"
    assert (await error_of(other_route, 413))["code"] == "payload_too_large"
