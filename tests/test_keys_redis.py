"""Team keys on two gateway hosts sharing one real Redis: one limit, one revocation, for both."""

import shutil
import time

import pytest

from tests.conftest import HELLO, Gateway, RedisServer, free_port, gateway_env, start_gateway, wait_for
from tests.test_keys import GENERATE, create, fresh_post, listed
from tests.test_redis import add_everywhere

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


@pytest.fixture
def hosts(google, upstream, tmp_path):
    server = RedisServer(free_port())
    started: list[Gateway] = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            started.append(start_gateway(gateway_env(google, tmp_path / name, GATEWAY_STATE_URL=server.url)))
        add_everywhere(started, upstream, "shared@example.com")
        yield started
    finally:
        for host in started:
            host.stop()
        server.stop()


def test_a_key_made_on_one_host_is_limited_on_both(hosts):
    a, b = hosts
    secret = create(a, "team", "--rpm", "5")["key"]
    statuses = [fresh_post(host, GENERATE, secret).status_code for host in (a, b, a, b, b)]
    assert statuses == [200] * 5
    for host in (a, b):
        refused = fresh_post(host, GENERATE, secret)
        assert refused.status_code == 429 and "5 requests per minute" in refused.json()["error"]["message"]
    wait_for(lambda: listed(b)["team"]["usage_today"]["requests"] == 5, seconds=5)  # B's CLI reads Redis too
    assert listed(b)["team"]["usage_today"]["tokens_out"] == 10


def test_revoking_on_one_host_holds_on_both(hosts):
    a, b = hosts
    secret = create(a, "gone")["key"]
    assert a.post(GENERATE, HELLO, key=secret).status_code == 200
    assert b.post(GENERATE, HELLO, key=secret).status_code == 200
    assert b.cli("keys", "revoke", "gone", "--yes").returncode == 0
    for host in (a, b):
        started = time.monotonic()
        wait_for(lambda h=host: fresh_post(h, GENERATE, secret).status_code == 401, seconds=5)
        assert time.monotonic() - started < 2.5
    time.sleep(1.1)
    assert {fresh_post(host, GENERATE, secret).status_code for host in (a, b, a, b)} == {401}
    assert "gone" not in listed(a)
