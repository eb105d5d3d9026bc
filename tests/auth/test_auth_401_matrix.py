"""Every way a request can fail to authenticate answers 401 with the contract's JSON error."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from auth_support import bearer, forge, register

from chatbot.auth.sessions import authenticate_token
from chatbot.errors import NotAuthenticated

from conftest import AppClient


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["name"] = "Mallory"
    claims["sep"] = claims["sep"] + 1
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _alg_none(session: dict[str, Any]) -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    payload = session["access"].split(".")[1]
    return f"{header}.{payload}."


now = int(time.time())
# (case, headers made from a fresh session, expected error code)
MATRIX: list[tuple[str, Callable[[dict[str, Any]], dict[str, str]], str]] = [
    ("no token", lambda s: {}, "not_authenticated"),
    (
        "not bearer",
        lambda s: {"Authorization": f"Basic {s['access']}"},
        "invalid_authorization_header",
    ),
    ("empty bearer", lambda s: {"Authorization": "Bearer "}, "invalid_authorization_header"),
    ("garbage", lambda s: bearer("garbage"), "invalid_token"),
    ("three garbage parts", lambda s: bearer("aaa.bbb.ccc"), "invalid_token"),
    (
        "wrong signature",
        lambda s: bearer(forge(sub=s["user"]["id"], key=b"k" * 32)),
        "invalid_token",
    ),
    ("alg none", lambda s: bearer(_alg_none(s)), "invalid_token"),
    (
        "alg HS512",
        lambda s: bearer(forge(sub=s["user"]["id"], algorithm="HS512", key=b"k" * 64)),
        "invalid_token",
    ),
    (
        "expired",
        lambda s: bearer(forge(sub=s["user"]["id"], iat=now - 1000, exp=now - 10)),
        "token_expired",
    ),
    (
        "iat in future",
        lambda s: bearer(forge(sub=s["user"]["id"], iat=now + 3600, exp=now + 7200)),
        "token_not_yet_valid",
    ),
    (
        "nbf in future",
        lambda s: bearer(forge(sub=s["user"]["id"], nbf=now + 3600)),
        "token_not_yet_valid",
    ),
    (
        "wrong iss",
        lambda s: bearer(forge(sub=s["user"]["id"], iss="someone-else")),
        "invalid_token",
    ),
    (
        "wrong aud",
        lambda s: bearer(forge(sub=s["user"]["id"], aud="someone-else")),
        "invalid_token",
    ),
    ("missing exp", lambda s: bearer(forge(sub=s["user"]["id"], drop=("exp",))), "invalid_token"),
    ("missing iat", lambda s: bearer(forge(sub=s["user"]["id"], drop=("iat",))), "invalid_token"),
    ("missing jti", lambda s: bearer(forge(sub=s["user"]["id"], drop=("jti",))), "invalid_token"),
    ("missing sub", lambda s: bearer(forge(drop=("sub",))), "invalid_token"),
    ("refresh token as access", lambda s: bearer(s["refresh"]), "wrong_token_type"),
    ("tampered payload", lambda s: bearer(_tamper(s["access"])), "invalid_token"),
    ("unknown user", lambda s: bearer(forge()), "account_deleted"),
    (
        "older session epoch",
        lambda s: bearer(forge(sub=s["user"]["id"], sep=-1)),
        "session_revoked",
    ),
]


@pytest.mark.parametrize(("case", "headers", "code"), MATRIX, ids=[case[0] for case in MATRIX])
async def test_unauthenticated_requests_answer_401_json(
    client: AppClient,
    case: str,
    headers: Callable[[dict[str, Any]], dict[str, str]],
    code: str,
) -> None:
    session = await register(client)
    for method in ("GET", "PATCH"):
        response = await client.request(method, "/auth/me/", headers=headers(session), json={})
        assert response.status == 401, case
        assert response.content_type == "application/json"
        body = await response.json()
        assert body["error"]["code"] == code, body
        assert body["error"]["message"]


async def test_the_same_forged_claims_signed_properly_are_accepted(client: AppClient) -> None:
    """The matrix above fails for the reason it names, not because forging is broken."""
    session = await register(client)
    response = await client.get("/auth/me/", headers=bearer(forge(sub=session["user"]["id"])))
    assert response.status == 200


async def test_an_access_token_is_refused_as_a_refresh_token(client: AppClient) -> None:
    session = await register(client)
    for path in ("/auth/refresh/", "/auth/logout/"):
        response = await client.post(path, json={"refresh": session["access"]})
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "wrong_token_type"


async def test_a_header_that_is_not_ascii_is_refused_not_crashed(client: AppClient) -> None:
    response = await client.get("/auth/me/", headers={"Authorization": "Bearer \u00e9t\u00e9.x.y"})
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "invalid_token"


async def test_the_bearer_scheme_is_case_insensitive(client: AppClient) -> None:
    session = await register(client)
    response = await client.get(
        "/auth/me/", headers={"Authorization": f"bearer {session['access']}"}
    )
    assert response.status == 200


async def test_authenticate_token_serves_websockets_with_precise_codes(client: AppClient) -> None:
    session = await register(client)
    user = await authenticate_token(client.app, session["access"])
    assert (user.id, user.email, user.name) == (
        session["user"]["id"],
        session["user"]["email"],
        "Ada",
    )
    with pytest.raises(NotAuthenticated) as refused:
        await authenticate_token(client.app, session["refresh"])
    assert refused.value.code == "wrong_token_type"
    with pytest.raises(NotAuthenticated) as garbage:
        await authenticate_token(client.app, "nonsense")
    assert garbage.value.code == "invalid_token"
