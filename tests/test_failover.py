"""Faults survived by the pool, through the real gateway (2 gevent workers) and the fake Google."""

import json
import socket
import time

import pytest
import requests

from tests.conftest import API_KEY, HELLO, add_account, emptied, quota_error
from tests.fake_upstream import Reply

FLASH = "/v1beta/models/gemini-2.5-flash"
GENERATE = f"{FLASH}:generateContent"
STREAM = f"{FLASH}:streamGenerateContent?alt=sse"


@pytest.fixture(params=["sqlite", "redis"])
def gateway(request, upstream):
    """Every fault here is survived alike whether the pool state is in SQLite or shared through Redis."""
    return emptied(request.getfixturevalue("served" if request.param == "sqlite" else "served_redis"))


def two_accounts(gateway, upstream) -> tuple[str, str]:
    add_account(gateway, upstream, "a@example.com")
    add_account(gateway, upstream, "b@example.com")
    return "a@example.com", "b@example.com"


def serving(upstream) -> list[str]:
    return [call.account for call in upstream.calls_to("streamGenerateContent")]


def test_429_moves_to_the_next_account_and_cools_the_first(gateway, upstream):
    a, b = two_accounts(gateway, upstream)
    upstream.script("streamGenerateContent", Reply(status=429, json=quota_error("30s")), account=a)
    upstream.script("streamGenerateContent", Reply(status=429, json=quota_error("30s")), account=b)
    first = gateway.post(GENERATE, HELLO)
    # Both accounts were tried once each, and both now cool down: the client gets Google's 429.
    assert first.status_code == 429 and sorted(serving(upstream)) == [a, b]
    assert int(first.headers["Retry-After"]) >= 29
    upstream.reset()
    add_again = gateway.post(GENERATE, HELLO)
    assert add_again.status_code == 429 and upstream.calls_to("streamGenerateContent") == []


def test_cooldown_is_shared_by_every_worker(gateway, upstream):
    a, _b = two_accounts(gateway, upstream)
    upstream.script("streamGenerateContent", Reply(status=429, json=quota_error("60s")), account=a)
    # Distinct first turns spread over both accounts (sticky sessions) and, over keep-alive-less requests,
    # over both workers. After a's 429, no worker may call a again.
    for n in range(12):
        body = {"contents": [{"role": "user", "parts": [{"text": f"conversation number {n}"}]}]}
        assert (
            requests.post(
                gateway.url + GENERATE,
                json=body,
                headers={"x-goog-api-key": API_KEY, "Connection": "close"},
                timeout=30,
            ).status_code
            == 200
        )
    assert serving(upstream).count(a) == 1
    assert gateway.store.snapshot().cooldowns[(gateway.store.find(a).id, "gemini-2.5-flash")].until > time.time() + 50


def test_every_kind_of_delay_hint_sets_the_cooldown(gateway, upstream):
    hints = {
        "retry-info": quota_error("45s"),
        "reset-delay": quota_error(quotaResetDelay="45s"),
        "message": quota_error(message="Quota exceeded. Please retry in 45s."),
    }
    for name, error in hints.items():
        add_account(gateway, upstream, f"{name}@example.com")
        upstream.script("streamGenerateContent", Reply(status=429, json=error), account=f"{name}@example.com")
    for _ in hints:
        gateway.post(GENERATE, HELLO)
    snapshot = gateway.store.snapshot()
    lefts = sorted(c.until - time.time() for c in snapshot.cooldowns.values())
    assert len(lefts) == 3 and all(40 < left <= 45 for left in lefts)


def test_no_hint_backs_off(gateway, upstream):
    add_account(gateway, upstream, "a@example.com")
    upstream.script("streamGenerateContent", Reply(status=429, json=quota_error()))
    response = gateway.post(GENERATE, HELLO)
    assert response.status_code == 429 and response.headers["Retry-After"] == "5"  # the cooldown it got
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "5s"} in response.json()["error"][
        "details"
    ]
    [cooldown] = gateway.store.snapshot().cooldowns.values()
    assert 3 < cooldown.until - time.time() <= 5


def test_all_accounts_cooling_is_an_immediate_429_with_retry_info(gateway, upstream):
    a, b = two_accounts(gateway, upstream)
    for email, seconds in ((a, 120), (b, 40)):
        gateway.store.set_cooldown(gateway.store.find(email).id, "gemini-2.5-flash", seconds, "RATE_LIMIT_EXCEEDED")
    started = time.monotonic()
    response = gateway.post(GENERATE, HELLO)
    assert time.monotonic() - started < 2
    assert response.status_code == 429
    assert 38 <= int(response.headers["Retry-After"]) <= 41
    error = response.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.RetryInfo"
    assert upstream.calls_to("streamGenerateContent") == []
    # Another model is not affected by gemini-2.5-flash's cooldown.
    assert gateway.post("/v1beta/models/gemini-2.5-pro:generateContent", HELLO).status_code == 200


def test_a_nearly_ready_account_is_waited_for(gateway, upstream):
    a = "a@example.com"
    add_account(gateway, upstream, a)
    gateway.store.set_cooldown(gateway.store.find(a).id, "gemini-2.5-flash", 1.0, "RATE_LIMIT_EXCEEDED")
    assert gateway.post(GENERATE, HELLO).status_code == 200


def test_all_403_stays_403_and_sets_accounts_aside(gateway, upstream):
    _a, _b = two_accounts(gateway, upstream)
    forbidden = {
        "error": {
            "code": 403,
            "status": "PERMISSION_DENIED",
            "message": "Verify your account",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "VALIDATION_REQUIRED",
                    "metadata": {"validation_link": "https://accounts.example/verify"},
                }
            ],
        }
    }
    upstream.script("streamGenerateContent", Reply(status=403, json=forbidden), Reply(status=403, json=forbidden))
    response = gateway.post(GENERATE, HELLO)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Verify your account"
    listed = json.loads(gateway.cli("accounts", "list", "--json").stdout)
    assert {row["state"] for row in listed} == {"disabled"}
    assert all("https://accounts.example/verify" in row["disabled_reason"] for row in listed)


def test_400_is_returned_at_once_and_not_retried(gateway, upstream):
    two_accounts(gateway, upstream)
    bad = {"error": {"code": 400, "message": "Invalid JSON payload", "status": "INVALID_ARGUMENT"}}
    upstream.script("streamGenerateContent", Reply(status=400, json=bad))
    response = gateway.post(GENERATE, HELLO)
    assert response.status_code == 400 and response.json()["error"]["message"] == "Invalid JSON payload"
    assert len(upstream.calls_to("streamGenerateContent")) == 1


def test_5xx_and_empty_answers_fail_over(gateway, upstream):
    add_account(gateway, upstream, "a@example.com")
    add_account(gateway, upstream, "b@example.com")
    add_account(gateway, upstream, "c@example.com")
    upstream.script(
        "streamGenerateContent",
        Reply(status=500, json={"error": {"code": 500, "message": "boom"}}),
        Reply(events=[{"usageMetadata": {"totalTokenCount": 1}}]),
    )
    response = gateway.post(STREAM, HELLO)
    assert response.status_code == 200 and b"Hel" in response.content
    assert len(set(serving(upstream))) == 3


def test_retries_run_out_with_the_last_real_error(gateway, upstream):
    for n in range(4):
        add_account(gateway, upstream, f"u{n}@example.com")
    upstream.script(
        "streamGenerateContent",
        *[
            Reply(status=503, json={"error": {"code": 503, "message": f"overloaded {n}", "status": "UNAVAILABLE"}})
            for n in range(4)
        ],
    )
    response = gateway.post(GENERATE, HELLO)
    assert response.status_code == 503 and response.json()["error"]["message"] == "overloaded 2"
    assert len(upstream.calls_to("streamGenerateContent")) == 3  # GATEWAY_MAX_RETRY_ATTEMPTS


def test_error_event_before_content_fails_over(gateway, upstream):
    two_accounts(gateway, upstream)
    upstream.script(
        "streamGenerateContent",
        Reply(events=[{"error": {"code": 429, "message": "exhausted", "status": "RESOURCE_EXHAUSTED"}}]),
    )
    response = gateway.post(STREAM, HELLO)
    assert response.status_code == 200 and b"Hel" in response.content


def test_mid_stream_failure_ends_with_one_gemini_error_event(gateway, upstream):
    two_accounts(gateway, upstream)
    upstream.script(
        "streamGenerateContent",
        Reply(
            events=[
                {"candidates": [{"content": {"role": "model", "parts": [{"text": "partial"}]}}]},
                {"candidates": [{"content": {"role": "model", "parts": [{"text": "never"}]}}]},
            ],
            cut_after=1,
        ),
    )
    response = gateway.post(STREAM, HELLO)
    frames = [json.loads(f[6:]) for f in response.text.split("\n\n") if f]
    assert frames[0]["candidates"][0]["content"]["parts"][0]["text"] == "partial"
    assert list(frames[1]) == ["error"] and frames[1]["error"]["code"] == 502
    assert len(frames) == 2
    assert len(upstream.calls_to("streamGenerateContent")) == 1  # no retry after the first byte


def test_401_refreshes_the_token_once_and_retries(gateway, upstream):
    add_account(gateway, upstream, "a@example.com")
    assert gateway.post(GENERATE, HELLO).status_code == 200
    unauth = {"error": {"code": 401, "message": "invalid credentials", "status": "UNAUTHENTICATED"}}
    upstream.script("streamGenerateContent", Reply(status=401, json=unauth))
    assert gateway.post(GENERATE, HELLO).status_code == 200
    assert len(upstream.calls_to("token")) == 2


def test_revoked_refresh_token_disables_the_account_and_others_serve(gateway, upstream):
    add_account(gateway, upstream, "dead@example.com", revoked=True)
    add_account(gateway, upstream, "live@example.com")
    short = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}  # too short to be sticky: round robin
    for _ in range(3):
        assert gateway.post(GENERATE, short).status_code == 200
    dead = gateway.store.find("dead@example.com")
    assert not dead.enabled and "invalid_grant" in dead.disabled_reason
    assert set(serving(upstream)) == {"live@example.com"}


def test_transient_token_failure_does_not_disable(gateway, upstream):
    add_account(gateway, upstream, "a@example.com")
    upstream.script("token", Reply(status=500, json={"error": "internal"}))
    assert gateway.post(GENERATE, HELLO).status_code == 503
    assert gateway.store.find("a@example.com").enabled
    assert gateway.post(GENERATE, HELLO).status_code == 200


def test_refresh_storm_refreshes_each_account_once(gateway, upstream):
    from concurrent.futures import ThreadPoolExecutor

    two_accounts(gateway, upstream)

    def call(n):
        body = {"contents": [{"role": "user", "parts": [{"text": f"storm conversation {n}"}]}]}
        return requests.post(
            gateway.url + GENERATE, json=body, headers={"x-goog-api-key": API_KEY, "Connection": "close"}, timeout=60
        ).status_code

    with ThreadPoolExecutor(50) as pool:
        assert set(pool.map(call, range(50))) == {200}
    assert sorted(c.body["refresh_token"] for c in upstream.calls_to("token")) == [
        "rt-a@example.com",
        "rt-b@example.com",
    ]


def test_client_disconnect_closes_the_upstream_stream(gateway, upstream, account):
    upstream.script(
        "streamGenerateContent",
        Reply(
            events=[
                {"candidates": [{"content": {"role": "model", "parts": [{"text": f"tick {n}"}]}}]} for n in range(50)
            ],
            event_delay=0.2,
        ),
    )
    host, port = gateway.url.removeprefix("http://").split(":")
    body = json.dumps(HELLO).encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"POST {STREAM} HTTP/1.1\r\nHost: x\r\nx-goog-api-key: {API_KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        received = b""
        while b"tick 0" not in received:
            chunk = sock.recv(65536)
            assert chunk, "the gateway closed the stream early"
            received += chunk
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not upstream.disconnects:
        time.sleep(0.1)
    assert upstream.disconnects, "the gateway kept reading upstream after its client left"


def test_healthz_counts_accounts_by_state(gateway, upstream):
    assert gateway.get("/healthz", key=None).json()["status"] == "degraded"  # no account yet: every call is a 503
    a, b = two_accounts(gateway, upstream)
    add_account(gateway, upstream, "c@example.com")
    gateway.store.set_cooldown(gateway.store.find(a).id, "gemini-2.5-flash", 60, "RATE_LIMIT_EXCEEDED")
    gateway.store.update(gateway.store.find(b).id, enabled=0, disabled_reason="test")
    health = gateway.get("/healthz", key=None).json()
    assert health["status"] == "ok" and health["accounts"] == {"usable": 1, "cooling": 1, "disabled": 1}
    gateway.store.set_cooldown(gateway.store.find("c@example.com").id, "*", 60, "UNAUTHENTICATED")
    response = gateway.get("/healthz", key=None)
    assert response.status_code == 200 and response.json()["status"] == "degraded"
    assert response.json()["accounts"] == {"usable": 0, "cooling": 2, "disabled": 1}
