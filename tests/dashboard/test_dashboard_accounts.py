"""Sign-up and profile forms: what they refuse, what they keep, what they change."""

from __future__ import annotations

import html

import pytest

from .dashboard_support import PASSWORD, post_form, sign_up, unique_email
from conftest import AppClient


def signup_fields(**changes: str) -> dict[str, str]:
    fields = {
        "name": "Ada",
        "email": unique_email(),
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    return {**fields, **changes}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"email": "not-an-email"}, "email", "must be an email address"),
        ({"email": ""}, "email", "must be an email address"),
        ({"password": "short", "password_confirm": "short"}, "password", "at least 8 characters"),
        ({"password_confirm": "something else"}, "password_confirm", "The two passwords differ"),
        ({"name": "bad\x07name"}, "name", "control characters"),
        ({"password": "x" * 2000, "password_confirm": "x" * 2000}, "password", "at most 1024"),
    ],
)
async def test_a_refused_signup_names_the_field_keeps_the_email_and_creates_nothing(
    client: AppClient, changes: dict[str, str], field: str, message: str
) -> None:
    fields = signup_fields(**changes)

    response = await post_form(client, "/dashboard/signup/", fields)

    assert response.status == 422
    page = html.unescape(await response.text())
    assert f'id="e-{field}"' in page
    assert message.lower() in page.lower()
    assert PASSWORD not in page  # passwords are never sent back
    if "@" in fields["email"]:
        assert f'value="{fields["email"]}"' in page
    assert (await client.get("/dashboard/inbox/", allow_redirects=False)).status == 303


async def test_signing_up_with_a_taken_email_says_to_log_in(client: AppClient) -> None:
    email = await sign_up(client)
    client.session.cookie_jar.clear()

    response = await post_form(client, "/dashboard/signup/", signup_fields(email=email))

    assert response.status == 409
    assert "already exists: log in instead" in await response.text()


async def test_the_profile_name_is_changed_and_shown(client: AppClient) -> None:
    await sign_up(client, name="Ada")

    response = await post_form(
        client, "/dashboard/profile/", {"name": "  Ada Lovelace "}, token_from="/dashboard/profile/"
    )

    assert response.status == 303
    page = await (await client.get("/dashboard/profile/")).text()
    assert 'value="Ada Lovelace"' in page
    assert "Your name is saved." in page


async def test_a_refused_profile_name_changes_nothing(client: AppClient) -> None:
    await sign_up(client, name="Ada")

    response = await post_form(
        client, "/dashboard/profile/", {"name": "x" * 201}, token_from="/dashboard/profile/"
    )

    assert response.status == 422
    assert 'id="e-name"' in await response.text()
    page = await (await client.get("/dashboard/profile/")).text()
    assert 'value="Ada"' in page


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"new_password": "short", "new_password_confirm": "short"}, "new_password"),
        (
            {"new_password": "long enough 1", "new_password_confirm": "long enough 2"},
            "new_password_confirm",
        ),
        ({"current_password": ""}, "current_password"),
    ],
)
async def test_a_refused_password_change_names_the_field(
    client: AppClient, fields: dict[str, str], field: str
) -> None:
    email = await sign_up(client)
    base = {
        "current_password": PASSWORD,
        "new_password": "a fine new password",
        "new_password_confirm": "a fine new password",
    }

    response = await post_form(
        client, "/dashboard/profile/password/", {**base, **fields}, token_from="/dashboard/profile/"
    )

    assert response.status == 422
    assert f'id="e-{field}"' in await response.text()
    login = await client.post("/auth/login/", json={"email": email, "password": PASSWORD})
    assert login.status == 200
