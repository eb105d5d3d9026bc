"""The server-side snippet of docs/identity.md computes a hash the server accepts."""

from __future__ import annotations

import re
import subprocess
import sys

from chatbot_support import new_chatbot, signup

from conftest import AppClient
from support import REPO_ROOT

DOC = REPO_ROOT / "docs" / "identity.md"
USER_ID = "customer-1001 · Zoë"  # not ASCII: the snippet must encode as the server does


def python_snippet() -> str:
    """The Python block that follows the "Python:" line of the doc."""
    text = DOC.read_text(encoding="utf-8")
    found = re.search(r"^Python:\n\n```python\n(.*?)^```", text, flags=re.M | re.S)
    assert found, "docs/identity.md has no Python snippet after a 'Python:' line"
    return found.group(1)


def run_snippet(secret: str, user_id: str) -> str:
    """Run the snippet as a site's backend would, with its two inputs defined; its output."""
    program = f"IDENTITY_SECRET = {secret!r}\nUSER_ID = {user_id!r}\n" + python_snippet()
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout.strip()


async def test_the_python_snippets_hash_opens_a_verified_socket(client: AppClient) -> None:
    owner = await signup(client)
    chatbot = await new_chatbot(client, owner, identity_verification="required")
    user_hash = run_snippet(chatbot["identity_secret"], USER_ID)

    assert re.fullmatch(r"[0-9a-f]{64}", user_hash), user_hash
    async with client.ws_connect(
        f"/ws/chat/public/{chatbot['slug']}/", params={"user_id": USER_ID, "user_hash": user_hash}
    ) as ws:
        welcome = await ws.receive_json(timeout=5)
    assert welcome["type"] == "welcome"
    assert welcome["identified"] is True
    other_user = await client.get(
        f"/ws/chat/public/{chatbot['slug']}/",
        params={"user_id": USER_ID + "!", "user_hash": user_hash},
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert other_user.status == 403
