"""Several gateway hosts sharing one pool through a real Redis (Debian's redis-server) on loopback."""

import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import HELLO, Gateway, RedisServer, free_port, gateway_env, quota_error, start_gateway
from tests.fake_upstream import Reply

GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


@pytest.fixture
def shared(google, upstream, tmp_path):
    """Redis and two gateway hosts (two gunicorn masters, own data dirs) pointed at it, same accounts."""
    server = RedisServer(free_port())
    hosts: list[Gateway] = []
    try:
        for name in ("a", "b"):
            data = tmp_path / name
            data.mkdir()
            hosts.append(start_gateway(gateway_env(google, data, GATEWAY_STATE_URL=server.url)))
        yield server, hosts
    finally:
        for host in hosts:
            host.stop()
        server.stop()


def add_everywhere(hosts, upstream, email: str) -> None:
    upstream.add_account(f"rt-{email}", email)
    for host in hosts:
        host.store.upsert(email, f"rt-{email}", project="proj-1", tier="free-tier")


def test_a_cooldown_set_through_one_host_holds_on_the_other(shared, upstream):
    _, (a, b) = shared
    add_everywhere((a, b), upstream, "one@example.com")
    upstream.script("streamGenerateContent", Reply(status=429, json=quota_error("60s")))
    assert a.post(GENERATE, HELLO).status_code == 429
    answer = b.post(GENERATE, HELLO)
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) > 50
    assert len(upstream.calls_to("streamGenerateContent")) == 1  # host B never called the cooling account


def body(text: str) -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def test_a_cooldown_recorded_by_one_host_holds_for_the_other_hosts_very_next_pick(shared, upstream):
    _, (a, b) = shared
    for email in ("one@example.com", "two@example.com"):
        add_everywhere((a, b), upstream, email)
    calls_to_one = lambda: len(upstream.calls_to("streamGenerateContent", account="one@example.com"))  # noqa: E731
    # Both of B's workers hold a fresh view of the shared state, with no cooldown in it.
    for n in range(6):
        assert b.post(GENERATE, body(f"warming conversation {n}")).status_code == 200
    upstream.script("streamGenerateContent", Reply(status=429, json=quota_error("60s")), account="one@example.com")
    before = calls_to_one()
    for n in range(8):  # until A's turn reaches the account: its 429 cools it down, two@ serves
        assert a.post(GENERATE, body(f"conversation on host a {n}")).status_code == 200
        if calls_to_one() > before:
            break
    assert calls_to_one() == before + 1
    for n in range(6):
        assert b.post(GENERATE, body(f"conversation on host b {n}")).status_code == 200
    assert calls_to_one() == before + 1  # B never called the cooling account


def test_a_token_refreshed_by_one_host_serves_the_other(shared, upstream):
    _, (a, b) = shared
    add_everywhere((a, b), upstream, "tok@example.com")
    assert a.post(GENERATE, HELLO).status_code == 200
    assert b.post(GENERATE, HELLO).status_code == 200
    assert len(upstream.calls_to("token")) == 1
    assert len({c.headers["Authorization"] for c in upstream.calls_to("streamGenerateContent")}) == 1


def test_an_account_disabled_through_one_host_is_disabled_on_the_other(shared, upstream):
    _, (a, b) = shared
    add_everywhere((a, b), upstream, "dead@example.com")
    upstream.accounts["rt-dead@example.com"].revoked = True
    assert a.post(GENERATE, HELLO).status_code == 503
    assert b.post(GENERATE, HELLO).status_code == 503
    assert len(upstream.calls_to("token")) == 1  # B knew without trying


def test_losing_redis_degrades_but_serves_and_recovers(shared, upstream):
    server, (a, _) = shared
    add_everywhere(shared[1], upstream, "r@example.com")
    assert a.post(GENERATE, HELLO).status_code == 200

    # Redis dies while requests are in flight: none of them may be lost.
    def call(_) -> tuple[int, float]:
        return a.post(GENERATE, HELLO).status_code, time.monotonic()

    with ThreadPoolExecutor(8) as pool:
        results = pool.map(call, range(240))
        time.sleep(0.2)
        stopped = time.monotonic()
        server.stop()
        results = list(results)
    assert {status for status, _ in results} == {200}
    assert sum(1 for _, done in results if done > stopped) > 20  # traffic really went on across the loss
    assert a.get("/healthz", key=None).json()["shared_state"] == "degraded"
    server.start()
    # Each worker tries Redis again within RETRY_AFTER of its own last failure: recovered once every answer,
    # whichever worker gives it, says so.
    deadline, answers = time.monotonic() + 15, []
    while answers[-6:] != ["redis"] * 6 and time.monotonic() < deadline:
        answers.append(a.get("/healthz", key=None).json()["shared_state"])
        time.sleep(0.25)
    assert answers[-6:] == ["redis"] * 6, answers
    assert a.post(GENERATE, HELLO).status_code == 200


def test_accounts_list_sums_usage_over_hosts(shared, upstream):
    _, (a, b) = shared
    add_everywhere((a, b), upstream, "u@example.com")
    for host in (a, b):
        assert host.post(GENERATE, HELLO).status_code == 200
    time.sleep(1.5)
    [row] = json.loads(a.cli("accounts", "list", "--json").stdout)
    assert row["usage"]["gemini-2.5-flash"]["requests"] == 2
    assert requests.get(a.url + "/healthz", timeout=5).json()["shared_state"] == "redis"
