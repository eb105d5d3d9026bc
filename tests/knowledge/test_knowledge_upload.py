"""`POST /api/chatbots/{id}/knowledge/upload/`: files become documents, all or none."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import FormData
from knowledge_support import Owner, add_entry, error_of, owner_with_chatbot, tiny_pdf

from chatbot import keys
from chatbot.knowledge.index import knowledge_index
from chatbot.knowledge.uploads import MAX_TEXT_LENGTH

from conftest import AppClient, ClientFactory


def form(*files: tuple[str, bytes, str | None], field: str = "file") -> FormData:
    data = FormData()
    for name, content, content_type in files:
        data.add_field(field, content, filename=name, content_type=content_type)
    return data


@pytest.fixture
async def api(make_client: ClientFactory) -> AppClient:
    return await make_client(brains={"semantic": False})


@pytest.fixture
async def owner(api: AppClient) -> Owner:
    return await owner_with_chatbot(api)


async def _upload(api: AppClient, owner: Owner, data: Any, **headers: str) -> Any:
    return await api.post(
        f"{owner.knowledge}upload/", data=data, headers={**owner.headers, **headers}
    )


async def _items(api: AppClient, owner: Owner) -> list[dict[str, Any]]:
    body = await (await api.get(owner.knowledge, headers=owner.headers)).json()
    items: list[dict[str, Any]] = body["items"]
    return items


async def test_text_markdown_html_and_pdf_files_become_documents(
    api: AppClient, owner: Owner
) -> None:
    response = await _upload(
        api,
        owner,
        form(
            ("opening_hours.txt", b"We are open from 9 to 17.\n\nClosed on Sundays.", None),
            ("shipping.md", b"# Shipping\n\nWe ship to **Canada**.\n\n## Costs\n\nFree.", None),
            (
                "returns.html",
                b"<html><head><title>x</title><script>evil()</script></head><body>"
                b"<h1>Returns</h1><p>Within 30 days.</p></body></html>",
                "text/html",
            ),
            ("warranty.pdf", tiny_pdf("Two years of warranty.", "Keep the receipt."), None),
        ),
    )

    body = await response.json()
    assert response.status == 201, body
    hours, shipping, returns, warranty = body["items"]
    assert all(item["kind"] == "document" for item in body["items"])
    assert (hours["title"], hours["source"]) == ("opening hours", "opening_hours.txt")
    assert hours["content"] == "We are open from 9 to 17.\n\nClosed on Sundays."
    assert shipping["passages"] == 2
    assert "## Costs" in shipping["content"]
    assert "Within 30 days." in returns["content"]
    assert "evil" not in returns["content"]
    assert warranty["passages"] == 2
    assert "Two years of warranty." in warranty["content"]
    assert await _items(api, owner) == body["items"]
    index = await knowledge_index(api.app, owner.chatbot["id"])
    replies = {passage.reply_text for passage in index.passages}
    assert {"Free.", "Keep the receipt.", "Closed on Sundays."} <= {
        line for reply in replies for line in reply.split("\n\n")
    }


async def test_the_content_type_decides_over_the_extension_and_any_field_name_works(
    api: AppClient, owner: Owner
) -> None:
    response = await _upload(
        api, owner, form(("notes", b"# Title\n\nBody.", "text/markdown"), field="files")
    )

    [entry] = (await response.json())["items"]
    assert "## Title" in entry["content"]


@pytest.mark.parametrize(
    ("name", "content", "content_type", "words"),
    [
        ("photo.png", b"\x89PNG\r\n\x1a\n....", "image/png", "not supported"),
        ("letter.docx", b"PK\x03\x04....", "application/vnd.openxmlformats", "not supported"),
        ("mystery", b"some bytes", None, "cannot tell"),
        ("latin1.txt", "Café crème".encode("latin-1"), None, "UTF-8"),
        ("empty.txt", b"", None, "no text"),
        ("blank.md", b"   \n\n  ", None, "no text"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", None, "PDF"),
        ("binary.txt", b"abc\x00def", None, "binary"),
    ],
)
async def test_an_unreadable_file_answers_422_naming_it_and_nothing_is_stored(
    api: AppClient, owner: Owner, name: str, content: bytes, content_type: str | None, words: str
) -> None:
    kept = await add_entry(api, owner, question="Kept?", answer="Yes.")

    response = await _upload(
        api, owner, form(("good.txt", b"A good file.", None), (name, content, content_type))
    )

    error = await error_of(response, 422)
    assert error["code"] == "unsupported_file"
    assert name in error["message"]
    assert words in error["message"]
    assert await _items(api, owner) == [kept]


async def test_an_upload_over_the_size_limit_answers_413_and_stores_nothing(
    make_client: ClientFactory,
) -> None:
    api = await make_client(max_upload_bytes=4096, brains={"semantic": False})
    owner = await owner_with_chatbot(api)

    response = await _upload(
        api, owner, form(("a.txt", b"small", None), ("big.txt", b"word " * 2000, None))
    )

    error = await error_of(response, 413)
    assert "max_upload_bytes" in error["message"]
    assert await _items(api, owner) == []


async def test_a_file_bigger_than_the_json_body_limit_is_accepted_up_to_the_upload_limit(
    make_client: ClientFactory,
) -> None:
    api = await make_client(max_body_bytes=2048, brains={"semantic": False})
    owner = await owner_with_chatbot(api)
    text = "\n\n".join(f"Paragraph {n} about our products." for n in range(400)).encode()
    assert len(text) > 2048

    response = await _upload(api, owner, form(("catalogue.txt", text, None)))

    assert response.status == 201
    assert (await response.json())["items"][0]["passages"] > 1


async def test_a_body_that_is_not_multipart_answers_400(api: AppClient, owner: Owner) -> None:
    response = await api.post(
        f"{owner.knowledge}upload/", json={"file": "hello"}, headers=owner.headers
    )

    error = await error_of(response, 400)
    assert error["code"] == "multipart_expected"
    assert "multipart/form-data" in error["message"]


async def test_a_multipart_body_without_a_file_answers_422(api: AppClient, owner: Owner) -> None:
    response = await _upload(
        api,
        owner,
        b"--XYZ--\r\n",
        **{"Content-Type": "multipart/form-data; boundary=XYZ"},
    )

    assert (await error_of(response, 422))["code"] == "no_file"


async def test_a_form_field_other_than_file_is_refused_not_ignored(
    api: AppClient, owner: Owner
) -> None:
    data = FormData(default_to_multipart=True)
    data.add_field("file", "Parking is free.")
    data.add_field("titel", "a misspelt field")

    response = await _upload(api, owner, data)

    error = await error_of(response, 422)
    assert error["code"] == "unexpected_field"
    assert "'titel'" in error["message"]
    assert await _items(api, owner) == []


async def test_text_sent_in_a_file_field_becomes_a_document(api: AppClient, owner: Owner) -> None:
    data = FormData(default_to_multipart=True)
    data.add_field("file", "Parking is free for customers.\n\nThe shop opens at 9.")
    data.add_field("file", "Returns within 30 days.")

    response = await _upload(api, owner, data)

    body = await response.json()
    assert response.status == 201, body
    assert [item["content"] for item in body["items"]] == [
        "Parking is free for customers.\n\nThe shop opens at 9.",
        "Returns within 30 days.",
    ]
    assert {item["title"] for item in body["items"]} == {"upload"}


@pytest.mark.parametrize(
    ("text", "words"),
    [("", "blank"), (" \n\t ", "blank"), ("a\x00b", "NUL"), ("x" * (MAX_TEXT_LENGTH + 1), "split")],
    ids=["empty", "blank", "nul", "too long"],
)
async def test_bad_text_in_a_file_field_answers_422_and_stores_nothing(
    api: AppClient, owner: Owner, text: str, words: str
) -> None:
    data = FormData(default_to_multipart=True)
    data.add_field("file", "A good text.")
    data.add_field("file", text)

    response = await _upload(api, owner, data)

    error = await error_of(response, 422)
    assert words in error["message"]
    assert await _items(api, owner) == []


async def test_a_part_header_aiohttp_cannot_read_answers_400_not_500(
    api: AppClient, owner: Owner
) -> None:
    body = (
        b'--XYZ\r\nContent-Disposition: form-data; name="\xc3\x95\x16 "\r\n\r\nx\r\n'
        b'--XYZ\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
        b"hello\r\n--XYZ--\r\n"
    )

    response = await _upload(
        api, owner, body, **{"Content-Type": "multipart/form-data; boundary=XYZ"}
    )

    assert (await error_of(response, 400))["code"] == "invalid_multipart"
    assert await _items(api, owner) == []


async def test_a_malformed_multipart_body_answers_400_not_500(api: AppClient, owner: Owner) -> None:
    response = await _upload(
        api,
        owner,
        b'--XYZ\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhello',
        **{"Content-Type": "multipart/form-data; boundary=XYZ"},
    )

    assert response.status in (400, 422)
    assert (await response.json())["error"]["code"] in {"invalid_multipart", "no_file"}
    assert await _items(api, owner) == []


async def test_more_than_twenty_files_answer_422(api: AppClient, owner: Owner) -> None:
    files = [(f"f{n}.txt", b"text", None) for n in range(21)]

    response = await _upload(api, owner, form(*files))

    assert (await error_of(response, 422))["code"] == "too_many_files"
    assert await _items(api, owner) == []


async def test_uploads_reach_the_knowledge_index_at_once(api: AppClient, owner: Owner) -> None:
    before = await knowledge_index(api.app, owner.chatbot["id"])
    assert len(before) == 0

    await _upload(api, owner, form(("faq.txt", b"Parking is free for customers.", None)))

    after = await knowledge_index(api.app, owner.chatbot["id"])
    assert [p.reply_text for p in after.passages] == ["Parking is free for customers."]
    assert api.app[keys.SETTINGS].brains.semantic is False
