"""The dashboard: budget fields on the chatbot form, the used-up notice, tokens in analytics."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from api_support import bearer
from dashboard.dashboard_support import access_token, post_form, sign_up
from spend_support import MeteredModel, ask, usage, visitor_path

from conftest import AppClient, ClientFactory

OPENAI_FORM = {
    "name": "Shop",
    "slug": "",
    "greeting": "",
    "brain_type": "openai",
    "model": "metered",
    "primary_color": "#2563eb",
    "position": "right",
}


@pytest.fixture
async def model() -> AsyncIterator[MeteredModel]:
    fake = MeteredModel()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def client(make_client: ClientFactory) -> AppClient:
    client = await make_client(brains={"allow_private_base_urls": True, "semantic": False})
    await sign_up(client)
    return client


async def test_a_budget_set_in_the_form_once_used_up_shows_a_notice_and_the_tokens(
    client: AppClient, model: MeteredModel
) -> None:
    form = {**OPENAI_FORM, "base_url": model.base_url}
    created = await post_form(
        client,
        "/dashboard/chatbots/new/",
        {**form, "monthly_tokens": "50", "conversation_tokens": "1,000"},
    )
    assert created.status == 303, await created.text()
    chatbot_id = created.headers["Location"].split("/")[3]
    headers = bearer(await access_token(client))
    chatbot = await (await client.get(f"/api/chatbots/{chatbot_id}/", headers=headers)).json()
    assert chatbot["token_budget"] == {"monthly": 50, "per_conversation": 1000}
    edit = await (await client.get(f"/dashboard/chatbots/{chatbot_id}/")).text()
    assert 'name="monthly_tokens" type="text" value="50"' in edit

    before = await (await client.get("/dashboard/analytics/")).text()
    async with client.ws_connect(visitor_path(chatbot["slug"])) as visitor:
        assert (await ask(visitor, "When do you open?"))["text"] == model.answer
    assert (await usage(client, headers, chatbot_id))["budget_reached"] is True
    analytics = await (await client.get("/dashboard/analytics/")).text()
    listing = await (await client.get("/dashboard/chatbots/")).text()

    assert 'data-notice="token-budget"' not in before
    assert 'data-kpi="LLM tokens">0<' in before
    assert 'data-kpi="LLM tokens">50<' in analytics
    assert "LLM tokens per day" in analytics
    assert "Prompt: 40" in analytics
    for page in (analytics, listing):
        assert f'data-notice="token-budget" data-chatbot-id="{chatbot_id}"' in page
        assert "50 of 50 tokens" in page


@pytest.mark.parametrize(
    ("field", "value"),
    [("monthly_tokens", "lots"), ("monthly_tokens", "0"), ("conversation_tokens", "-3")],
)
async def test_a_bad_budget_in_the_form_is_shown_on_its_field(
    client: AppClient, model: MeteredModel, field: str, value: str
) -> None:
    form = {**OPENAI_FORM, "base_url": model.base_url, field: value}
    response = await post_form(client, "/dashboard/chatbots/new/", form)

    page = await response.text()
    assert response.status == 422, page
    assert f'id="e-{field}"' in page
