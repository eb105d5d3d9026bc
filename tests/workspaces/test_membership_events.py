"""Every membership change is published on the broker for the other instances: joining,
a role change and a removal, each as (workspace, user, role or None)."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from workspace_support import own_workspace, signup

from chatbot.workspaces.events import MEMBERSHIP_CHANNEL, parse_membership_changed

from conftest import ClientFactory

TAG_BYTES = 8  # each instance's tag before the payload (chatbot/backends/redis_broker.py)


async def test_joining_a_role_change_and_a_removal_are_published(
    make_client: ClientFactory, postgres_url: str, redis_url: str, redis_prefix: str
) -> None:
    api = await make_client(database_url=postgres_url, redis_url=redis_url)
    alice, bob = await signup(api, "Alice"), await signup(api, "Bob")
    workspace_id = await own_workspace(api, alice)
    redis = Redis.from_url(redis_url)
    pubsub = redis.pubsub()
    await pubsub.subscribe(f"{redis_prefix}:{MEMBERSHIP_CHANNEL}")
    try:
        invited = await api.post(
            f"/api/workspaces/{workspace_id}/invitations/",
            json={"email": bob.email, "role": "agent"},
            headers=alice.headers,
        )
        token = (await invited.json())["token"]
        await api.post(f"/api/invitations/{token}/accept/", headers=bob.headers)
        member = f"/api/workspaces/{workspace_id}/members/{bob.user['id']}/"
        await api.patch(member, json={"role": "admin"}, headers=alice.headers)
        await api.delete(member, headers=alice.headers)

        events = []
        async with asyncio.timeout(5):
            while len(events) < 3:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:
                    events.append(parse_membership_changed(message["data"][TAG_BYTES:]))
    finally:
        await pubsub.aclose()
        await redis.aclose()

    bob_id = bob.user["id"]
    assert events == [
        (workspace_id, bob_id, "agent"),
        (workspace_id, bob_id, "admin"),
        (workspace_id, bob_id, None),
    ]
