"""Pure rules: what a slug and an origin are, and how names and origins are normalized."""

from __future__ import annotations

import pytest

from chatbot.chatbots.origins import OriginError, normalize_origin, normalize_origins
from chatbot.chatbots.slugs import first_free, slug_problem, slugify, with_suffix


@pytest.mark.parametrize("slug", ["abc", "demo-chatbot", "a1-b2-c3", "123", "a" * 64])
def test_valid_slugs(slug: str) -> None:
    assert slug_problem(slug) is None


@pytest.mark.parametrize(
    "slug", ["ab", "a" * 65, "Demo", "my_bot", "my bot", "-bot", "bot-", "bøt", "", "a/b"]
)
def test_invalid_slugs_are_explained(slug: str) -> None:
    problem = slug_problem(slug)
    assert problem is not None
    assert "lowercase letters, digits and hyphens" in problem


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Support Bot", "support-bot"),
        ("Café & Crème", "cafe-creme"),
        ("  --Hello--  ", "hello"),
        ("A", "a-bot"),
        ("日本語", "chatbot"),
        ("x" * 100, "x" * 56),
    ],
)
def test_slugify_makes_valid_slugs_from_any_name(name: str, slug: str) -> None:
    assert slugify(name) == slug
    assert slug_problem(slugify(name)) is None


def test_suffixes_keep_slugs_within_the_length_limit() -> None:
    assert with_suffix("help", 1) == "help"
    assert with_suffix("help", 7) == "help-7"
    long = with_suffix("x" * 64, 123)
    assert len(long) == 64
    assert long.endswith("-123")
    assert first_free("help", {"help", "help-2", "help-4"}) == "help-3"
    assert first_free("help", set()) == "help"


@pytest.mark.parametrize(
    ("value", "origin"),
    [
        ("https://example.com", "https://example.com"),
        ("HTTPS://Example.COM/", "https://example.com"),
        ("https://example.com:443", "https://example.com"),
        ("http://example.com:80", "http://example.com"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("https://bücher.de", "https://xn--bcher-kva.de"),
        ("  https://example.com  ", "https://example.com"),
    ],
)
def test_origins_are_normalized(value: str, origin: str) -> None:
    assert normalize_origin(value) == origin


@pytest.mark.parametrize(
    "value",
    [
        "example.com",
        "ftp://example.com",
        "https://",
        "https://example.com/path",
        "https://example.com?q=1",
        "https://example.com#top",
        "https://user:pw@example.com",
        "https://example.com:0",
        "https://example.com:99999",
        "null",
        "*",
        "",
    ],
)
def test_non_origins_are_refused_with_the_reason(value: str) -> None:
    with pytest.raises(OriginError, match="not an origin"):
        normalize_origin(value)


def test_origin_lists_drop_duplicates_and_keep_order() -> None:
    assert normalize_origins(["https://b.com", "https://a.com", "HTTPS://B.COM"]) == [
        "https://b.com",
        "https://a.com",
    ]
    with pytest.raises(OriginError, match="at most"):
        normalize_origins([f"https://site{n}.example" for n in range(101)])
