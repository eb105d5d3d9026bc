"""Signatures, secrets, bodies and the retry schedule, checked against the spec directly."""

from __future__ import annotations

import base64
import json
import random
import time
from datetime import UTC, datetime

import pytest
from webhook_support import SignatureError, verify

from chatbot.config import DEFAULT_WEBHOOK_RETRY_DELAYS, Settings, WebhookSettings
from chatbot.webhooks.events import MESSAGE_CREATED, Hooks, encode_body, event_rows
from chatbot.webhooks.schedule import retry_delay
from chatbot.webhooks.signing import delivery_headers, new_secret, signature


def test_the_signature_matches_the_specs_reference_vector() -> None:
    # From the Standard Webhooks reference library's own test suite.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected


def test_headers_verify_with_independent_code_and_a_change_anywhere_fails() -> None:
    secret = new_secret()
    body = b'{"type":"message.created","data":{}}'
    headers = delivery_headers(secret, "msg_1", int(time.time()), body)
    assert verify(secret, headers, body)["type"] == "message.created"
    with pytest.raises(SignatureError):
        verify(secret, headers, body + b" ")
    with pytest.raises(SignatureError):
        verify(secret, {**headers, "webhook-id": "msg_2"}, body)
    with pytest.raises(SignatureError):
        verify(new_secret(), headers, body)
    stale = delivery_headers(secret, "msg_1", int(time.time()) - 600, body)
    with pytest.raises(SignatureError):
        verify(secret, stale, body)


def test_secrets_are_whsec_and_base64_of_at_least_24_random_bytes() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 24


def test_an_event_is_one_row_per_subscribed_webhook_with_one_id_and_body() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    hooks = Hooks("w1", {MESSAGE_CREATED: ("h1", "h2")})
    rows = event_rows(hooks, MESSAGE_CREATED, {"id": "m"}, at)
    assert [row[1] for row in rows] == ["h1", "h2"]
    assert len({row[2] for row in rows}) == 1  # one webhook-id for the event
    assert len({row[0] for row in rows}) == 2  # a delivery each
    assert json.loads(rows[0][4]) == {
        "type": MESSAGE_CREATED,
        "timestamp": "2026-01-02T03:04:05+00:00",
        "data": {"id": "m"},
    }
    assert event_rows(hooks, "conversation.created", {}, at) == []
    assert event_rows(None, MESSAGE_CREATED, {}, at) == []
    assert (
        encode_body("x", at, {}) == '{"type":"x","timestamp":"2026-01-02T03:04:05+00:00","data":{}}'
    )


def test_the_default_schedule_is_the_specs_and_the_first_retry_comes_within_10_s() -> None:
    settings = WebhookSettings()
    assert settings.retry_delays_seconds == DEFAULT_WEBHOOK_RETRY_DELAYS
    assert DEFAULT_WEBHOOK_RETRY_DELAYS == (5, 300, 1800, 7200, 18000, 36000, 36000)
    rng = random.Random(7)
    delays = settings.retry_delays_seconds
    firsts = [retry_delay(1, delays, settings.retry_jitter, rng) for _ in range(1000)]
    assert all(first is not None and 4 <= first <= 6 < 10 for first in firsts)
    assert len({round(first or 0, 3) for first in firsts}) > 100  # jittered
    assert retry_delay(len(delays), delays, 0.0) == 36000
    assert retry_delay(len(delays) + 1, delays, 0.0) is None  # 8 attempts, then failed
    assert retry_delay(0, delays, 0.0) is None


def test_retry_delays_come_from_the_environment_as_a_list() -> None:
    settings = Settings.model_validate({"webhooks": {"retry_delays_seconds": "0.5, 1, 2, 4"}})
    assert settings.webhooks.retry_delays_seconds == (0.5, 1.0, 2.0, 4.0)
    for bad in ("1, two", "1, 2", "0, 1, 2, 3", "-1, 1, 1, 1"):
        with pytest.raises(ValueError, match="retry_delays_seconds"):
            Settings.model_validate({"webhooks": {"retry_delays_seconds": bad}})
