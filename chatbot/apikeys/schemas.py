"""Request and response bodies of the API key routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chatbot.fields.types import Text

NAME_MAX = 100

KeyName = Annotated[str, StringConstraints(min_length=1, max_length=NAME_MAX), Text()]


class ApiKeyCreate(BaseModel):
    """`POST /api/workspaces/{id}/api-keys/`: a name saying what the key is for."""

    model_config = ConfigDict(extra="forbid")

    name: KeyName = Field(description="e.g. the integration that will use it")


class ApiKeyOut(BaseModel):
    """A key as lists show it: its name and first characters, never the key itself."""

    id: str
    name: str
    hint: str = Field(description="the key's first characters, to tell keys apart")
    created_at: str
    last_used_at: str | None = Field(description="null until first used; updated once a minute")


class ApiKeyCreated(ApiKeyOut):
    """The new key: `key` appears in this answer only (the server keeps a hash of it)."""

    key: str = Field(description="send it as `Authorization: Bearer <key>`; shown once")


class ApiKeyList(BaseModel):
    items: list[ApiKeyOut]
