"""Request ids, structured logs without secrets, and Prometheus metrics that add up across workers."""

import re

import requests

from gateway import create_app
from tests.conftest import API_KEY, HELLO, add_account, gateway_env, request_lines, running_gateway
from tests.fake_upstream import Reply

GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"


def metric(text: str, name: str, **labels) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name + (f"{{{wanted}}}" if wanted else "")) + r" ([0-9.e+]+)"
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def test_request_id_round_trips_into_the_log(gateway, account):
    response = gateway.post(GENERATE, HELLO, headers={"X-Request-Id": "obs-round-trip-1"})
    assert response.headers["X-Request-Id"] == "obs-round-trip-1"
    [line] = request_lines(gateway, "obs-round-trip-1")
    assert line["status"] == 200 and line["model"] == "gemini-2.5-flash" and line["stream"] is False
    assert line["attempts"] == 1 and line["upstream_status"] == 200 and line["upstream"].startswith("http://127.0.0.1")
    assert line["tokens_in"] == 3 and line["tokens_out"] == 2 and line["duration_ms"] >= line["ttfb_ms"] > 0
    assert re.fullmatch(r"[0-9a-f]{12}", line["account"])  # hashed, not the email


def test_stream_logs_when_it_ends(gateway, upstream, account):
    upstream.script("streamGenerateContent", Reply(status=429, json={"error": {"code": 429, "message": "x"}}))
    add_account(gateway, upstream, "second@example.com")
    response = gateway.post(
        GENERATE.replace("generateContent", "streamGenerateContent?alt=sse"),
        HELLO,
        headers={"X-Request-Id": "obs-stream-1"},
    )
    assert response.status_code == 200
    [line] = request_lines(gateway, "obs-stream-1")
    assert line["stream"] is True and line["attempts"] == 2 and line["status"] == 200 and line["tokens_out"] == 2


def test_every_log_line_is_json_and_holds_no_secret(gateway, upstream, account):
    gateway.post(GENERATE, HELLO)
    gateway.post(GENERATE, HELLO, key="wrong-key")
    requests.get(gateway.url + "/v1beta/models", params={"key": API_KEY}, timeout=10)
    text = gateway.log_path.read_text()
    assert gateway.log_lines()  # every line parsed as JSON
    for secret in (API_KEY, "wrong-key", "rt-alice", "ya29.", "Hello there, gateway"):
        assert secret not in text, secret


def test_the_log_stays_json_through_a_stop(google, tmp_path):
    # Start to stop, nothing may write a bare traceback into the log (shutdown included).
    with running_gateway(gateway_env(google, tmp_path)) as gateway:
        assert gateway.get("/healthz").ok
    messages = [line["message"] for line in gateway.log_lines()]  # raises on any line that is not JSON
    assert messages[-1] == "Shutting down: Master"


def test_error_bodies_name_the_request(gateway):
    response = gateway.post(
        "/v1beta/models/gemini-9-nonexistent:generateContent", HELLO, headers={"X-Request-Id": "obs-error-1"}
    )
    assert {"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": "obs-error-1"} in response.json()[
        "error"
    ]["details"]


def test_metrics_add_up_across_workers(gateway, account):
    def scrape() -> str:
        return gateway.get("/metrics").text

    before = scrape()
    for _ in range(20):  # a new connection each time: the kernel spreads them over both workers
        assert (
            requests.post(
                gateway.url + GENERATE,
                json=HELLO,
                timeout=30,
                headers={"x-goog-api-key": API_KEY, "Connection": "close"},
            ).status_code
            == 200
        )
    after = scrape()
    labels = {"key": "admin", "model": "gemini-2.5-flash", "status": "200"}
    assert metric(after, "gateway_requests_total", **labels) - metric(before, "gateway_requests_total", **labels) == 20
    assert (
        metric(after, "gateway_upstream_attempts_total", outcome="ok")
        - metric(before, "gateway_upstream_attempts_total", outcome="ok")
        == 20
    )
    assert metric(after, "gateway_accounts", state="active") == 1
    assert "gateway_time_to_first_byte_seconds_bucket" in after and "gateway_open_streams" in after


def test_metrics_need_the_key_unless_public(gateway, tmp_path):
    assert gateway.get("/metrics", key=None).status_code == 401
    public = create_app(
        {
            "GATEWAY_DATA_DIR": str(tmp_path),
            "GATEWAY_AUTH_MODE": "strict",
            "GATEWAY_API_KEY": "k",
            "GATEWAY_METRICS_PUBLIC": "1",
        }
    ).test_client()
    assert public.get("/metrics").status_code == 200
    assert public.get("/v1beta/models").status_code == 401
