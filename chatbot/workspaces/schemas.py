"""Request and response bodies of the workspace routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

WorkspaceId = Annotated[str, StringConstraints(min_length=1, max_length=36)]
