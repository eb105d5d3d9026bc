"""Client addresses in logs: truncated to /24 (IPv4) or /48 (IPv6), on by default in production."""

from __future__ import annotations

import logging

import pytest

from chatbot.config import Settings
from chatbot.http.addresses import loggable_address, truncate_address

from conftest import TEST_SECRET_KEY, ClientFactory


@pytest.mark.parametrize(
    ("address", "kept"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("10.1.2.3", "10.1.2.0"),
        ("127.0.0.1", "127.0.0.0"),
        ("2001:db8:1234:5678:9abc::1", "2001:db8:1234::"),
        ("2001:DB8:1234:ffff::", "2001:db8:1234::"),
        ("::1", "::"),
        ("fe80::1%eth0", "fe80::"),
        ("::ffff:198.51.100.9", "198.51.100.0"),
        ("unknown", "-"),
        ("", "-"),
        ("/run/chatbot.sock", "-"),
    ],
)
def test_addresses_keep_only_their_network(address: str, kept: str) -> None:
    assert truncate_address(address) == kept
    assert loggable_address(address, True) == kept
    assert loggable_address(address, False) == address
    assert loggable_address(None, True) == "-"


@pytest.mark.parametrize(
    ("env", "setting", "anonymized"),
    [
        ("development", "auto", False),
        ("production", "auto", True),
        ("development", "on", True),
        ("production", "off", False),
    ],
)
def test_the_setting_is_on_in_production_unless_turned_off(
    env: str, setting: str, anonymized: bool
) -> None:
    settings = Settings.model_validate(
        {"env": env, "secret_key": TEST_SECRET_KEY, "privacy": {"anonymize_addresses": setting}}
    )
    assert settings.anonymize_addresses is anonymized


@pytest.mark.parametrize(("setting", "logged"), [("auto", "127.0.0.0"), ("off", "127.0.0.1")])
async def test_the_access_log_writes_the_truncated_address_in_production(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture, setting: str, logged: str
) -> None:
    client = await make_client(
        env="production", access_log=True, privacy={"anonymize_addresses": setting}
    )
    with caplog.at_level(logging.INFO, logger="chatbot.access"):
        response = await client.get("/healthz")
        assert response.status == 200
    [line] = [r.getMessage() for r in caplog.records if r.name == "chatbot.access"]
    assert line.startswith(f'{logged} "GET /healthz"'), line
    assert "127.0.0.1" not in line or logged == "127.0.0.1"
