"""A chatbot's identity verification mode and secret: created, changed, rotated, migrated.

On SQLite, then on PostgreSQL. What the secret proves on the visitor socket is tested in
tests/chat/test_chat_identity.py.
"""

from __future__ import annotations

import re

import pytest
from alembic import command
from chatbot_support import Account, error_of, new_chatbot, signup
from db_support import FIRST_CHATBOTS, FIRST_CONVERSATIONS
from sqlalchemy import insert, select

from chatbot.storage import schema
from chatbot.storage.engine import create_engine
from chatbot.storage.migrations import alembic_config, head_revision, migrate
from chatbot.storage.values import new_id, utcnow

from conftest import AppClient, ClientFactory

HEX_SECRET = re.compile(r"[0-9a-f]{64}")


@pytest.fixture
async def api(make_client: ClientFactory, database_url: str) -> AppClient:
    """The app on SQLite, then on PostgreSQL."""
    return await make_client(database_url=database_url)


@pytest.fixture
async def owner(api: AppClient) -> Account:
    return await signup(api)


def _rotate_path(chatbot_id: str, slash: bool = True) -> str:
    return f"/api/chatbots/{chatbot_id}/identity-secret" + ("/" if slash else "")


async def test_every_chatbot_gets_its_own_secret_and_verification_off_at_creation(
    api: AppClient, owner: Account
) -> None:
    first = await new_chatbot(api, owner)
    second = await new_chatbot(api, owner, identity_verification="required")

    assert first["identity_verification"] == "off"
    assert second["identity_verification"] == "required"
    assert HEX_SECRET.fullmatch(first["identity_secret"])
    assert HEX_SECRET.fullmatch(second["identity_secret"])
    assert first["identity_secret"] != second["identity_secret"]
    read = await (await api.get(f"/api/chatbots/{first['id']}/", headers=owner.headers)).json()
    assert read["identity_secret"] == first["identity_secret"]
    listed = await (await api.get("/api/chatbots/", headers=owner.headers)).json()
    assert {item["id"]: item["identity_secret"] for item in listed["items"]} == {
        first["id"]: first["identity_secret"],
        second["id"]: second["identity_secret"],
    }


@pytest.mark.parametrize("mode", ["optional", "required", "off"])
async def test_the_mode_is_changed_with_patch_and_the_secret_stays(
    api: AppClient, owner: Account, mode: str
) -> None:
    bot = await new_chatbot(
        api, owner, identity_verification="optional" if mode == "off" else "off"
    )

    response = await api.patch(
        f"/api/chatbots/{bot['id']}", json={"identity_verification": mode}, headers=owner.headers
    )

    changed = await response.json()
    assert response.status == 200, changed
    assert changed["identity_verification"] == mode
    assert changed["identity_secret"] == bot["identity_secret"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"identity_verification": "sometimes"}, "identity_verification"),
        ({"identity_verification": None}, "identity_verification"),
        ({"identity_verification": True}, "identity_verification"),
        ({"identity_verification": "Required"}, "identity_verification"),
        ({"identity_secret": "mine-now"}, "identity_secret"),
    ],
)
async def test_a_bad_mode_or_a_chosen_secret_is_refused_with_422_naming_the_field(
    api: AppClient, owner: Account, body: dict[str, object], field: str
) -> None:
    bot = await new_chatbot(api, owner)

    patched = await api.patch(f"/api/chatbots/{bot['id']}/", json=body, headers=owner.headers)
    created = await api.post("/api/chatbots/", json={"name": "X", **body}, headers=owner.headers)

    for response in (patched, created):
        error = await error_of(response, 422)
        assert error["code"] == "validation_error"
        assert field in error["message"]
    read = await (await api.get(f"/api/chatbots/{bot['id']}/", headers=owner.headers)).json()
    assert read["identity_verification"] == "off"
    assert read["identity_secret"] == bot["identity_secret"]


@pytest.mark.parametrize("slash", [True, False])
async def test_rotating_makes_a_new_secret_that_every_read_then_shows(
    api: AppClient, owner: Account, slash: bool
) -> None:
    bot = await new_chatbot(api, owner, identity_verification="required")

    response = await api.post(_rotate_path(bot["id"], slash), headers=owner.headers)

    rotated = await response.json()
    assert response.status == 200, rotated
    assert HEX_SECRET.fullmatch(rotated["identity_secret"])
    assert rotated["identity_secret"] != bot["identity_secret"]
    assert rotated["identity_verification"] == "required"
    assert {key: value for key, value in rotated.items() if key not in ("identity_secret",)} == {
        **{key: value for key, value in bot.items() if key not in ("identity_secret",)},
        "updated_at": rotated["updated_at"],
    }
    read = await (await api.get(f"/api/chatbots/{bot['id']}/", headers=owner.headers)).json()
    assert read["identity_secret"] == rotated["identity_secret"]


async def test_rotating_another_accounts_chatbot_or_none_answers_404_or_401(
    api: AppClient, owner: Account
) -> None:
    bot = await new_chatbot(api, owner)
    stranger = await signup(api, "Eve")

    theirs = await api.post(_rotate_path(bot["id"]), headers=stranger.headers)
    missing = await api.post(_rotate_path(new_id()), headers=owner.headers)
    anonymous = await api.post(_rotate_path(bot["id"]))
    read_by_stranger = await api.get(f"/api/chatbots/{bot['id']}/", headers=stranger.headers)

    assert (await error_of(theirs, 404))["code"] == "chatbot_not_found"
    assert (await error_of(missing, 404))["code"] == "chatbot_not_found"
    assert (await error_of(anonymous, 401))["code"]
    assert (await error_of(read_by_stranger, 404))["code"] == "chatbot_not_found"
    read = await (await api.get(f"/api/chatbots/{bot['id']}/", headers=owner.headers)).json()
    assert read["identity_secret"] == bot["identity_secret"]


async def test_upgrading_gives_every_existing_chatbot_its_own_secret(
    empty_database_url: str,
) -> None:
    """Chatbots stored before revision 0004 get a secret each, verification off, and their
    conversations stay, with no user."""
    engine = create_engine(empty_database_url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "0002"))
            await connection.commit()
        now = utcnow()
        owner, bots = new_id(), [new_id(), new_id()]
        async with engine.begin() as connection:
            await connection.execute(
                insert(schema.users).values(
                    id=owner,
                    email=f"{owner}@example.com",
                    name="",
                    password_hash="x",
                    created_at=now,
                    updated_at=now,
                )
            )
            for bot in bots:
                await connection.execute(
                    insert(FIRST_CHATBOTS).values(
                        id=bot,
                        owner_id=owner,
                        slug=f"bot-{bot[-12:]}",
                        name="Bot",
                        greeting="",
                        allowed_origins=[],
                        brain={},
                        theme={},
                        created_at=now,
                        updated_at=now,
                    )
                )
            await connection.execute(
                insert(FIRST_CONVERSATIONS).values(
                    id=new_id(),
                    chatbot_id=bots[0],
                    visitor_token_hash=new_id(),
                    status="bot",
                    last_seq=0,
                    visitor_data={},
                    started_at=now,
                    handed_off=False,
                )
            )

        assert await migrate(engine) == ("0002", head_revision())

        async with engine.connect() as connection:
            c = schema.chatbots.c
            rows = (
                await connection.execute(
                    select(c.identity_verification, c.identity_secret).where(c.id.in_(bots))
                )
            ).all()
            users = (await connection.execute(select(schema.conversations.c.user_id))).all()
        assert [row.identity_verification for row in rows] == ["off", "off"]
        assert all(HEX_SECRET.fullmatch(row.identity_secret) for row in rows)
        assert rows[0].identity_secret != rows[1].identity_secret
        assert users == [(None,)]
    finally:
        await engine.dispose()
