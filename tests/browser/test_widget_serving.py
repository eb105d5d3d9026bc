"""How the server serves the widget (no browser needed here): `GET /static/widget.js` gzipped
when accepted, revalidated by ETag, re-read when the file changes; `GET /demo/{slug}/`."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import pytest

from chatbot.static_files import static_dir
from chatbot.widget.script import accepts_gzip

from conftest import AppClient, ClientFactory, SettingsFactory


async def test_the_widget_script_is_sent_gzipped_to_browsers_that_accept_it(
    client: AppClient, make_settings: SettingsFactory
) -> None:
    source = (static_dir(make_settings()) / "widget.js").read_bytes()

    response = await client.get(
        "/static/widget.js", headers={"Accept-Encoding": "gzip, deflate, br"}, auto_decompress=False
    )

    assert response.status == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Content-Type"] == "application/javascript; charset=utf-8"
    assert response.headers["Vary"] == "Accept-Encoding"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    body = await response.read()
    assert gzip.decompress(body) == source
    assert len(body) < len(source) / 2


@pytest.mark.parametrize("accept", ["", "identity", "gzip;q=0", "br"])
async def test_the_widget_script_is_sent_plain_when_gzip_is_not_accepted(
    client: AppClient, make_settings: SettingsFactory, accept: str
) -> None:
    source = (static_dir(make_settings()) / "widget.js").read_bytes()

    response = await client.get(
        "/static/widget.js", headers={"Accept-Encoding": accept}, auto_decompress=False
    )

    assert response.status == 200
    assert "Content-Encoding" not in response.headers
    assert await response.read() == source


async def test_a_cached_copy_is_revalidated_and_a_changed_file_gets_a_new_etag(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    script = tmp_path / "widget.js"
    script.write_text("console.log('first');\n")
    client = await make_client(static_dir=str(tmp_path))
    first = await client.get("/static/widget.js")
    etag = first.headers["ETag"]

    unchanged = await client.get("/static/widget.js", headers={"If-None-Match": etag})
    script.write_text("console.log('second release');\n")
    os.utime(script, ns=(0, script.stat().st_mtime_ns + 1_000_000))
    changed = await client.get("/static/widget.js", headers={"If-None-Match": etag})

    assert unchanged.status == 304
    assert await unchanged.read() == b""
    assert changed.status == 200
    assert changed.headers["ETag"] != etag
    assert await changed.text() == "console.log('second release');\n"


async def test_a_missing_widget_file_answers_404_saying_where_it_was_looked_for(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    client = await make_client(static_dir=str(tmp_path))

    response = await client.get("/static/widget.js")

    assert response.status == 404
    assert str(tmp_path) in await response.text()


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True),
        ("deflate, gzip;q=0.5", True),
        ("GZIP", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, br", False),
        ("gzip;q=abc", False),
        ("br, deflate", False),
        ("", False),
    ],
)
def test_accept_encoding_is_read_with_its_quality_values(header: str, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted


async def _chatbot(client: AppClient, **fields: Any) -> dict[str, Any]:
    registered = await client.post(
        "/auth/register/", json={"email": "owner@example.com", "password": "long enough pw"}
    )
    token = (await registered.json())["access"]
    created = await client.post(
        "/api/chatbots/", json=fields, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status == 201, await created.text()
    chatbot: dict[str, Any] = await created.json()
    return chatbot


@pytest.mark.parametrize("path", ["/demo/{slug}/", "/demo/{slug}"])
async def test_the_demo_page_embeds_the_widget_for_its_chatbot(
    client: AppClient, path: str
) -> None:
    chatbot = await _chatbot(client, name="Caf\u00e9 <Help> & co", slug="cafe-help")

    response = await client.get(path.format(slug="cafe-help"))

    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    page = await response.text()
    host = f"http://{client.server.host}:{client.server.port}"
    assert f'<script src="{host}/static/widget.js" data-chatbot="cafe-help" async></script>' in page
    assert "Caf\u00e9 &lt;Help&gt; &amp; co" in page
    assert "<Help>" not in page
    assert chatbot["slug"] == "cafe-help"


@pytest.mark.parametrize(
    "slug", ["no-such-bot", "UPPER", "%00", "a" * 5000, "%C3%A7a", "..%2F..%2Fetc", "%F0%9F%98%80"]
)
async def test_the_demo_page_of_an_unknown_or_invalid_slug_answers_404(
    client: AppClient, slug: str
) -> None:
    response = await client.get(f"/demo/{slug}/")

    assert response.status == 404
    assert "No chatbot with that name here." in await response.text()
