"""Knowledge pages: entries added, edited and deleted, files uploaded, bad input refused."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from aiohttp import FormData

from .dashboard_support import (
    XSS_IMG,
    XSS_SCRIPT,
    access_token,
    create_chatbot,
    csrf_of,
    post_form,
    sign_up,
)
from conftest import AppClient, ClientFactory


@pytest.fixture
async def client(make_client: ClientFactory) -> AppClient:
    """The app without the semantic model: these tests are about pages, not retrieval."""
    return await make_client(brains={"semantic": False})


async def entries(client: AppClient, chatbot_id: str) -> list[dict[str, Any]]:
    """The chatbot's knowledge as the API lists it."""
    headers = {"Authorization": f"Bearer {await access_token(client)}"}
    response = await client.get(f"/api/chatbots/{chatbot_id}/knowledge/", headers=headers)
    items: list[dict[str, Any]] = (await response.json())["items"]
    return items


async def add(client: AppClient, chatbot_id: str, **fields: str) -> Any:
    return await post_form(client, f"/dashboard/chatbots/{chatbot_id}/knowledge/", fields)


async def upload(
    client: AppClient, chatbot_id: str, files: list[tuple[str, bytes]], *, token: str | None = ""
) -> Any:
    """Post the upload form: its CSRF token first (None leaves it out), then the files."""
    path = f"/dashboard/chatbots/{chatbot_id}/knowledge/"
    form = FormData(default_to_multipart=True)  # as a browser sends it, files or not
    if token is not None:
        form.add_field("csrf_token", token or await csrf_of(client, path))
    for name, data in files:
        form.add_field("file", data, filename=name, content_type="application/octet-stream")
    return await client.post(path + "upload/", data=form, allow_redirects=False)


@pytest.fixture
async def chatbot_id(client: AppClient) -> str:
    await sign_up(client)
    return await create_chatbot(client)


async def test_questions_and_documents_added_in_the_dashboard_are_the_bots_knowledge(
    client: AppClient, chatbot_id: str
) -> None:
    pair = await add(client, chatbot_id, kind="qa", question="Opening hours?", answer="9 to 5.")
    document = await add(
        client, chatbot_id, kind="document", title="Shipping", content="We ship worldwide."
    )

    assert pair.status == document.status == 303
    stored = await entries(client, chatbot_id)
    assert [(e["kind"], e["question"] or e["title"]) for e in stored] == [
        ("qa", "Opening hours?"),
        ("document", "Shipping"),
    ]
    page = await (await client.get(f"/dashboard/chatbots/{chatbot_id}/knowledge/")).text()
    assert "Opening hours?" in page
    assert "We ship worldwide." in page


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "qa", "question": "Only a question?", "answer": ""}, "answer"),
        ({"kind": "qa", "question": "   ", "answer": "An answer"}, "question"),
        ({"kind": "qa", "question": "q" * 1001, "answer": "An answer"}, "question"),
        ({"kind": "document", "title": "", "content": "Text"}, "title"),
        ({"kind": "document", "title": "Title", "content": ""}, "content"),
    ],
)
async def test_an_incomplete_entry_is_refused_with_the_field_named_and_kept(
    client: AppClient, chatbot_id: str, fields: dict[str, str], field: str
) -> None:
    response = await add(client, chatbot_id, **fields)

    assert response.status == 422
    page = await response.text()
    assert f'id="e-{field}"' in page
    kept = next(value for value in fields.values() if value.strip() and value not in ("qa",))
    assert html.escape(kept[:50]) in page
    assert await entries(client, chatbot_id) == []


async def test_an_entry_is_edited_and_deleted(client: AppClient, chatbot_id: str) -> None:
    await add(client, chatbot_id, kind="qa", question="Old question?", answer="Old answer.")
    [entry] = await entries(client, chatbot_id)
    path = f"/dashboard/chatbots/{chatbot_id}/knowledge/{entry['id']}/"
    assert "Old question?" in await (await client.get(path)).text()

    refused = await post_form(client, path, {"question": "", "answer": "New answer."})
    saved = await post_form(client, path, {"question": "New question?", "answer": "New answer."})
    after_edit = await entries(client, chatbot_id)
    deleted = await post_form(client, path + "delete/", {}, token_from=path)

    assert refused.status == 422
    assert saved.status == 303
    assert (after_edit[0]["question"], after_edit[0]["answer"]) == ("New question?", "New answer.")
    assert deleted.status == 303
    assert await entries(client, chatbot_id) == []


async def test_uploaded_files_become_documents(client: AppClient, chatbot_id: str) -> None:
    response = await upload(
        client,
        chatbot_id,
        [("returns.md", b"# Returns\n\nReturn within 30 days."), ("faq.txt", b"Ask us anything.")],
    )

    assert response.status == 303, await response.text()
    stored = await entries(client, chatbot_id)
    assert sorted(entry["source"] for entry in stored) == ["faq.txt", "returns.md"]


@pytest.mark.parametrize(
    ("files", "status", "message"),
    [
        ([], 422, "Choose at least one file"),
        ([("virus.exe", b"MZ\x90\x00\x03\x00\x00\x00")], 422, "virus.exe: cannot tell"),
        ([("a.txt", b"x")] * 21, 422, "at most 20 files"),
    ],
)
async def test_a_bad_upload_adds_nothing_and_says_why(
    client: AppClient,
    chatbot_id: str,
    files: list[tuple[str, bytes]],
    status: int,
    message: str,
) -> None:
    response = await upload(client, chatbot_id, files)

    assert response.status == status
    assert message in html.unescape(await response.text())
    assert await entries(client, chatbot_id) == []


async def test_an_upload_over_the_size_limit_is_refused(make_client: ClientFactory) -> None:
    client = await make_client(max_upload_bytes=4096, brains={"semantic": False})
    await sign_up(client)
    chatbot_id = await create_chatbot(client)

    response = await upload(client, chatbot_id, [("big.txt", b"words " * 2000)])

    assert response.status == 413
    assert "max_upload_bytes" in await response.text()
    assert await entries(client, chatbot_id) == []


@pytest.mark.parametrize("token", [None, "forged-token"])
async def test_an_upload_without_the_sessions_csrf_token_is_refused(
    client: AppClient, chatbot_id: str, token: str | None
) -> None:
    response = await upload(client, chatbot_id, [("faq.txt", b"Hello")], token=token)

    assert response.status == 403
    assert await entries(client, chatbot_id) == []


async def test_another_users_entries_are_not_found(
    make_client: ClientFactory, client: AppClient, chatbot_id: str
) -> None:
    await add(client, chatbot_id, kind="qa", question="Secret?", answer="Yes.")
    [entry] = await entries(client, chatbot_id)
    stranger = await make_client(brains={"semantic": False})
    await sign_up(stranger)
    own = await create_chatbot(stranger)

    theirs = await stranger.get(f"/dashboard/chatbots/{chatbot_id}/knowledge/{entry['id']}/")
    crossed = await stranger.get(f"/dashboard/chatbots/{own}/knowledge/{entry['id']}/")

    assert theirs.status == crossed.status == 404
    assert len(await entries(client, chatbot_id)) == 1


async def test_knowledge_is_shown_as_text(client: AppClient, chatbot_id: str) -> None:
    payload = f"{XSS_IMG}{XSS_SCRIPT}"
    await add(client, chatbot_id, kind="qa", question=f"Q {payload}", answer=f"A {payload}")
    [entry] = await entries(client, chatbot_id)

    for path in ("", f"{entry['id']}/"):
        page = await (await client.get(f"/dashboard/chatbots/{chatbot_id}/knowledge/{path}")).text()
        assert XSS_IMG not in page
        assert XSS_SCRIPT not in page
        assert re.search(r"&lt;script&gt;window.__pwned=2&lt;/script&gt;", page)
