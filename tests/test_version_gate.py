"""Google's client-version gate (upstream/version_gate.py)."""

import logging

import pytest

from gateway.upstream import version_gate
from gateway.upstream.errors import BadRequest, classify
from gateway.upstream.identity import BUILT_IN_USER_AGENT
from gateway.upstream.version_gate import ClientOutdated, gate, version

REFUSAL = "This version of Antigravity is no longer supported. Please update to receive the latest features!"
OLD, CURRENT = "antigravity/1.11.5 windows/amd64", "antigravity/hub/2.9.1 darwin/arm64"


def google(code: int, message: str, status: str) -> str:
    return f'{{"error": {{"code": {code}, "message": "{message}", "status": "{status}"}}}}'


@pytest.fixture(autouse=True)
def fresh_log_clock(monkeypatch):
    monkeypatch.setattr(version_gate, "_last_logged", [float("-inf")])


@pytest.mark.parametrize(
    ("status", "rpc"),
    [(400, "INVALID_ARGUMENT"), (403, "PERMISSION_DENIED"), (429, "RESOURCE_EXHAUSTED"), (500, "INTERNAL")],
)
def test_the_refusal_is_a_503_naming_the_setting_whatever_its_status(status, rpc):
    error = gate(classify(status, google(status, REFUSAL, rpc)), OLD)
    assert isinstance(error, ClientOutdated) and not error.retry_elsewhere
    assert (error.code, error.status) == (503, "UNAVAILABLE")
    assert "GATEWAY_USER_AGENT" in error.message and OLD in error.message and "no longer supported" in error.message


def test_a_models_404_is_the_gate_only_for_a_client_below_2_9():
    not_found = classify(404, google(404, "Requested entity was not found.", "NOT_FOUND"))
    assert isinstance(gate(not_found, OLD), ClientOutdated)
    assert gate(not_found, CURRENT) is not_found
    assert isinstance(gate(not_found, "antigravity"), ClientOutdated)  # no version at all: as old as it gets


def test_other_errors_pass_through():
    error = classify(400, google(400, "Invalid JSON payload received.", "INVALID_ARGUMENT"))
    assert isinstance(gate(error, OLD), BadRequest)


def test_it_is_logged_at_error_level_once_a_minute(caplog, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(version_gate.time, "monotonic", lambda: clock[0])
    refused = classify(400, google(400, REFUSAL, "INVALID_ARGUMENT"))
    with caplog.at_level(logging.ERROR, logger="gateway.upstream.version_gate"):
        for step in (0, 30, 29):  # 0 s, 30 s, 59 s
            clock[0] += step
            gate(refused, OLD)
        clock[0] += 1  # 60 s after the first
        gate(refused, OLD)
    lines = [r for r in caplog.records if r.name == "gateway.upstream.version_gate"]
    assert len(lines) == 2 and all(r.levelno == logging.ERROR for r in lines)
    assert "GATEWAY_USER_AGENT" in lines[0].getMessage()


def test_versions_in_both_user_agent_shapes():
    assert version("antigravity/hub/2.9.1 darwin/arm64") == (2, 9, 1)
    assert version("antigravity/1.11 linux/amd64") == (1, 11, 0)
    assert version("antigravity") == (0,)


def test_the_message_says_to_set_a_current_release_or_leave_auto():
    message = gate(classify(400, google(400, REFUSAL, "INVALID_ARGUMENT")), OLD).message
    assert BUILT_IN_USER_AGENT in message and "antigravity/hub/<version>" in message
    assert "`auto`" in message and "GATEWAY_CLIENT_MANIFEST_URL" in message
    message = gate(classify(400, google(400, REFUSAL, "INVALID_ARGUMENT")), BUILT_IN_USER_AGENT).message
    assert "built-in one is outdated" in message and message.count(BUILT_IN_USER_AGENT) == 1
