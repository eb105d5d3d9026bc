"""The workspace switcher, the Members page (invite, change role, remove) and accepting an
invitation, all through the member actions the REST API uses."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.chatbots.routes import public_base_url
from chatbot.dashboard.forms import FormErrors, validate_form
from chatbot.dashboard.pages import (
    HOME_PATH,
    PageError,
    current_operator,
    field,
    page,
    redirect,
    render,
    require_page,
    safe_next,
)
from chatbot.dashboard.session import SESSION, flash
from chatbot.dashboard.workspace_context import CURRENT, choose_workspace, current_workspace
from chatbot.workspaces import invitations, members, repository
from chatbot.workspaces.repository import MemberChange, Membership
from chatbot.workspaces.roles import Action, Role, permits
from chatbot.workspaces.schemas import InvitationCreate, RoleUpdate, WorkspaceCreate

MEMBERS_PATH = "/dashboard/members/"
ROLE_LABELS = {"owner": "Owner", "admin": "Admin", "agent": "Agent"}
LAST_OWNER = "A workspace keeps at least one owner: make someone else owner first."
INVITATION_UNUSABLE = (
    "This invitation cannot be used: it was used already, it expired, or it was sent to "
    "another email address than this account's. Ask for a new one."
)


def _workspace(request: web.Request) -> Membership:
    current = current_workspace(request)
    if current is None:
        raise PageError(403, "No workspace", "You belong to no workspace: ask to be invited.")
    return current


async def _members_page(
    request: web.Request,
    *,
    invited_link: str = "",
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    current = _workspace(request)
    await require_page(request, current.workspace_id, Action.READ, "workspace")
    engine = request.app[keys.ENGINE]
    manages = permits(current.role, Action.MANAGE)
    pending = await invitations.pending_invitations(engine, current.workspace_id) if manages else []
    context = {
        "members": await repository.members(engine, current.workspace_id),
        "pending": pending,
        "manages": manages,
        "roles": ROLE_LABELS,
        "invited_link": invited_link,
        "values": values or {"email": "", "role": "agent"},
        "errors": errors or {},
    }
    return render(request, "members.html", context, status=status)


@page()
async def members_page(request: web.Request) -> web.StreamResponse:
    return await _members_page(request)


@page()
async def invite_submit(request: web.Request) -> web.StreamResponse:
    current = _workspace(request)
    await require_page(request, current.workspace_id, Action.MANAGE, "workspace")
    values = {"email": field(request, "email"), "role": field(request, "role") or "agent"}
    try:
        body = validate_form(InvitationCreate, values, ("email", "role"))
    except FormErrors as exc:
        return await _members_page(request, values=values, errors=exc.errors, status=422)
    _, token = await members.invite(
        request.app, current.workspace_id, body.email, Role(body.role), current_operator(request).id
    )
    link = f"{public_base_url(request)}/dashboard/invitations/{token}/"
    # The token is shown once, on this page: it is not kept anywhere it could be read back.
    return await _members_page(request, invited_link=link)


async def _member_action(request: web.Request) -> tuple[str, str]:
    current = _workspace(request)
    await require_page(request, current.workspace_id, Action.MANAGE, "workspace")
    return current.workspace_id, request.match_info["user_id"]


def _report(request: web.Request, outcome: MemberChange, done: str) -> web.Response:
    session = request[SESSION]
    if outcome is MemberChange.LAST_OWNER:
        flash(session, "error", LAST_OWNER)
    elif outcome is MemberChange.NOT_A_MEMBER:
        flash(session, "error", "That person is no longer a member.")
    else:
        flash(session, "success", done)
    return redirect(MEMBERS_PATH)


@page()
async def role_submit(request: web.Request) -> web.StreamResponse:
    workspace_id, user_id = await _member_action(request)
    try:
        body = validate_form(RoleUpdate, {"role": field(request, "role")}, ("role",))
    except FormErrors:
        flash(request[SESSION], "error", "Choose owner, admin or agent.")
        return redirect(MEMBERS_PATH)
    outcome = await members.change_role(request.app, workspace_id, user_id, Role(body.role))
    return _report(request, outcome, f"The role is now {ROLE_LABELS[body.role].lower()}.")


@page()
async def remove_submit(request: web.Request) -> web.StreamResponse:
    workspace_id, user_id = await _member_action(request)
    outcome = await members.remove(request.app, workspace_id, user_id)
    return _report(request, outcome, "Removed: their access to this workspace has ended.")


@page()
async def switch_workspace(request: web.Request) -> web.StreamResponse:
    if not choose_workspace(request, field(request, "workspace_id")):
        flash(request[SESSION], "error", "You are not a member of that workspace.")
    return redirect(safe_next(field(request, "next") or HOME_PATH))


@page()
async def workspace_create(request: web.Request) -> web.StreamResponse:
    try:
        body = validate_form(WorkspaceCreate, {"name": field(request, "name")}, ("name",))
    except FormErrors:
        flash(request[SESSION], "error", "Give the workspace a name (at most 200 characters).")
        return redirect(MEMBERS_PATH)
    created = await members.create_workspace(request.app, current_operator(request).id, body.name)
    request[SESSION][CURRENT] = created.workspace_id
    flash(request[SESSION], "success", f"“{created.name}” is created: invite your team.")
    return redirect(MEMBERS_PATH)


@page()
async def invitation_page(request: web.Request) -> web.StreamResponse:
    return render(request, "invitation.html", {"token": request.match_info["token"]})


@page()
async def invitation_accept(request: web.Request) -> web.StreamResponse:
    user = current_operator(request)
    token = request.match_info["token"]
    joined = None
    if len(token) <= 256:
        joined = await members.accept(request.app, token, user.id, user.email)
    if joined is None:
        raise PageError(404, "Invitation not usable", INVITATION_UNUSABLE)
    request[SESSION][CURRENT] = joined.workspace_id
    role = ROLE_LABELS[joined.role.value].lower()
    flash(request[SESSION], "success", f"Welcome to “{joined.name}”: you are {role} here.")
    return redirect(HOME_PATH)
