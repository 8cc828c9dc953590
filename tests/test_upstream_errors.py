"""Classifying upstream failures and reading Google's retry hints."""

import json
import time
from datetime import UTC, datetime

import pytest

from gateway.upstream.errors import (
    AuthFailed,
    BadRequest,
    Forbidden,
    RateLimited,
    ServerFailed,
    classify,
    parse_duration,
    retry_delay,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("12s", 12), ("0.539477544s", 0.539477544), ("900ms", 0.9), ("1h16m0.667s", 4560.667), ("2m", 120)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "12", "5 s", "12sx"])
def test_not_durations(text):
    assert parse_duration(text) is None


def error_info(**metadata):
    return {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED", "metadata": metadata}


@pytest.mark.parametrize(
    ("error", "header", "seconds"),
    [
        ({"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]}, None, 7),
        ({"details": [error_info(quotaResetDelay="539.477544ms")]}, None, 0.539477544),
        ({"message": "Quota exceeded. Please retry in 44.09s."}, None, 44.09),
        ({"message": "Your quota will reset after 3s."}, None, 3),
        ({"message": "slow down"}, "30", 30),
        ({"message": "slow down"}, None, None),
    ],
)
def test_retry_hints(error, header, seconds):
    assert retry_delay(error, header) == (pytest.approx(seconds) if seconds is not None else None)


def test_reset_timestamp_counts_from_the_callers_clock():
    now = time.time()
    reset = datetime.fromtimestamp(now + 90, UTC).isoformat().replace("+00:00", "Z")
    details = {"details": [error_info(quotaResetTimeStamp=reset)]}
    assert retry_delay(details, clock=lambda: now) == pytest.approx(90)
    assert retry_delay(details, clock=lambda: now + 100) == 0  # a reset already past: retry at once


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, RateLimited),
        (499, RateLimited),
        (401, AuthFailed),
        (403, Forbidden),
        (400, BadRequest),
        (404, ServerFailed),
        (500, ServerFailed),
        (503, ServerFailed),
    ],
)
def test_classes(status, kind):
    assert type(classify(status, "{}")) is kind


def test_array_wrapped_error_keeps_its_details_but_drops_debug_info():
    body = [
        {
            "error": {
                "code": 429,
                "message": "quota",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"},
                    {"@type": "type.googleapis.com/google.rpc.DebugInfo", "detail": "stack"},
                ],
            }
        }
    ]
    error = classify(429, json.dumps(body))
    assert error.retry_after == 3
    assert error.body() == {
        "error": {
            "code": 429,
            "message": "quota",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}],
        }
    }


def test_plain_text_body_becomes_the_message():
    error = classify(502, "<html>bad gateway</html>")
    assert error.code == 502 and error.status == "UNAVAILABLE" and "bad gateway" in error.message


def test_forbidden_exposes_the_verification_link():
    body = {
        "error": {
            "code": 403,
            "status": "PERMISSION_DENIED",
            "message": "verify",
            "details": [{"@type": "type.googleapis.com/google.rpc.Help", "links": [{"url": "https://verify.example"}]}],
        }
    }
    assert classify(403, json.dumps(body)).link == "https://verify.example"
