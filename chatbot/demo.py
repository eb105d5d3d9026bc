"""`chatbot serve --demo`: a demo account and the public `demo-chatbot`, made idempotently.

The demo login is documented and fixed, so anyone can try the dashboard at once; it is meant
for a local trial, never for a server reachable by others.
"""

from __future__ import annotations

import logging

from aiohttp import web

from chatbot import keys
from chatbot.auth.repository import EmailTaken, insert_user, user_by_email
from chatbot.auth.setup import PASSWORDS
from chatbot.brains.demo import load_demo_knowledge
from chatbot.chatbots.actions import create_chatbot
from chatbot.chatbots.repository import ChatbotRecord, load_chatbot
from chatbot.chatbots.schemas import ChatbotCreate, Theme
from chatbot.config import Settings
from chatbot.errors import Conflict
from chatbot.knowledge.actions import add_drafts
from chatbot.knowledge.drafts import pair_draft
from chatbot.workspaces.repository import memberships

log = logging.getLogger("chatbot")

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - documented on purpose, see the module docstring
DEMO_NAME = "Demo"
DEMO_SLUG = "demo-chatbot"
DEMO_CHATBOT_NAME = "Demo chatbot"


def demo_page_url(settings: Settings) -> str:
    """Where to open the demo page: the public URL, else the address the server listens on."""
    if settings.public_url:
        base = settings.public_url
    else:
        host = "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host
        host = f"[{host}]" if ":" in host else host
        base = f"http://{host}:{settings.port}"
    return f"{base}/demo/{DEMO_SLUG}/"


async def _demo_owner_id(app: web.Application) -> str:
    engine = app[keys.ENGINE]
    existing = await user_by_email(engine, DEMO_EMAIL)
    if existing is not None:
        return existing.id
    password_hash = await app[PASSWORDS].hash(DEMO_PASSWORD)
    try:
        return (await insert_user(engine, DEMO_EMAIL, DEMO_NAME, password_hash)).id
    except EmailTaken:  # another worker made it first
        user = await user_by_email(engine, DEMO_EMAIL)
        assert user is not None
        return user.id


async def ensure_demo(app: web.Application) -> ChatbotRecord:
    """The demo account and chatbot with its knowledge, created unless they exist."""
    engine = app[keys.ENGINE]
    existing = await load_chatbot(engine, slug=DEMO_SLUG)
    if existing is not None:
        return existing
    owner_id = await _demo_owner_id(app)
    # The demo account's own workspace, made with the account.
    workspace_id = (await memberships(engine, owner_id))[0].workspace_id
    body = ChatbotCreate(name=DEMO_CHATBOT_NAME, slug=DEMO_SLUG, theme=Theme(title="Demo chatbot"))
    try:
        chatbot = await create_chatbot(app, workspace_id, owner_id, body)
    except Conflict:  # another worker made it first (its slug is taken), knowledge included
        found = await load_chatbot(engine, slug=DEMO_SLUG)
        assert found is not None
        return found
    drafts = [pair_draft(item["question"], item["answer"]) for item in load_demo_knowledge()]
    await add_drafts(app, chatbot.id, drafts)
    log.info("demo: created %s with %d knowledge entries", DEMO_SLUG, len(drafts))
    return chatbot


async def _seed(app: web.Application) -> None:
    await ensure_demo(app)
    # Printed, not logged: it is for the person who started the demo, whatever the log level.
    print(
        f"Demo: chat with the demo bot at {demo_page_url(app[keys.SETTINGS])}\n"
        f"Demo: dashboard login {DEMO_EMAIL} / {DEMO_PASSWORD}",
        flush=True,
    )


def add_demo_seeding(app: web.Application) -> None:
    """Create the demo account and chatbot at start (after the resources are open)."""
    app.on_startup.append(_seed)
