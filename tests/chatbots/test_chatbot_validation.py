"""Bad chatbot input gets a clear 4xx error naming the problem, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from chatbot_support import Account, error_of, new_chatbot, signup

from chatbot.chatbots.lookup import chatbot_by_slug

from conftest import AppClient, ClientFactory

ORIGINS = "allowed_origins"
OPENAI = {"type": "openai", "base_url": "https://api.example.com/v1", "model": "m"}

# (case, fields sent besides a valid name, the field the error names)
BAD_CREATES: list[tuple[str, dict[str, Any], str]] = [
    ("no name", {"name": None}, "name"),
    ("blank name", {"name": "   "}, "name"),
    ("name too long", {"name": "x" * 201}, "name"),
    ("name not a string", {"name": 42}, "name"),
    ("uppercase slug", {"slug": "Support"}, "slug"),
    ("slug too short", {"slug": "ab"}, "slug"),
    ("slug too long", {"slug": "a" * 65}, "slug"),
    ("slug with spaces", {"slug": "my bot"}, "slug"),
    ("slug with underscore", {"slug": "my_bot"}, "slug"),
    ("slug starting with a hyphen", {"slug": "-bot"}, "slug"),
    ("slug not a string", {"slug": 123}, "slug"),
    ("greeting too long", {"greeting": "x" * 2001}, "greeting"),
    ("greeting not a string", {"greeting": ["hi"]}, "greeting"),
    ("origins not a list", {ORIGINS: "https://a.com"}, ORIGINS),
    ("origin with a path", {ORIGINS: ["https://a.com/shop"]}, ORIGINS),
    ("origin without scheme", {ORIGINS: ["a.com"]}, ORIGINS),
    ("origin of another scheme", {ORIGINS: ["ftp://a.com"]}, ORIGINS),
    ("origin with credentials", {ORIGINS: ["https://u:p@a.com"]}, ORIGINS),
    ("origin with a query", {ORIGINS: ["https://a.com?x=1"]}, ORIGINS),
    ("origin not a string", {ORIGINS: [1]}, f"{ORIGINS}.0"),
    ("unknown brain type", {"brain": {"type": "magic"}}, "brain"),
    ("brain not an object", {"brain": "knowledge"}, "brain"),
    ("openai brain without model", {"brain": {**OPENAI, "model": None}}, "brain.openai.model"),
    (
        "openai brain with a bad url",
        {"brain": {**OPENAI, "base_url": "x.example"}},
        "brain.openai.base_url",
    ),
    ("knowledge threshold above 1", {"brain": {"threshold": 2}}, "brain.knowledge.threshold"),
    ("unknown brain field", {"brain": {"type": "echo", "speed": 3}}, "brain.echo.speed"),
    ("colour by name", {"theme": {"primary_color": "red"}}, "theme.primary_color"),
    ("short colour", {"theme": {"primary_color": "#fff"}}, "theme.primary_color"),
    ("colour without #", {"theme": {"primary_color": "2563eb"}}, "theme.primary_color"),
    ("position in the middle", {"theme": {"position": "center"}}, "theme.position"),
    ("avatar not http", {"theme": {"avatar_url": "javascript:alert(1)"}}, "theme.avatar_url"),
    ("unknown theme field", {"theme": {"font": "Comic Sans"}}, "theme.font"),
    ("unknown field", {"greting": "typo"}, "greting"),
    ("NUL in the name", {"name": "a\x00b"}, "name"),
    ("a lone surrogate in the name", {"name": "a\ud800"}, "name"),
    ("slug with a trailing newline", {"slug": "support\n"}, "slug"),
    ("101 origins", {ORIGINS: [f"https://s{n}.example" for n in range(101)]}, ORIGINS),
    ("origin on port 0", {ORIGINS: ["https://a.com:0"]}, ORIGINS),
    ("threshold as text", {"brain": {"threshold": "0.5"}}, "brain.knowledge.threshold"),
    ("threshold as a boolean", {"brain": {"threshold": True}}, "brain.knowledge.threshold"),
    (
        "max_tokens as a boolean",
        {"brain": {**OPENAI, "max_tokens": True}},
        "brain.openai.max_tokens",
    ),
    ("blank model", {"brain": {**OPENAI, "model": "  "}}, "brain.openai.model"),
    (
        "base_url with spaces",
        {"brain": {**OPENAI, "base_url": "https://a b"}},
        "brain.openai.base_url",
    ),
    (
        "avatar with a space",
        {"theme": {"avatar_url": "https://a.example/a b.png"}},
        "theme.avatar_url",
    ),
    ("colour with a newline", {"theme": {"primary_color": "#2563eb\n"}}, "theme.primary_color"),
]


@pytest.fixture
async def owner(client: AppClient) -> Account:
    return await signup(client)


@pytest.mark.parametrize(("case", "body", "field"), BAD_CREATES, ids=[c[0] for c in BAD_CREATES])
async def test_bad_create_answers_422_naming_the_field_and_creates_nothing(
    client: AppClient, owner: Account, case: str, body: dict[str, Any], field: str
) -> None:
    response = await client.post(
        "/api/chatbots/", json={"name": "A", **body}, headers=owner.headers
    )

    error = await error_of(response, 422)
    assert error["code"] == "validation_error"
    assert field in [item["field"] for item in error["fields"]], error
    assert all(item["message"] for item in error["fields"])
    listed = await (await client.get("/api/chatbots/", headers=owner.headers)).json()
    assert listed["items"] == []


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ({"brain": {}}, {"brain": {"type": "knowledge"}}),
        ({"brain": {"threshold": 0.5}}, {"brain": {"type": "knowledge", "threshold": 0.5}}),
        (
            {"brain": {**OPENAI, "max_tokens": 256.0, "api_key_set": False}},
            {"brain": {**OPENAI, "max_tokens": 256, "context_passages": 3, "api_key_set": False}},
        ),
        ({"name": "  Support  "}, {"name": "Support"}),
        ({ORIGINS: ["http://dev_box:8080", "https://bücher.de/"]},
         {ORIGINS: ["http://dev_box:8080", "https://xn--bcher-kva.de"]}),
        ({"theme": {"avatar_url": ""}}, {"theme": {"avatar_url": None}}),
    ],
)  # fmt: skip
async def test_bodies_the_documented_schema_allows_are_accepted(
    client: AppClient, owner: Account, sent: dict[str, Any], kept: dict[str, Any]
) -> None:
    response = await client.post(
        "/api/chatbots/", json={"name": "A", **sent}, headers=owner.headers
    )

    body = await response.json()
    assert response.status == 201, body
    for field, value in kept.items():
        shown = body[field]
        assert ({key: shown[key] for key in value} if isinstance(value, dict) else shown) == value


async def test_origin_errors_say_what_an_origin_looks_like(
    client: AppClient, owner: Account
) -> None:
    response = await client.post(
        "/api/chatbots/",
        json={"name": "A", "allowed_origins": ["https://shop.example.com/checkout"]},
        headers=owner.headers,
    )

    error = await error_of(response, 422)
    message = error["fields"][0]["message"]
    assert "https://shop.example.com/checkout" in message
    assert "path" in message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"slug": None}, "slug"),
        ({"slug": "NO"}, "slug"),
        ({"allowed_origins": None}, "allowed_origins"),
        ({"allowed_origins": ["not an origin"]}, "allowed_origins"),
        ({"brain": None}, "brain"),
        ({"brain": {"type": "openai"}}, "brain.openai.base_url"),
        ({"theme": {"primary_color": "blue"}}, "theme.primary_color"),
        ({"id": "another-id"}, "id"),
        ({"created_at": "2020-01-01T00:00:00Z"}, "created_at"),
    ],
)
async def test_bad_patch_answers_422_and_changes_nothing(
    client: AppClient, owner: Account, body: dict[str, Any], field: str
) -> None:
    bot = await new_chatbot(client, owner, allowed_origins=["https://a.example"])

    response = await client.patch(f"/api/chatbots/{bot['id']}/", json=body, headers=owner.headers)

    error = await error_of(response, 422)
    assert field in [item["field"] for item in error["fields"]], error
    after = await (await client.get(f"/api/chatbots/{bot['id']}/", headers=owner.headers)).json()
    assert after == bot


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_a_body_that_is_not_json_answers_400_invalid_json(
    client: AppClient, owner: Account, method: str
) -> None:
    bot = await new_chatbot(client, owner)
    path = "/api/chatbots/" if method == "POST" else f"/api/chatbots/{bot['id']}/"

    for raw in (b"{not json", b"", b"\xff\xfe"):
        response = await client.request(
            method,
            path,
            data=raw,
            headers={**owner.headers, "Content-Type": "application/json"},
        )
        assert (await error_of(response, 400))["code"] == "invalid_json"


async def test_a_json_array_answers_422_not_a_500(client: AppClient, owner: Account) -> None:
    response = await client.post("/api/chatbots/", json=[{"name": "A"}], headers=owner.headers)

    assert (await error_of(response, 422))["code"] == "validation_error"


async def test_a_body_over_the_size_limit_answers_413(make_client: ClientFactory) -> None:
    client = await make_client(max_body_bytes=4096)
    owner = await signup(client)

    response = await client.post(
        "/api/chatbots/", json={"name": "A", "greeting": "x" * 8000}, headers=owner.headers
    )

    assert (await error_of(response, 413))["code"] == "payload_too_large"


async def test_the_provider_key_is_never_shown_and_kept_when_the_brain_is_sent_back(
    client: AppClient, owner: Account
) -> None:
    brain = {
        "type": "openai",
        "base_url": "https://llm.example.com/v1",
        "model": "small-model",
        "api_key": "sk-secret-123",
    }
    bot = await new_chatbot(client, owner, brain=brain, slug="llm-bot")
    assert bot["brain"]["api_key_set"] is True
    assert "sk-secret-123" not in str(bot)

    # A dashboard edits the brain it read (without the key) and sends it back.
    edited = {**bot["brain"], "model": "bigger-model"}
    del edited["api_key_set"]
    response = await client.patch(
        f"/api/chatbots/{bot['id']}/", json={"brain": edited}, headers=owner.headers
    )

    body = await response.json()
    assert response.status == 200, body
    assert body["brain"]["model"] == "bigger-model"
    assert body["brain"]["api_key_set"] is True
    listed = await (await client.get("/api/chatbots/", headers=owner.headers)).text()
    assert "sk-secret-123" not in listed
    record = await chatbot_by_slug(client.app, "llm-bot")
    assert record is not None
    assert record.brain["api_key"] == "sk-secret-123"
    assert record.brain["model"] == "bigger-model"


async def test_switching_to_the_echo_brain_drops_the_provider_key(
    client: AppClient, owner: Account
) -> None:
    brain = {"type": "openai", "base_url": "https://x.example", "model": "m", "api_key": "sk-1"}
    bot = await new_chatbot(client, owner, brain=brain, slug="switcher")

    response = await client.patch(
        f"/api/chatbots/{bot['id']}/", json={"brain": {"type": "echo"}}, headers=owner.headers
    )

    assert (await response.json())["brain"] == {"type": "echo"}
    record = await chatbot_by_slug(client.app, "switcher")
    assert record is not None
    assert dict(record.brain) == {"type": "echo"}
