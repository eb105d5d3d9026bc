"""An `openai` brain's base_url must be a public address unless the operator allows others.

There is no network here, so public names cannot be resolved: a name that does not resolve is
accepted when saved (the connection-time guard refuses it later if it then points inside).
"""

from __future__ import annotations

import pytest
from chatbot_support import Account, error_of, new_chatbot, signup

from conftest import AppClient, ClientFactory

ALLOWED = {"brains": {"allow_private_base_urls": True}}

REFUSED_URLS = [
    "http://127.0.0.1:8080/v1",
    "http://127.9.9.9/v1",
    "http://0.0.0.0:8000/v1",
    "http://[::]:8000/v1",
    "http://[::1]/v1",
    "http://[::ffff:7f00:1]/v1",
    "http://[2002:7f00:1::]/v1",  # 6to4 around 127.0.0.1
    "http://2130706433/v1",  # 127.0.0.1 in decimal
    "http://0x7f.1/v1",
    "http://0177.0.0.1/v1",
    "http://127.1/v1",
    "http://localhost:11434/v1",
    "http://LOCALHOST./v1",
    "http://ollama.localhost/v1",
    "http://localhost./v1",
    "http://10.0.0.5/v1",
    "http://172.16.0.1/v1",
    "http://192.168.1.10/v1",
    "http://169.254.169.254/latest",  # cloud metadata
    "http://100.64.0.1/v1",  # carrier-grade NAT
    "http://[fe80::1]/v1",
    "http://[fc00::1]/v1",
    "http://224.0.0.1/v1",
    "http://240.0.0.1/v1",
    "http://255.255.255.255/v1",
]


def openai_brain(base_url: str) -> dict[str, str]:
    return {"type": "openai", "base_url": base_url, "model": "m"}


@pytest.mark.parametrize("base_url", REFUSED_URLS)
async def test_a_non_public_base_url_is_refused_at_create_and_update(
    client: AppClient, base_url: str
) -> None:
    account = await signup(client)
    created = await client.post(
        "/api/chatbots/",
        json={"name": "Bot", "brain": openai_brain(base_url)},
        headers=account.headers,
    )
    chatbot = await new_chatbot(client, account)
    updated = await client.patch(
        f"/api/chatbots/{chatbot['id']}/",
        json={"brain": openai_brain(base_url)},
        headers=account.headers,
    )

    for response in (created, updated):
        error = await error_of(response, 422)
        assert error["code"] == "url_not_allowed"
        assert "CHATBOT_BRAINS__ALLOW_PRIVATE_BASE_URLS" in error["message"]
        assert error["fields"][0]["field"] == "brain.base_url"
    stored = await client.get(f"/api/chatbots/{chatbot['id']}/", headers=account.headers)
    assert (await stored.json())["brain"]["type"] == "knowledge"


@pytest.mark.parametrize(
    "base_url",
    [
        "https://api.openai.com/v1",  # a public name (unresolvable without a network)
        "https://8.8.8.8/v1",
        "http://[2606:4700:4700::1111]/v1",
        "https://name.that-does-not-resolve.invalid/v1",
    ],
)
async def test_a_public_or_unresolved_base_url_is_accepted(
    client: AppClient, base_url: str
) -> None:
    account = await signup(client)
    created = await new_chatbot(client, account, brain=openai_brain(base_url))
    assert created["brain"]["base_url"] == base_url


async def test_the_setting_allows_private_base_urls(make_client: ClientFactory) -> None:
    client = await make_client(**ALLOWED)
    account: Account = await signup(client)
    created = await new_chatbot(client, account, brain=openai_brain("http://127.0.0.1:11434/v1"))
    assert created["brain"]["base_url"] == "http://127.0.0.1:11434/v1"
