"""The token budget fields and the usage route: what is accepted, and 4xx for the rest."""

from __future__ import annotations

from typing import Any

import pytest
from api_support import create_chatbot, error_of
from spend_support import owner

from conftest import AppClient

BUDGET = "token_budget"
NO_LIMITS = {"monthly": None, "per_conversation": None}

# (case, the token_budget sent, the field the error names)
BAD_BUDGETS: list[tuple[str, Any, str]] = [
    ("zero", {"monthly": 0}, f"{BUDGET}.monthly"),
    ("negative", {"per_conversation": -5}, f"{BUDGET}.per_conversation"),
    ("a fraction", {"monthly": 10.5}, f"{BUDGET}.monthly"),
    ("text", {"monthly": "1000"}, f"{BUDGET}.monthly"),
    ("a boolean", {"per_conversation": True}, f"{BUDGET}.per_conversation"),
    ("past a trillion", {"monthly": 10**12 + 1}, f"{BUDGET}.monthly"),
    ("an unknown limit", {"daily": 5}, f"{BUDGET}.daily"),
    ("a list", [1000], BUDGET),
    ("a number", 1000, BUDGET),
]


@pytest.mark.parametrize(("case", "budget", "field"), BAD_BUDGETS, ids=[c[0] for c in BAD_BUDGETS])
async def test_a_bad_budget_answers_422_naming_the_field_on_create_and_on_patch(
    client: AppClient, case: str, budget: Any, field: str
) -> None:
    headers = await owner(client)
    created = await client.post(
        "/api/chatbots/", json={"name": "A", BUDGET: budget}, headers=headers
    )
    error = await error_of(created, 422)
    assert error["code"] == "validation_error"
    assert field in [item["field"] for item in error["fields"]], error

    bot = await create_chatbot(client, headers, name="B", token_budget={"monthly": 7})
    patched = await client.patch(
        f"/api/chatbots/{bot['id']}/", json={BUDGET: budget}, headers=headers
    )
    assert field in [item["field"] for item in (await error_of(patched, 422))["fields"]]
    after = await (await client.get(f"/api/chatbots/{bot['id']}/", headers=headers)).json()
    assert after[BUDGET] == {"monthly": 7, "per_conversation": None}


async def test_a_budget_is_shown_kept_changed_per_limit_and_cleared(client: AppClient) -> None:
    headers = await owner(client)
    plain = await create_chatbot(client, headers, name="Plain")
    bot = await create_chatbot(
        client, headers, name="Capped", token_budget={"monthly": 5000.0, "per_conversation": 800}
    )
    path = f"/api/chatbots/{bot['id']}/"

    async def patched(body: dict[str, Any]) -> dict[str, Any]:
        response = await client.patch(path, json=body, headers=headers)
        answer: dict[str, Any] = await response.json()
        assert response.status == 200, answer
        return answer[BUDGET]  # type: ignore[no-any-return]

    assert plain[BUDGET] == NO_LIMITS
    assert bot[BUDGET] == {"monthly": 5000, "per_conversation": 800}
    assert await patched({"name": "Renamed"}) == {"monthly": 5000, "per_conversation": 800}
    assert await patched({BUDGET: {"monthly": 9000}}) == {"monthly": 9000, "per_conversation": 800}
    assert await patched({BUDGET: {"per_conversation": None}}) == {
        "monthly": 9000,
        "per_conversation": None,
    }
    assert await patched({BUDGET: None}) == NO_LIMITS


async def test_the_usage_route_answers_both_slash_forms_and_refuses_what_it_should(
    client: AppClient,
) -> None:
    headers = await owner(client)
    bot = await create_chatbot(client, headers, name="Quiet", token_budget={"monthly": 10})
    stranger = await owner(client)
    path = f"/api/chatbots/{bot['id']}/usage"

    for variant in (path, path + "/"):
        response = await client.get(variant, headers=headers)
        body = await response.json()
        assert response.status == 200, body
        assert (body["total_tokens"], body["remaining"], body["budget_reached"]) == (0, 10, False)
    past = await (await client.get(path + "/?month=2024-02", headers=headers)).json()
    assert past["month"] == "2024-02"
    assert [day["day"] for day in past["days"]][::28] == ["2024-02-01", "2024-02-29"]
    future = await (await client.get(path + "/?month=9999-12", headers=headers)).json()
    assert future["days"] == []

    for month in ("2024-13", "2024-1", "24-01", "2024-01-01", "0000-01", "", "march"):
        response = await client.get(path + "/", params={"month": month}, headers=headers)
        error = await error_of(response, 422)
        assert "month" in [item["field"] for item in error["fields"]], (month, error)
    assert (await error_of(await client.get(path + "/"), 401))["code"]
    assert (await error_of(await client.get(path + "/", headers=stranger), 404))["code"]
    missing = "/api/chatbots/00000000-0000-0000-0000-000000000000/usage/"
    assert (await error_of(await client.get(missing, headers=headers), 404))["code"]
