"""`/api/workspaces/`: workspaces, their members and invitations; `/api/invitations/`."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.auth.context import current_user
from chatbot.auth.schemas import UserOut
from chatbot.chatbots.routes import public_base_url
from chatbot.errors import Conflict, Forbidden, NotFound
from chatbot.http.responses import json_response, no_content
from chatbot.http.routing import RouteTable
from chatbot.http.validation import read_json
from chatbot.storage.values import iso
from chatbot.workspaces import invitations, members, repository
from chatbot.workspaces.policy import require, workspace_not_found, workspaces_of
from chatbot.workspaces.principal import current_principal
from chatbot.workspaces.repository import MemberChange, MemberRecord, Membership
from chatbot.workspaces.roles import Action, Role
from chatbot.workspaces.schemas import (
    AcceptedInvitation,
    InvitationCreate,
    InvitationOut,
    MemberList,
    MemberOut,
    PendingInvitationList,
    PendingInvitationOut,
    RoleUpdate,
    WorkspaceCreate,
    WorkspaceList,
    WorkspaceOut,
)

TAG = "workspaces"


def workspace_out(found: Membership) -> WorkspaceOut:
    return WorkspaceOut(id=found.workspace_id, name=found.name, role=found.role.value)


def member_out(member: MemberRecord) -> MemberOut:
    user = UserOut(
        id=member.user_id,
        email=member.email,
        name=member.name,
        created_at=iso(member.created_at) or "",
    )
    return MemberOut(user=user, role=member.role.value)


def accept_url(request: web.Request, token: str) -> str:
    """The dashboard page where the invited person accepts."""
    return f"{public_base_url(request)}/dashboard/invitations/{token}/"


async def list_workspaces(request: web.Request) -> web.Response:
    found = await workspaces_of(request)
    return json_response(WorkspaceList(items=[workspace_out(item) for item in found]))


async def create_workspace(request: web.Request) -> web.Response:
    body = await read_json(request, WorkspaceCreate, strict=True)
    user_id = current_principal(request).user_id
    if user_id is None:
        raise Forbidden(
            "this credential acts in its one workspace and cannot create others: "
            "log in as a person to create a workspace",
            code="forbidden",
        )
    created = await members.create_workspace(request.app, user_id, body.name)
    return json_response(workspace_out(created), status=201)


async def get_workspace(request: web.Request) -> web.Response:
    workspace_id = request.match_info["workspace_id"]
    role = await require(request, workspace_id, Action.READ)
    name = await repository.workspace_name(request.app[keys.ENGINE], workspace_id)
    if name is None:  # deleted meanwhile
        raise workspace_not_found(workspace_id)
    return json_response(workspace_out(Membership(workspace_id, name, role)))


async def list_members(request: web.Request) -> web.Response:
    workspace_id = request.match_info["workspace_id"]
    await require(request, workspace_id, Action.READ)
    found = await repository.members(request.app[keys.ENGINE], workspace_id)
    return json_response(MemberList(items=[member_out(member) for member in found]))


def _member_not_found(user_id: str) -> NotFound:
    return NotFound(
        f"no member with user id {user_id!r} in this workspace", code="member_not_found"
    )


def _refused(outcome: MemberChange, user_id: str) -> None:
    if outcome is MemberChange.NOT_A_MEMBER:
        raise _member_not_found(user_id)
    if outcome is MemberChange.LAST_OWNER:
        raise Conflict(
            "this is the workspace's last owner: make another member owner first",
            code="last_owner",
        )


async def update_member(request: web.Request) -> web.Response:
    workspace_id, user_id = request.match_info["workspace_id"], request.match_info["user_id"]
    await require(request, workspace_id, Action.MANAGE)
    body = await read_json(request, RoleUpdate, strict=True)
    _refused(
        await members.change_role(request.app, workspace_id, user_id, Role(body.role)), user_id
    )
    found = await repository.members(request.app[keys.ENGINE], workspace_id)
    member = next((m for m in found if m.user_id == user_id), None)
    if member is None:  # removed meanwhile
        raise _member_not_found(user_id)
    return json_response(member_out(member))


async def remove_member(request: web.Request) -> web.Response:
    workspace_id, user_id = request.match_info["workspace_id"], request.match_info["user_id"]
    await require(request, workspace_id, Action.MANAGE)
    _refused(await members.remove(request.app, workspace_id, user_id), user_id)
    return no_content()


async def create_invitation(request: web.Request) -> web.Response:
    workspace_id = request.match_info["workspace_id"]
    await require(request, workspace_id, Action.MANAGE)
    body = await read_json(request, InvitationCreate, strict=True)
    invitation, token = await members.invite(
        request.app,
        workspace_id,
        body.email,
        Role(body.role),
        current_principal(request).user_id,
    )
    answer = InvitationOut(
        id=invitation.id,
        email=invitation.email,
        role=invitation.role.value,
        token=token,
        expires_at=iso(invitation.expires_at) or "",
        accept_url=accept_url(request, token),
    )
    return json_response(answer, status=201)


async def list_invitations(request: web.Request) -> web.Response:
    workspace_id = request.match_info["workspace_id"]
    await require(request, workspace_id, Action.MANAGE)
    found = await invitations.pending_invitations(request.app[keys.ENGINE], workspace_id)
    items = [
        PendingInvitationOut(
            id=item.id,
            email=item.email,
            role=item.role.value,
            created_at=iso(item.created_at) or "",
            expires_at=iso(item.expires_at) or "",
        )
        for item in found
    ]
    return json_response(PendingInvitationList(items=items))


async def revoke_invitation(request: web.Request) -> web.Response:
    workspace_id = request.match_info["workspace_id"]
    invitation_id = request.match_info["invitation_id"]
    await require(request, workspace_id, Action.MANAGE)
    if not await invitations.revoke_invitation(
        request.app[keys.ENGINE], workspace_id, invitation_id
    ):
        raise NotFound(
            f"no pending invitation with id {invitation_id!r}", code="invitation_not_found"
        )
    return no_content()


INVITATION_NOT_FOUND = (
    "no invitation with this token for your account: it may have been used already, have "
    "expired, or be meant for another email address"
)


async def accept_invitation(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    principal = current_principal(request)
    joined = None
    if principal.user_id is not None and len(token) <= 256:
        user = current_user(request)
        joined = await members.accept(request.app, token, user.id, user.email)
    if joined is None:
        raise NotFound(INVITATION_NOT_FOUND, code="invitation_not_found")
    return json_response(AcceptedInvitation(workspace=workspace_out(joined)))


def add_workspace_routes(routes: RouteTable) -> None:
    """Register the workspace, member and invitation routes."""
    workspace = "/api/workspaces/{workspace_id}/"
    member = workspace + "members/{user_id}/"
    invitation = workspace + "invitations/{invitation_id}/"
    body_errors = (400, 401, 403, 404, 413, 422)
    routes.add(
        "GET",
        "/api/workspaces/",
        list_workspaces,
        response=WorkspaceList,
        errors=(401,),
        summary="Your workspaces, with your role in each",
        tag=TAG,
    )
    routes.add(
        "POST",
        "/api/workspaces/",
        create_workspace,
        body=WorkspaceCreate,
        response=WorkspaceOut,
        status=201,
        errors=(400, 401, 403, 413, 422),
        summary="Create a workspace (you become its owner)",
        tag=TAG,
    )
    routes.add(
        "GET",
        workspace,
        get_workspace,
        response=WorkspaceOut,
        errors=(401, 404),
        summary="A workspace, with your role in it",
        tag=TAG,
    )
    routes.add(
        "GET",
        workspace + "members/",
        list_members,
        response=MemberList,
        errors=(401, 404),
        summary="The workspace's members and their roles",
        tag=TAG,
    )
    routes.add(
        "PATCH",
        member,
        update_member,
        body=RoleUpdate,
        response=MemberOut,
        errors=(*body_errors, 409),
        summary="Change a member's role (the last owner stays owner: 409 last_owner)",
        tag=TAG,
    )
    routes.add(
        "DELETE",
        member,
        remove_member,
        status=204,
        errors=(401, 403, 404, 409),
        summary="Remove a member: their access ends at once (never the last owner)",
        tag=TAG,
    )
    routes.add(
        "POST",
        workspace + "invitations/",
        create_invitation,
        body=InvitationCreate,
        response=InvitationOut,
        status=201,
        errors=body_errors,
        summary="Invite someone by email: the answer has the link to send them",
        tag=TAG,
    )
    routes.add(
        "GET",
        workspace + "invitations/",
        list_invitations,
        response=PendingInvitationList,
        errors=(401, 403, 404),
        summary="Invitations not yet accepted nor expired",
        tag=TAG,
    )
    routes.add(
        "DELETE",
        invitation,
        revoke_invitation,
        status=204,
        errors=(401, 403, 404),
        summary="Withdraw an invitation that was not accepted yet",
        tag=TAG,
    )
    routes.add(
        "POST",
        "/api/invitations/{token}/accept/",
        accept_invitation,
        response=AcceptedInvitation,
        errors=(401, 404),
        summary="Accept an invitation (as the account with the invited email)",
        tag=TAG,
    )
