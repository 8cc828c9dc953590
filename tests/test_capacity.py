"""A full worker answers 503 UNAVAILABLE with Retry-After at once, and /metrics says how full it is."""

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from gateway.capacity import admitted
from tests.conftest import API_KEY, HELLO, add_account, gateway_env, running_gateway
from tests.fake_upstream import Reply
from tests.test_deploy import STREAM, ticks
from tests.test_observability import metric

CONNECTIONS = 10  # one worker of 10 connections admits 9 requests; the tenth slot answers refusals


@pytest.mark.parametrize(("connections", "served"), [(10, 9), (6000, 5880), (50, 49), (2, 1), (1, 1)])
def test_a_worker_keeps_two_percent_of_its_connections_for_refusals(connections, served):
    assert admitted(connections) == served


@pytest.fixture
def small(google, upstream, tmp_path):
    env = gateway_env(google, tmp_path, GATEWAY_WORKERS="1", GATEWAY_WORKER_CONNECTIONS=str(CONNECTIONS))
    with running_gateway(env) as gateway:
        add_account(gateway, upstream, "full@example.com")
        yield gateway


def open_stream(gateway, stack: contextlib.ExitStack) -> Iterator[bytes]:
    """The rest of a stream that has relayed its first event, so the worker holds it."""
    response = stack.enter_context(
        requests.post(gateway.url + STREAM, json=HELLO, headers={"x-goog-api-key": API_KEY}, stream=True, timeout=30)
    )
    assert response.status_code == 200
    lines = response.iter_lines()
    assert next(lines).startswith(b"data: ")
    return lines


def test_a_full_worker_refuses_at_once_and_serves_again_when_streams_end(small, upstream):
    held = admitted(CONNECTIONS)
    # Each stream holds its connection for 10 s: long enough to open them all on a busy machine.
    upstream.script("streamGenerateContent", *[Reply(events=ticks(2), event_delay=10) for _ in range(held)])
    with contextlib.ExitStack() as stack:
        streams = [open_stream(small, stack) for _ in range(held)]
        refused = small.post(STREAM, HELLO, timeout=10)  # a hang would time out: never the answer here
        assert refused.status_code == 503
        assert refused.json()["error"]["status"] == "UNAVAILABLE" and refused.json()["error"]["code"] == 503
        assert int(refused.headers["Retry-After"]) >= 1
        text = small.get("/metrics").text  # served from the headroom even now
        assert metric(text, "gateway_open_requests") == held
        assert metric(text, "gateway_open_streams") == held
        assert metric(text, "gateway_refused_total") == 1
        for lines in streams:
            assert b"tick 1" in b"".join(lines)  # read to its end: the worker lets it go
    assert small.post(STREAM, HELLO, timeout=10).status_code == 200
    assert metric(small.get("/metrics").text, "gateway_open_requests") == 0


@pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) is not installed; CI has it: .ci/run")
def test_the_listen_queue_holds_a_burst_of_new_connections(google, tmp_path):
    """A burst of new streams waits to be accepted rather than being reset (gunicorn's default 2048 overflowed)."""
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    with running_gateway(gateway_env(google, tmp_path)) as gateway:  # GATEWAY_WORKER_CONNECTIONS: 6000
        port = gateway.url.rsplit(":", 1)[1]
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True)
        assert int(listening.stdout.split()[2]) == min(6000, somaxconn)  # Send-Q of a listener: its backlog
