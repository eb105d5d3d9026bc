"""The API documentation page: served from our own files, loading nothing from elsewhere."""

from __future__ import annotations

import re

import pytest

from conftest import AppClient


async def test_the_docs_page_is_html_from_our_own_files(client: AppClient) -> None:
    for path in ("/api/docs", "/api/docs/"):
        response = await client.get(path)
        assert response.status == 200
        assert response.content_type == "text/html"
        html = await response.text()
        assert "/api/docs/docs.js" in html
        assert "/api/docs/docs.css" in html
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "default-src 'none'" in csp


async def test_every_file_the_page_references_is_served_locally(client: AppClient) -> None:
    html = await (await client.get("/api/docs/")).text()
    references = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert references
    for reference in references:
        assert reference.startswith("/"), f"{reference} is not served by us"
        response = await client.get(reference)
        assert response.status == 200, reference


@pytest.mark.parametrize(
    ("name", "content_type"), [("docs.js", "text/javascript"), ("docs.css", "text/css")]
)
async def test_the_page_assets_have_their_types_and_no_remote_urls(
    client: AppClient, name: str, content_type: str
) -> None:
    response = await client.get(f"/api/docs/{name}")
    assert response.status == 200
    assert response.content_type == content_type
    text = await response.text()
    assert not re.search(r"https?://", text), "the docs page must not load anything remote"


@pytest.mark.parametrize("name", ["index.htm", "..%2F..%2Fsetup.cfg", "missing.js", "docs.js.map"])
async def test_other_names_under_the_docs_path_answer_json_404(
    client: AppClient, name: str
) -> None:
    response = await client.get(f"/api/docs/{name}")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


async def test_the_page_renders_the_served_document(client: AppClient) -> None:
    script = await (await client.get("/api/docs/docs.js")).text()
    # The page reads the very document this server builds, and renders text, never markup.
    assert 'fetch("/api/openapi.json")' in script
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
