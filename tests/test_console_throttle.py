"""Login throttling on /console/login: per client address, shared by the workers, over plain HTTP."""

from __future__ import annotations

import pytest
import requests

from gateway.clock import SYSTEM_CLOCK
from gateway.console.throttle import LIMIT, WINDOW, LoginThrottle, RedisFailures, SqliteFailures
from tests.conftest import API_KEY, gateway_env, running_gateway
from tests.console_helper import csrf_of


def log_in(gateway, key: str, forwarded_for: str = "") -> requests.Response:
    """One login as a browser makes it, from the address an X-Forwarded-For names (if any)."""
    session = requests.Session()
    if forwarded_for:
        session.headers["X-Forwarded-For"] = forwarded_for
    form = session.get(gateway.url + "/console/login", timeout=10)
    return session.post(
        gateway.url + "/console/login",
        data={"key": key, "csrf_token": csrf_of(form.text)},
        allow_redirects=False,
        timeout=10,
    )


@pytest.fixture(scope="module")
def throttled(own_gateway):
    return own_gateway("console-throttle", GATEWAY_WORKERS="2")


def test_five_failures_lock_the_address_out(throttled):
    address = "203.0.113.7"
    assert [log_in(throttled, "guess", address).status_code for _ in range(LIMIT)] == [401] * LIMIT
    refused = log_in(throttled, API_KEY, address)  # even the right key, while the window lasts
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= WINDOW
    assert "Too many failed logins" in refused.text
    assert log_in(throttled, API_KEY, "203.0.113.8").status_code == 303  # another address is not held back
    warnings = [
        line
        for line in throttled.log_lines()
        if line["level"] == "warning" and "failed console login" in line["message"]
    ]
    assert [line["client"] for line in warnings if line["client"] == address] == [address] * LIMIT
    assert all(API_KEY not in str(line) and "guess" not in str(line) for line in warnings)


def test_a_login_forgets_the_failures_before_it(throttled):
    address = "203.0.113.9"
    for _ in range(LIMIT - 1):
        assert log_in(throttled, "guess", address).status_code == 401
    assert log_in(throttled, API_KEY, address).status_code == 303
    assert all(log_in(throttled, "guess", address).status_code == 401 for _ in range(LIMIT))
    assert log_in(throttled, "guess", address).status_code == 429


def test_forwarded_for_from_an_untrusted_peer_is_ignored(google, tmp_path):
    env = gateway_env(google, tmp_path, GATEWAY_FORWARDED_ALLOW_IPS="10.9.9.9", GATEWAY_WORKERS="2")
    with running_gateway(env) as gateway:
        # Each try names another address: the peer (127.0.0.1) is no proxy of ours, so all count as one.
        answers = [log_in(gateway, "guess", f"198.51.100.{n}").status_code for n in range(LIMIT + 1)]
        assert answers == [401] * LIMIT + [429]
        lines = [line for line in gateway.log_lines() if "failed console login" in line.get("message", "")]
        assert {line["client"] for line in lines} == {"127.0.0.1"}


def test_a_chain_of_trusted_proxies_names_the_client(throttled):
    # The client claims 192.0.2.1; the trusted proxy 127.0.0.1 appended the address it saw (192.0.2.50).
    for _ in range(LIMIT):
        assert log_in(throttled, "guess", "192.0.2.1, 192.0.2.50, 127.0.0.1").status_code == 401
    assert log_in(throttled, API_KEY, "192.0.2.50").status_code == 429
    assert log_in(throttled, API_KEY, "192.0.2.1").status_code == 303


class Clock:
    def __init__(self) -> None:
        self.now = SYSTEM_CLOCK()

    def __call__(self) -> float:
        return self.now


def stores(tmp_path, clock, redis_url=""):
    if redis_url:
        return [RedisFailures(redis_url, clock), RedisFailures(redis_url, clock)]
    return [SqliteFailures(tmp_path / "activity.db", clock), SqliteFailures(tmp_path / "activity.db", clock)]


@pytest.mark.parametrize("shared", ["sqlite", "redis"])
def test_the_window_passes_and_workers_agree(request, tmp_path, shared):
    clock = Clock()
    url = request.getfixturevalue("redis_server").url if shared == "redis" else ""
    one, other = (LoginThrottle(store) for store in stores(tmp_path, clock, url))
    address = f"2001:db8::{shared == 'redis':x}"
    other.succeeded(address)
    for n in range(LIMIT):
        (one if n % 2 else other).failed(address)  # failures spread over two workers
        clock.now += 10
    assert one.retry_after(address) == other.retry_after(address) == WINDOW - LIMIT * 10
    clock.now += WINDOW - LIMIT * 10  # the first failure ages out: four left in the window
    assert one.retry_after(address) == 0
    one.failed(address)
    assert other.retry_after(address) == 10  # the second failure, 10 s after the first, is next to go


def test_an_unwritable_store_leaves_logins_unthrottled(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    throttle = LoginThrottle(SqliteFailures(blocked / "activity.db", Clock()))  # its directory is a file
    for _ in range(LIMIT + 1):
        throttle.failed("203.0.113.1")
    assert throttle.retry_after("203.0.113.1") == 0
