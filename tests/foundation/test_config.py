"""Settings come from config.yaml and CHATBOT_* variables; a bad value is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.config import DEVELOPMENT_SECRET_KEY, ConfigError, load_settings, mask_url


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_defaults_are_the_embedded_single_instance_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no config.yaml here
    settings = load_settings(None, environ={})
    assert settings.database_url == "sqlite:///./data/chatbot.db"
    assert settings.redis_url == ""
    assert not settings.redis_enabled
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.auth.access_token_ttl_seconds == 900


def test_the_file_sets_values_and_the_environment_overrides_them(tmp_path: Path) -> None:
    path = write(tmp_path, "port: 9000\nrate_limits:\n  login_per_address: 3/minute\n")
    settings = load_settings(
        path,
        environ={
            "CHATBOT_PORT": "9100",
            "CHATBOT_REDIS_URL": "redis://127.0.0.1:6379/2",
            "CHATBOT_CHAT__MAX_TEXT_LENGTH": "100",
        },
    )
    assert settings.port == 9100
    assert settings.redis_url == "redis://127.0.0.1:6379/2"
    assert settings.rate_limits.login_per_address == "3/minute"
    assert settings.chat.max_text_length == 100


def test_the_config_file_can_be_named_by_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "port: 9200\n")
    assert load_settings(None, environ={"CHATBOT_CONFIG": str(path)}).port == 9200


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"CHATBOT_PORT": "eighty"}, ("'port'", "CHATBOT_PORT")),
        ({"CHATBOT_PORT": "70000"}, ("'port'", "CHATBOT_PORT")),
        ({"CHATBOT_DATABASE_URL": "mysql://x"}, ("'database_url'", "postgresql://")),
        ({"CHATBOT_REDIS_URL": "http://x"}, ("'redis_url'", "redis://")),
        ({"CHATBOT_ENV": "staging"}, ("'env'", "CHATBOT_ENV")),
        (
            {"CHATBOT_RATE_LIMITS__LOGIN_PER_ADDRESS": "lots"},
            (
                "'rate_limits.login_per_address'",
                "10/minute",
                "CHATBOT_RATE_LIMITS__LOGIN_PER_ADDRESS",
            ),
        ),
        ({"CHATBOT_CHAT__MAX_FRAME_BYTES": "-1"}, ("'chat.max_frame_bytes'",)),
        ({"CHATBOT_EVENT_LOOP": "tokio"}, ("'event_loop'", "CHATBOT_EVENT_LOOP", "uvloop")),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key_and_the_fix(
    environ: dict[str, str], names: tuple[str, ...]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ=environ)
    message = str(caught.value)
    assert "\n" not in message
    for name in names:
        assert name in message


def test_an_unknown_key_in_the_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "rate_limits:\n  loginn_per_address: 3/minute\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'rate_limits.loginn_per_address'"):
        load_settings(path, environ={})


def test_invalid_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "port: 1\nchat: [unclosed\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d"):
        load_settings(path, environ={})


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "- port\n- 8000\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_settings(path, environ={})


def test_a_named_config_file_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.yaml", environ={})


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (None, "built-in development key"),
        ("", "missing"),
        (DEVELOPMENT_SECRET_KEY, "built-in development key"),
        ("short-key", "shorter than 32 bytes"),
    ],
)
def test_production_refuses_a_missing_default_or_short_secret_key(
    key: str | None, reason: str
) -> None:
    environ = {"CHATBOT_ENV": "production"}
    if key is not None:
        environ["CHATBOT_SECRET_KEY"] = key
    with pytest.raises(ConfigError, match=reason):
        load_settings(None, environ=environ)


def test_production_accepts_a_strong_secret_key() -> None:
    settings = load_settings(
        None, environ={"CHATBOT_ENV": "production", "CHATBOT_SECRET_KEY": "k" * 40}
    )
    assert settings.secret_key_problem() is None


def test_urls_are_shown_with_their_password_masked() -> None:
    assert mask_url("postgresql://app:s3cret@db:5432/chat") == "postgresql://app:***@db:5432/chat"
    assert mask_url("redis://:pw@cache:6379/0") == "redis://:***@cache:6379/0"
    assert mask_url("sqlite:///./data/chatbot.db") == "sqlite:///./data/chatbot.db"
