"""Request and response bodies of the workspace, member and invitation routes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chatbot.auth.schemas import Email, UserOut
from chatbot.fields.types import Text

# Letters, digits and dashes: a control character or NUL (which PostgreSQL refuses) is a 422.
WorkspaceId = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z-]{1,36}$")]
RoleName = Literal["owner", "admin", "agent"]
WorkspaceName = Annotated[str, StringConstraints(min_length=1, max_length=200), Text()]


class _Body(BaseModel):
    # Unknown fields are refused so that a misspelt field is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


class WorkspaceCreate(_Body):
    """`POST /api/workspaces/`: you become its owner."""

    name: WorkspaceName


class WorkspaceOut(BaseModel):
    """A workspace with your role in it."""

    id: str
    name: str
    role: RoleName


class WorkspaceList(BaseModel):
    items: list[WorkspaceOut]


class InvitationCreate(_Body):
    """`POST /api/workspaces/{id}/invitations/`: only an account with this email may accept."""

    email: Email
    role: RoleName = Field(default="agent", description="the role the invited person gets")


class InvitationOut(BaseModel):
    """A new invitation: `token` appears in this answer only."""

    id: str
    email: str
    role: RoleName
    token: str
    expires_at: str
    accept_url: str = Field(description="the dashboard page where the invited person accepts")


class PendingInvitationOut(BaseModel):
    id: str
    email: str
    role: RoleName
    created_at: str
    expires_at: str


class PendingInvitationList(BaseModel):
    items: list[PendingInvitationOut]


class AcceptedInvitation(BaseModel):
    workspace: WorkspaceOut


class MemberOut(BaseModel):
    user: UserOut
    role: RoleName


class MemberList(BaseModel):
    items: list[MemberOut]


class RoleUpdate(_Body):
    """`PATCH /api/workspaces/{id}/members/{user_id}/`."""

    role: RoleName
