"""Account actions shared by the REST API and the dashboard: sign up, log in, change password.

They check credentials and change the database; issuing tokens or cookie sessions is left to
the caller. A password change also ends the account's earlier sessions on every instance.
"""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.auth import repository
from chatbot.auth.repository import EmailTaken, UserRecord
from chatbot.auth.sessions import end_earlier_sessions, remember
from chatbot.auth.setup import PASSWORDS
from chatbot.ratelimit.check import check_rate, enforce_rate

__all__ = [
    "AccountGone",
    "EmailTaken",
    "change_password",
    "register_account",
    "rename_account",
    "verify_login",
]


class AccountGone(Exception):
    """The account was deleted while its session was open."""


async def register_account(
    app: web.Application, email: str, name: str, password: str
) -> UserRecord:
    """A new account (EmailTaken when the address is already used)."""
    engine = app[keys.ENGINE]
    # Checked first so that a taken address costs no hashing; the insert still decides races.
    if await repository.user_by_email(engine, email) is not None:
        raise EmailTaken(email)
    password_hash = await app[PASSWORDS].hash(password)
    return await repository.insert_user(engine, email, name, password_hash)


async def verify_login(
    app: web.Application, email: str, password: str, address: str
) -> UserRecord | None:
    """The account these credentials prove, or None; failures count per account and address."""
    await _refuse_while_failing(app, email, address)
    passwords = app[PASSWORDS]
    engine = app[keys.ENGINE]
    record = await repository.user_by_email(engine, email)
    if record is None:
        # An unknown email takes as long as a wrong password: no way to probe for accounts.
        await passwords.verify_unknown(password)
        await _count_failure(app, email, address)
        return None
    if not await passwords.verify(record.password_hash, password):
        await _count_failure(app, email, address)
        return None
    if passwords.needs_rehash(record.password_hash):
        await repository.update_password_hash(engine, record.id, await passwords.hash(password))
    return record


async def change_password(
    app: web.Application, user_id: str, email: str, current: str, new: str, address: str
) -> UserRecord | None:
    """Set a new password, ending every other session; None when `current` is wrong."""
    engine = app[keys.ENGINE]
    # Guesses at the current password count like failed logins on the account.
    await _refuse_while_failing(app, email, address)
    passwords = app[PASSWORDS]
    record = await repository.user_by_id(engine, user_id)
    if record is None:
        raise AccountGone(user_id)
    if not await passwords.verify(record.password_hash, current):
        await _count_failure(app, email, address)
        return None
    changed = await repository.change_password(engine, user_id, await passwords.hash(new))
    if changed is None:
        raise AccountGone(user_id)
    await end_earlier_sessions(app, changed)
    return changed


# Only failures count, and per address, so that a stranger's wrong guesses never refuse the
# owner's right password from elsewhere. The per-account ceiling, against guessing spread over
# many addresses, refuses only addresses that failed for the account lately, for the same reason.
PAIR_POLICY = "login_failures_per_account_address"
ACCOUNT_POLICY = "login_per_account"


async def _refuse_while_failing(app: web.Application, email: str, address: str) -> None:
    """RateLimitExceeded (429) while this address is over a failure limit, counting nothing."""
    pair = await enforce_rate(app, PAIR_POLICY, email, address, count=False)
    if pair.remaining < pair.limit:
        await enforce_rate(app, ACCOUNT_POLICY, email, count=False)


async def _count_failure(app: web.Application, email: str, address: str) -> None:
    await check_rate(app, PAIR_POLICY, email, address)
    await check_rate(app, ACCOUNT_POLICY, email)


async def rename_account(app: web.Application, user_id: str, name: str) -> UserRecord:
    """Change the account's display name and publish it to every instance."""
    record = await repository.update_name(app[keys.ENGINE], user_id, name)
    if record is None:
        raise AccountGone(user_id)
    await remember(app, record)
    return record
