"""The deployment as users run it: systemd unit, real nginx in front, reloads and stops mid-stream."""

import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import API_KEY, HELLO, ROOT, add_account, free_port, gateway_env, start_gateway
from tests.fake_upstream import Reply
from tests.nginx_helper import NGINX, Nginx, check, render_nginx
from tests.sdk_helper import genai_client

STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)")


def ticks(count: int) -> list[dict]:
    return [{"candidates": [{"content": {"role": "model", "parts": [{"text": f"tick {n} "}]}}]} for n in range(count)]


def read_stream(url: str, **options) -> tuple[list[str], list[float]]:
    """The texts of an SSE stream and when each arrived (seconds after the request was sent)."""
    started, texts, times = time.monotonic(), [], []
    with requests.post(
        url + STREAM, json=HELLO, headers={"x-goog-api-key": API_KEY}, stream=True, timeout=60, **options
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith(b"data: "):
                event = json.loads(line[6:])
                assert "error" not in event, event
                texts.append(event["candidates"][0]["content"]["parts"][0]["text"])
                times.append(time.monotonic() - started)
    return texts, times


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_unit_verifies(tmp_path):
    unit = (ROOT / "deploy" / "gateway.service").read_text()
    unit = unit.replace("/opt/gemini-gateway/.venv/bin/gunicorn", str(Path(sys.executable).parent / "gunicorn"))
    unit = unit.replace("WorkingDirectory=/opt/gemini-gateway", f"WorkingDirectory={tmp_path}")
    path = tmp_path / "gemini-gateway.service"
    path.write_text(unit)
    result = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert path.name not in result.stdout + result.stderr, result.stdout + result.stderr


def test_env_example_documents_every_setting():
    example = (ROOT / "deploy" / "gateway.env.example").read_text()
    config = (ROOT / "gateway" / "config.py").read_text() + (ROOT / "gunicorn.conf.py").read_text()
    found = re.findall(r'(?<![.\w])get\("([A-Z_]+)"', config) + re.findall(r'"GATEWAY_([A-Z_]+)"', config)
    used = {name.removeprefix("GATEWAY_") for name in found}
    missing = [name for name in used if f"GATEWAY_{name}=" not in example]
    assert len(used) > 10 and not missing, missing


@needs_nginx
def test_nginx_accepts_the_site(tmp_path):
    result = check(render_nginx(tmp_path, free_port(), "127.0.0.1:8045"))
    assert result.returncode == 0, result.stderr


@pytest.fixture
def behind_nginx(gateway, tmp_path):
    port = free_port()
    upstream = gateway.url.removeprefix("http://")
    proxy = Nginx(render_nginx(tmp_path, port, upstream, read_timeout="3s"), f"http://127.0.0.1:{port}")
    yield proxy
    proxy.stop()


@needs_nginx
def test_streams_pass_nginx_event_by_event(behind_nginx, upstream, account):
    upstream.script("streamGenerateContent", Reply(events=ticks(2), event_delay=2.0))
    texts, times = read_stream(behind_nginx.url)
    assert texts == ["tick 0 ", "tick 1 "]
    assert times[0] < 1.5 <= times[1]  # the first event did not wait for the second


@needs_nginx
def test_a_stream_longer_than_every_timeout_is_not_cut(google, upstream, tmp_path):
    # Scaled down: nginx reads with a 3 s timeout and gunicorn's worker timeout is 2 s, yet a 9 s stream
    # with an event every second arrives whole. (The shipped values are an hour and 30 s.)
    gateway = start_gateway(gateway_env(google, tmp_path), "--timeout", "2")
    port = free_port()
    proxy = Nginx(
        render_nginx(tmp_path, port, gateway.url.removeprefix("http://"), read_timeout="3s"), f"http://127.0.0.1:{port}"
    )
    try:
        add_account(gateway, upstream, "long@example.com")
        upstream.script("streamGenerateContent", Reply(events=ticks(10), event_delay=1.0))
        texts, times = read_stream(proxy.url)
        assert len(texts) == 10 and times[-1] > 8.5
    finally:
        proxy.stop()
        gateway.stop()


@needs_nginx
def test_sdks_work_through_nginx(behind_nginx, account):
    client = genai_client(behind_nginx.url)
    assert client.models.generate_content(model="gemini-2.5-flash", contents="Hello").text == "Hello"
    chunks = client.models.generate_content_stream(model="gemini-2.5-flash", contents="Hello")
    assert [chunk.text for chunk in chunks] == ["Hel", "lo"]
    assert client.models.count_tokens(model="gemini-2.5-flash", contents="a b c").total_tokens == 3


@pytest.fixture
def own_gateway(google, upstream, tmp_path):
    """A gateway of its own (the test signals its master), with one account."""
    gateway = start_gateway(gateway_env(google, tmp_path))
    add_account(gateway, upstream, "signals@example.com")
    upstream.script("streamGenerateContent", Reply(events=ticks(8), event_delay=0.5))
    yield gateway
    gateway.stop()


def stream_during(gateway, signal_number: int) -> list[str]:
    """The texts of a 4 s stream read while the gunicorn master receives a signal one second in."""

    def signal_later() -> None:
        time.sleep(1.0)  # not threading.Timer: under faketime a thread's timed wait never returns
        gateway.process.send_signal(signal_number)  # a no-op once the process has ended

    threading.Thread(target=signal_later, daemon=True).start()
    return read_stream(gateway.url)[0]


def test_reload_keeps_open_streams(own_gateway):
    assert len(stream_during(own_gateway, signal.SIGHUP)) == 8
    assert own_gateway.post("/v1beta/models/gemini-2.5-flash:generateContent", HELLO).status_code == 200


def test_stop_lets_open_streams_finish(own_gateway):
    assert len(stream_during(own_gateway, signal.SIGTERM)) == 8
    assert own_gateway.process.wait(timeout=20) == 0


def test_a_stop_waits_for_requests_not_for_idle_keep_alive_clients(own_gateway):
    """nginx keeps idle connections to the gateway open; a stop must not wait out their keep-alive (75 s)."""
    with requests.Session() as client:  # keeps its connections open between requests, as nginx does
        for _ in range(4):  # connections in both workers, most likely
            assert client.get(own_gateway.url + "/healthz").status_code == 200
        streaming = threading.Thread(target=lambda: texts.extend(read_stream(own_gateway.url)[0]))
        texts: list[str] = []
        streaming.start()
        time.sleep(0.5)  # the stream is open
        own_gateway.process.send_signal(signal.SIGTERM)
        assert own_gateway.process.wait(timeout=20) == 0  # gunicorn's worker alone waits 75 s for the idle ones
        streaming.join()
    assert len(texts) == 8  # the stream in progress still finished
    assert not [line for line in own_gateway.log_lines() if line["level"] == "error"]  # closed as a client closes
