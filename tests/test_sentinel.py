"""GATEWAY_STATE_URL=redis+sentinel://: two gateway hosts follow a real Redis Sentinel failover under load.

One master, one replica and three sentinels on loopback (quick failure detection), the master SIGKILLed while
requests keep coming: none fails, the new master is used, and what was written before is still there.
"""

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis

from gateway.accounts.sentinel import SentinelUrl
from gateway.config import Settings, SettingsError
from tests.conftest import HELLO, Gateway, free_port, gateway_env, quota_error, real_time_env, start_gateway, wait_for
from tests.fake_upstream import Reply

GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
SERVICE = "gw"
needs_sentinel = pytest.mark.skipif(shutil.which("redis-sentinel") is None, reason="redis-sentinel is not installed")


def test_the_url_names_sentinels_service_db_and_password():
    url = SentinelUrl.parse("rediss+sentinel://:p%40ss@10.0.0.1:26379,[::1]:26380/main/3")
    assert url.sentinels == (("10.0.0.1", 26379), ("::1", 26380)) and url.service == "main"
    assert (url.db, url.password, url.tls) == (3, "p@ss", True)
    assert SentinelUrl.parse("redis+sentinel://h:1/main").db == 0


@pytest.mark.parametrize("url", ["redis+sentinel://h:1", "redis+sentinel://h/main", "redis+sentinel://h:1/m/x"])
def test_a_bad_sentinel_url_is_refused_at_start(url):
    with pytest.raises(SettingsError, match="GATEWAY_STATE_URL"):
        Settings.from_env({"GATEWAY_STATE_URL": url})


def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, env=real_time_env())


def redis_node(directory: Path, port: int, *extra: str) -> subprocess.Popen:
    # --dir: a replica's full sync writes a dump file
    return spawn(
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(directory), *extra
    )


def sentinel_node(directory: Path, port: int, master_port: int) -> subprocess.Popen:
    conf = directory / f"sentinel-{port}.conf"  # a sentinel rewrites its file: one each
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\nsentinel monitor {SERVICE} 127.0.0.1 {master_port} 2\n"
        f"sentinel down-after-milliseconds {SERVICE} 400\nsentinel failover-timeout {SERVICE} 2000\n"
    )
    return spawn("redis-sentinel", str(conf))


@pytest.fixture
def sentinels(tmp_path):
    master_port, replica_port = free_port(), free_port()
    ports = [free_port() for _ in range(3)]
    nodes = [redis_node(tmp_path, master_port)]
    nodes.append(redis_node(tmp_path, replica_port, "--replicaof", "127.0.0.1", str(master_port)))
    nodes += [sentinel_node(tmp_path, port, master_port) for port in ports]
    try:
        replica = redis.Redis(port=replica_port)
        wait_for(lambda: replica.info("replication").get("master_link_status") == "up")
        for port in ports:  # every sentinel knows the replica and its peers: a failover can be voted
            watcher = redis.Redis(port=port)
            wait_for(lambda w=watcher: w.sentinel_slaves(SERVICE) and w.sentinel_sentinels(SERVICE)[1:], 20)
        url = f"redis+sentinel://{','.join(f'127.0.0.1:{p}' for p in ports)}/{SERVICE}/0"
        yield url, nodes[0], redis.Redis(port=master_port), replica_port, redis.Redis(port=ports[0])
    finally:
        for node in nodes:
            node.kill()
            node.wait(timeout=10)


def load(hosts: list[Gateway], statuses: list[int], stop: threading.Event) -> None:
    """Steady, bounded: one request after another, alternating hosts, a short pause between."""
    turn = 0
    while not stop.is_set() and len(statuses) < 2000:
        statuses.append(hosts[turn % 2].post(GENERATE, HELLO).status_code)
        turn += 1
        time.sleep(0.01)


@needs_sentinel
def test_a_master_killed_under_load_fails_over_with_no_error_and_nothing_lost(sentinels, google, upstream, tmp_path):
    url, master_process, master, replica_port, watcher = sentinels
    for name in "ab":
        (tmp_path / name).mkdir()
    hosts = [start_gateway(gateway_env(google, tmp_path / name, GATEWAY_STATE_URL=url)) for name in "ab"]
    try:
        a, b = hosts
        for email in ("one@example.com", "two@example.com"):
            upstream.add_account(f"rt-{email}", email)
            for host in hosts:
                host.store.upsert(email, f"rt-{email}", project="proj-1", tier="free-tier")
        made = a.cli("keys", "create", "team", "--json")
        team_key = json.loads(made.stdout)["key"]
        assert b.post(GENERATE, HELLO, key=team_key).status_code == 200
        upstream.script("streamGenerateContent", Reply(status=429, json=quota_error("600s")), account="one@example.com")
        for n in range(6):
            assert a.post(GENERATE, {"contents": [{"role": "user", "parts": [{"text": f"turn {n} of it"}]}]}).ok
        assert master.hexists("gateway:cooldowns", "one@example.com\x1fgemini-2.5-flash")
        wait_for(lambda: master.keys("gateway:usage:*"))  # the usage flush ran
        assert master.wait(1, 2000) == 1  # what was written reached the replica

        statuses: list[int] = []
        stop = threading.Event()
        loader = threading.Thread(target=load, args=(hosts, statuses, stop))
        loader.start()
        time.sleep(1)
        master_process.kill()
        killed = time.monotonic()
        try:
            wait_for(lambda: watcher.sentinel_get_master_addr_by_name(SERVICE)[1] == replica_port, 15)
            promoted = time.monotonic()
            for host in hosts:
                wait_for(
                    lambda h=host: all(h.get("/healthz", key=None).json()["shared_state"] == "redis" for _ in range(6)),
                    15,
                )
            used = time.monotonic()
            time.sleep(1)
        finally:
            stop.set()
            loader.join(timeout=30)
        print(
            f"sentinel failover: promoted after {promoted - killed:.1f}s, both hosts on it after {used - killed:.1f}s, "
            f"{len(statuses)} requests, statuses {sorted(set(statuses))}"
        )
        assert statuses and all(status < 500 for status in statuses), statuses
        assert set(statuses) == {200}

        new = redis.Redis(port=replica_port)
        assert new.hexists("gateway:cooldowns", "one@example.com\x1fgemini-2.5-flash")  # the cooldown
        assert b.post(GENERATE, HELLO, key=team_key).status_code == 200  # the team key
        rows = json.loads(b.cli("accounts", "list", "--json").stdout)
        assert sum(row["usage"].get("gemini-2.5-flash", {}).get("requests", 0) for row in rows) >= 8  # the counters
    finally:
        for host in hosts:
            host.stop()
