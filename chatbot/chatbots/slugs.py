"""Slugs: the public name of a chatbot in URLs and the embed snippet."""

from __future__ import annotations

import re
import unicodedata

SLUG_MIN = 3
SLUG_MAX = 64
SLUG_REGEX = "^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"
SLUG_PATTERN = re.compile(SLUG_REGEX)
SLUG_RULES = (
    f"use {SLUG_MIN}-{SLUG_MAX} lowercase letters, digits and hyphens, "
    "starting and ending with a letter or digit, like 'support-bot'"
)
# The same rule as JSON schema keywords, for the OpenAPI document.
SLUG_SCHEMA = {"pattern": SLUG_REGEX, "minLength": SLUG_MIN, "maxLength": SLUG_MAX}
_FALLBACK = "chatbot"


def slug_problem(slug: str) -> str | None:
    """Why `slug` is not a valid slug, or None when it is."""
    if not SLUG_MIN <= len(slug) <= SLUG_MAX or not SLUG_PATTERN.fullmatch(slug):
        return f"{slug!r} is not a valid slug: {SLUG_RULES}"
    return None


def checked_slug(slug: str) -> str:
    """The slug itself, or ValueError saying what a slug is (for pydantic fields)."""
    if problem := slug_problem(slug):
        raise ValueError(problem)
    return slug


def slugify(name: str) -> str:
    """A valid slug made from a display name ("Café Support!" -> "cafe-support")."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    # Leave room for a "-NNN" suffix so that a long name can still be made unique.
    base = base[: SLUG_MAX - 8].rstrip("-")
    if not base:
        return _FALLBACK
    if len(base) < SLUG_MIN:
        return f"{base}-bot"
    return base


def with_suffix(base: str, number: int) -> str:
    """`base` made distinct by a numeric suffix: support-bot, support-bot-2, support-bot-3."""
    if number <= 1:
        return base
    suffix = f"-{number}"
    return base[: SLUG_MAX - len(suffix)].rstrip("-") + suffix


def first_free(base: str, taken: set[str]) -> str:
    """The first of base, base-2, base-3... that is not in `taken`."""
    number = 1
    while (candidate := with_suffix(base, number)) in taken:
        number += 1
    return candidate
