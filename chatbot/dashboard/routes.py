"""Wiring of the dashboard: its cookie sessions and its pages under `/dashboard/`."""

from __future__ import annotations

from aiohttp import web

from chatbot import keys
from chatbot.dashboard import (
    account_views,
    analytics_views,
    api_key_views,
    chatbot_views,
    inbox_views,
    knowledge_views,
    webhook_views,
    workspace_views,
)
from chatbot.dashboard.session import DASHBOARD_SESSIONS, DashboardSessions
from chatbot.http.routing import Handler, RouteTable

BASE = "/dashboard"
CHATBOT = BASE + "/chatbots/{chatbot_id}"
KNOWLEDGE = CHATBOT + "/knowledge"
WEBHOOKS = BASE + "/workspaces/{workspace_id}/webhooks"
WEBHOOK = WEBHOOKS + "/{webhook_id}"

_PAGES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", BASE + "/", account_views.home),
    ("GET", BASE + "/login/", account_views.login_form),
    ("POST", BASE + "/login/", account_views.login_submit),
    ("GET", BASE + "/signup/", account_views.signup_form),
    ("POST", BASE + "/signup/", account_views.signup_submit),
    ("POST", BASE + "/logout/", account_views.logout),
    ("GET", BASE + "/profile/", account_views.profile),
    ("POST", BASE + "/profile/", account_views.profile_submit),
    ("POST", BASE + "/profile/password/", account_views.password_submit),
    ("GET", BASE + "/token/", account_views.access_token),
    ("GET", BASE + "/inbox/", inbox_views.inbox),
    ("GET", BASE + "/inbox/data/", inbox_views.inbox_data),
    ("GET", BASE + "/conversations/{conversation_id}/", inbox_views.conversation),
    ("GET", BASE + "/conversations/{conversation_id}/export/", inbox_views.visitor_export),
    ("GET", BASE + "/analytics/", analytics_views.analytics_page),
    ("GET", BASE + "/api-keys/", api_key_views.api_keys_page),
    ("POST", BASE + "/api-keys/", api_key_views.api_key_create),
    ("POST", BASE + "/api-keys/{key_id}/delete/", api_key_views.api_key_delete),
    ("GET", BASE + "/chatbots/", chatbot_views.chatbot_list),
    ("GET", BASE + "/chatbots/new/", chatbot_views.chatbot_new),
    ("POST", BASE + "/chatbots/new/", chatbot_views.chatbot_create),
    ("GET", CHATBOT + "/", chatbot_views.chatbot_edit),
    ("POST", CHATBOT + "/", chatbot_views.chatbot_update),
    ("POST", CHATBOT + "/identity/", chatbot_views.identity_update),
    ("POST", CHATBOT + "/identity-secret/", chatbot_views.identity_secret_rotate),
    ("GET", CHATBOT + "/delete/", chatbot_views.chatbot_delete_confirm),
    ("POST", CHATBOT + "/delete/", chatbot_views.chatbot_delete),
    ("GET", KNOWLEDGE + "/", knowledge_views.knowledge_list),
    ("POST", KNOWLEDGE + "/", knowledge_views.knowledge_add),
    # Before the entry routes, whose {entry_id} would otherwise match "upload".
    ("POST", KNOWLEDGE + "/upload/", knowledge_views.knowledge_upload),
    ("GET", KNOWLEDGE + "/{entry_id}/", knowledge_views.entry_edit),
    ("POST", KNOWLEDGE + "/{entry_id}/", knowledge_views.entry_update),
    ("POST", KNOWLEDGE + "/{entry_id}/delete/", knowledge_views.entry_delete),
    ("GET", BASE + "/webhooks/", webhook_views.webhooks_home),
    ("GET", WEBHOOKS + "/", webhook_views.webhook_list),
    ("POST", WEBHOOKS + "/", webhook_views.webhook_create),
    ("POST", WEBHOOK + "/delete/", webhook_views.webhook_delete),
    ("POST", WEBHOOK + "/enable/", webhook_views.webhook_enable),
    ("POST", WEBHOOK + "/test/", webhook_views.webhook_test),
    ("POST", WEBHOOK + "/deliveries/{delivery_id}/retry/", webhook_views.delivery_retry),
    ("POST", BASE + "/workspace/", workspace_views.switch_workspace),
    ("POST", BASE + "/workspaces/new/", workspace_views.workspace_create),
    ("GET", BASE + "/members/", workspace_views.members_page),
    ("POST", BASE + "/members/invite/", workspace_views.invite_submit),
    ("POST", BASE + "/members/{user_id}/role/", workspace_views.role_submit),
    ("POST", BASE + "/members/{user_id}/remove/", workspace_views.remove_submit),
    ("GET", BASE + "/invitations/{token}/", workspace_views.invitation_page),
    ("POST", BASE + "/invitations/{token}/", workspace_views.invitation_accept),
)


def setup_dashboard(app: web.Application, routes: RouteTable) -> None:
    """The dashboard's session cookies and its pages (HTML, not part of the API document)."""
    app[DASHBOARD_SESSIONS] = DashboardSessions(app[keys.SETTINGS])
    for method, path, handler in _PAGES:
        routes.add(method, path, handler, tag="dashboard", in_schema=False)
