"""Settings: `config.yaml` plus `CHATBOT_*` environment overrides, parsed once and validated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from chatbot.event_loop import uvloop_installed

ENV_PREFIX = "CHATBOT_"
DEFAULT_CONFIG_FILE = Path("config.yaml")
DEVELOPMENT_SECRET_KEY = "dev-insecure-secret-key-change-me-in-production"  # noqa: S105
MIN_SECRET_KEY_BYTES = 32


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line naming the key and the fix."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimitSettings(_Section):
    """Rate-limit policies in the `limits` notation ("10/minute", "100 per hour")."""

    enabled: bool = True
    per_address: str = "1200/minute"
    login_per_address: str = "10/minute"
    login_per_account: str = "100/minute"
    login_failures_per_account_address: str = "10/minute"
    register_per_address: str = "20/minute"
    ws_connect_per_address: str = "60/minute"
    visitor_messages: str = "60/minute"
    # Requests made with one API key, across every address and instance.
    per_api_key: str = "600/minute"
    trust_forwarded_for: bool = False

    @field_validator(
        "per_address",
        "login_per_address",
        "login_per_account",
        "login_failures_per_account_address",
        "register_per_address",
        "ws_connect_per_address",
        "visitor_messages",
        "per_api_key",
    )
    @classmethod
    def _parseable(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a rate like '10/minute' or '100 per hour'") from exc
        return value


class AuthSettings(_Section):
    """Token lifetimes and claims."""

    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=300)
    refresh_reuse_grace_seconds: int = Field(default=10, ge=0, le=300)
    issuer: str = "chatbot"
    audience: str = "chatbot"
    max_password_length: int = Field(default=1024, ge=64, le=65_536)
    # Access tokens whose signature was checked, remembered per instance until they expire,
    # so that a client's repeated requests skip re-verifying (0 verifies every request).
    verified_token_cache_size: int = Field(default=10_000, ge=0, le=1_000_000)


class ChatSettings(_Section):
    """WebSocket chat limits."""

    max_text_length: int = Field(default=4000, ge=1, le=100_000)
    max_frame_bytes: int = Field(default=65_536, ge=1024, le=16 * 1024 * 1024)
    outbound_queue_size: int = Field(default=256, ge=8, le=100_000)
    heartbeat_seconds: float = Field(default=30.0, gt=0)
    auth_timeout_seconds: float = Field(default=10.0, gt=0)
    compression: bool = False
    history_window: int = Field(default=12, ge=0, le=200)
    write_batch_max: int = Field(default=256, ge=1, le=10_000)
    max_sockets_per_address: int = Field(default=20_000, ge=1, le=1_000_000)
    visitor_frames_per_second: float = Field(default=10.0, gt=0)
    visitor_frame_burst: float = Field(default=30.0, ge=1)
    operator_frames_per_second: float = Field(default=20.0, gt=0)
    operator_frame_burst: float = Field(default=60.0, ge=1)
    stall_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    frame_writer: Literal["direct", "plain"] = "direct"
    presence_ttl_seconds: float = Field(default=30.0, ge=1, le=3600)
    offline_handoff_message: str = Field(default="", max_length=4000)


class BrainSettings(_Section):
    """Defaults for the bot brains."""

    fallback_message: str = (
        "I'm not sure about that one. Would you like to talk to a person? "
        "Press “Talk to a person” and someone from the team will join."
    )
    knowledge_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    openai_timeout_seconds: float = Field(default=30.0, gt=0)
    semantic: bool = True
    model_dir: str = ""
    allow_private_base_urls: bool = False


class OpenAIApiSettings(_Section):
    """The OpenAI-compatible API under `/v1/`."""

    waiting_message: str = Field(
        default="Your message was passed on to a person from the team, who will answer here.",
        min_length=1,
        max_length=1_000,
    )
    max_messages: int = Field(default=256, ge=1, le=10_000)


class PrivacySettings(_Section):
    """Client addresses in logs, and the retention job."""

    anonymize_addresses: Literal["auto", "on", "off"] = "auto"
    purge_interval_seconds: float = Field(default=3600.0, ge=1, le=3600)
    purge_batch_size: int = Field(default=200, ge=1, le=10_000)


# The Standard Webhooks schedule: a retry after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h.
DEFAULT_WEBHOOK_RETRY_DELAYS = (5.0, 300.0, 1800.0, 7200.0, 18_000.0, 36_000.0, 36_000.0)


class WebhookSettings(_Section):
    """Outgoing webhooks: where they may go, how they are retried and how long one may take."""

    allow_private_targets: bool = False
    # Seconds to wait before each retry (after the first attempt, the second, ...); their count
    # is the number of retries. Each delay varies by up to `retry_jitter` of itself.
    retry_delays_seconds: tuple[float, ...] = DEFAULT_WEBHOOK_RETRY_DELAYS
    retry_jitter: float = Field(default=0.2, ge=0.0, le=0.5)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    max_response_bytes: int = Field(default=65_536, ge=1024, le=16 * 1024 * 1024)
    # How often each instance looks for due deliveries (it also looks at once after a commit).
    poll_seconds: float = Field(default=1.0, gt=0, le=60)
    concurrency: int = Field(default=64, ge=1, le=1000)
    # An endpoint whose every attempt has failed for this long is disabled (5 days).
    disable_after_seconds: float = Field(default=5 * 86_400.0, gt=0)
    max_per_workspace: int = Field(default=20, ge=1, le=1000)

    @field_validator("retry_delays_seconds", mode="before")
    @classmethod
    def _delays(cls, value: object) -> object:
        if isinstance(value, str):  # from the environment: "5, 300, 1800"
            try:
                value = [float(part) for part in value.split(",") if part.strip()]
            except ValueError as exc:
                raise ValueError("use seconds separated by commas, like '5, 300, 1800'") from exc
        return value

    @field_validator("retry_delays_seconds")
    @classmethod
    def _delays_valid(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if len(value) < 4:
            raise ValueError("give at least 4 retry delays (5 attempts in all)")
        if any(delay <= 0 or delay > 7 * 86_400 for delay in value):
            raise ValueError("each retry delay must be over 0 and at most a week (604800 s)")
        return value


class WorkspaceSettings(_Section):
    """Workspaces: their members and invitations."""

    # How long an invitation link can be accepted; it works once either way.
    invitation_ttl_hours: float = Field(default=7 * 24, gt=0, le=365 * 24)


class Settings(_Section):
    """Everything the server reads from `config.yaml` and `CHATBOT_*` variables."""

    env: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65_535)
    public_url: str = ""
    database_url: str = "sqlite:///./data/chatbot.db"
    redis_url: str = ""
    redis_prefix: str = Field(default="chatbot", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET_KEY)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    access_log: bool = True
    metrics_token: SecretStr = SecretStr("")
    static_dir: str = ""
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)  # knowledge file uploads
    # Uploaded files are parsed in these worker processes, each parse within this CPU time.
    upload_parse_workers: int = Field(default=1, ge=1, le=32)
    upload_parse_cpu_seconds: int = Field(default=15, ge=1, le=600)
    startup_timeout_seconds: float = Field(default=8.0, gt=0, le=60)
    dependency_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    workers: int = Field(default=1, ge=1, le=64)
    event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"
    shutdown_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    auth: AuthSettings = AuthSettings()
    rate_limits: RateLimitSettings = RateLimitSettings()
    chat: ChatSettings = ChatSettings()
    brains: BrainSettings = BrainSettings()
    openai_api: OpenAIApiSettings = OpenAIApiSettings()
    privacy: PrivacySettings = PrivacySettings()
    webhooks: WebhookSettings = WebhookSettings()
    workspaces: WorkspaceSettings = WorkspaceSettings()

    @field_validator("event_loop")
    @classmethod
    def _event_loop_installed(cls, value: str) -> str:
        if value == "uvloop" and not uvloop_installed():
            raise ValueError("uvloop is not installed: `pip install uvloop`, or use auto")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("use sqlite:///PATH or postgresql://user:pass@host:port/db")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://")):
            raise ValueError("leave it empty for in-process backends, or use redis://host:port/N")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("use the address visitors reach, like https://chat.example.com")
        return value.rstrip("/")

    @property
    def redis_enabled(self) -> bool:
        return bool(self.redis_url)

    @property
    def anonymize_addresses(self) -> bool:
        """Whether client addresses are truncated in logs (`auto`: in production)."""
        setting = self.privacy.anonymize_addresses
        return setting == "on" or (setting == "auto" and self.env == "production")

    def secret_key_problem(self) -> str | None:
        """Why the signing key is unfit for production, or None when it is fine."""
        key = self.secret_key.get_secret_value()
        if not key:
            return "CHATBOT_SECRET_KEY is missing"
        if key == DEVELOPMENT_SECRET_KEY:
            return "CHATBOT_SECRET_KEY is the built-in development key"
        if len(key.encode()) < MIN_SECRET_KEY_BYTES:
            return f"CHATBOT_SECRET_KEY is shorter than {MIN_SECRET_KEY_BYTES} bytes"
        return None


def env_name(path: tuple[str, ...]) -> str:
    """The environment variable that overrides the setting at `path`."""
    return ENV_PREFIX + "__".join(part.upper() for part in path)


def _overlay_environment(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Apply `CHATBOT_KEY` and `CHATBOT_SECTION__KEY` variables on top of the file's values."""
    sections = {
        name
        for name, field in Settings.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
    }
    for variable, value in environ.items():
        if not variable.startswith(ENV_PREFIX) or variable == "CHATBOT_CONFIG":
            continue
        parts = variable[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) == 1 and parts[0] in Settings.model_fields and parts[0] not in sections:
            data[parts[0]] = value
        elif len(parts) == 2 and parts[0] in sections:
            section = data.setdefault(parts[0], {})
            if isinstance(section, dict):
                section[parts[1]] = value
    return data


def _first_error(error: ValidationError) -> str:
    issue = error.errors()[0]
    path = tuple(str(part) for part in issue["loc"])
    key = ".".join(path)
    message = str(issue["msg"]).removeprefix("Value error, ")
    if issue["type"] == "extra_forbidden":
        return f"config: unknown setting '{key}': remove it or check its spelling"
    return (
        f"config: '{key}' is invalid ({message}): fix it in the config file or set {env_name(path)}"
    )


def load_settings(
    config_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the config file (when present) and the environment into one validated Settings."""
    environ = os.environ if environ is None else environ
    explicit = config_file is not None or "CHATBOT_CONFIG" in environ
    path = config_file or Path(environ.get("CHATBOT_CONFIG", DEFAULT_CONFIG_FILE))
    data: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"config: {path} is not valid YAML{where}: fix its syntax") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config: {path} must hold a mapping of settings, not a list or text")
        data = loaded or {}
    elif explicit:
        raise ConfigError(f"config: file {path} does not exist: check the --config path")
    try:
        settings = Settings.model_validate(_overlay_environment(data, environ))
    except ValidationError as exc:
        raise ConfigError(_first_error(exc)) from None
    if settings.env == "production" and (problem := settings.secret_key_problem()):
        raise ConfigError(
            f"config: {problem}: set CHATBOT_SECRET_KEY to at least {MIN_SECRET_KEY_BYTES} "
            "random bytes, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )
    return settings


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, safe for logs and error lines."""
    from yarl import URL

    try:
        parsed = URL(url)
    except ValueError:
        return url
    if not parsed.password:
        return url
    return str(parsed.with_password("***"))
