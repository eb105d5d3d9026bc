"""`/healthz` and `/readyz` as the contract describes them."""

from __future__ import annotations

from conftest import AppClient, ClientFactory, drop_postgres_database


async def test_healthz_answers_ok(client: AppClient) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz_on_the_embedded_default_reports_redis_disabled(client: AppClient) -> None:
    response = await client.get("/readyz/")
    assert response.status == 200
    assert await response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "disabled"},
    }


async def test_readyz_with_redis_reports_both_ok(
    make_client: ClientFactory, postgres_url: str, redis_url: str
) -> None:
    client = await make_client(database_url=postgres_url, redis_url=redis_url)
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["checks"] == {"database": "ok", "redis": "ok"}


async def test_readyz_answers_503_naming_the_database_when_it_goes_away(
    make_client: ClientFactory, postgres_url: str
) -> None:
    client = await make_client(database_url=postgres_url)
    assert (await client.get("/readyz")).status == 200

    await drop_postgres_database(postgres_url)

    response = await client.get("/readyz")
    assert response.status == 503
    body = await response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "unavailable"
    assert body["error"]["code"] == "unavailable"
    assert "database" in body["error"]["message"]
    health = await client.get("/healthz")
    assert health.status == 200


async def test_api_requests_answer_503_not_500_while_the_database_is_gone(
    make_client: ClientFactory, postgres_url: str
) -> None:
    client = await make_client(database_url=postgres_url)
    registered = await client.post(
        "/auth/register/", json={"email": "down@example.com", "password": "long-enough-pw"}
    )
    token = (await registered.json())["access"]

    await drop_postgres_database(postgres_url)

    response = await client.get("/api/chatbots/", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 503
    body = await response.json()
    assert body["error"]["code"] == "unavailable"
    assert "database" in body["error"]["message"]
