"""Team keys on two gateway hosts sharing one real Redis: one limit, one revocation, for both."""

import shutil
import time

import pytest

from tests import test_redis
from tests.conftest import HELLO, Gateway, wait_for
from tests.test_keys import GENERATE, create, fresh_post, listed

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


shared = test_redis.shared  # Redis and two gateway hosts pointed at it (a fixture of test_redis.py)


@pytest.fixture
def hosts(shared, upstream) -> list[Gateway]:
    _, started = shared
    test_redis.add_everywhere(started, upstream, "shared@example.com")
    return started


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
