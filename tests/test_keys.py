"""Team keys end to end: the real CLI makes them, the real gateway (two gevent workers) enforces them."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from gateway import create_app
from gateway.keys.store import KeyStore
from tests.conftest import API_KEY, HELLO, add_account, gateway_env, request_lines, running_gateway, wait_for
from tests.console_helper import csrf_of
from tests.test_observability import metric

GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
OTHER_FAMILY = "/v1beta/models/gemini-2.0-flash:generateContent"


@pytest.fixture
def keys(gateway):
    """The shared gateway with no team key before and after the test."""
    store = KeyStore(gateway.store)
    for key in store.all_keys():
        store.revoke(key.id)
    yield gateway
    for key in store.all_keys():
        store.revoke(key.id)


def create(gateway, name: str, *options: str) -> dict:
    done = gateway.cli("keys", "create", name, *options, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def listed(gateway) -> dict[str, dict]:
    done = gateway.cli("keys", "list", "--json")
    assert done.returncode == 0, done.stderr
    return {row["name"]: row for row in json.loads(done.stdout)}


def fresh_post(gateway, path: str, key: str, body: object = HELLO) -> requests.Response:
    """A request on a new connection: the kernel hands those to either worker."""
    headers = {"x-goog-api-key": key, "Connection": "close"}
    return requests.post(gateway.url + path, json=body, headers=headers, timeout=30)


def test_plain_create_prints_the_key_alone_on_the_last_line(keys):
    done = keys.cli("keys", "create", "plain")
    assert done.returncode == 0, done.stderr
    secret = done.stdout.rstrip("\n").splitlines()[-1]
    assert secret.startswith("gk-") and " " not in secret
    row = listed(keys)["plain"]
    assert row["prefix"] == secret[:8]
    assert keys.cli("keys", "create", "plain").returncode != 0  # names are unique
    text = keys.cli("keys", "list").stdout + keys.cli("keys", "list", "--json").stdout
    assert secret not in text and "plain" in text


def test_the_rpm_cap_holds_across_both_workers(keys, account):
    capped = create(keys, "capped", "--rpm", "5")["key"]
    assert [fresh_post(keys, GENERATE, capped).status_code for _ in range(5)] == [200] * 5
    refused = fresh_post(keys, GENERATE, capped)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED" and "5 requests per minute" in error["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert any(d["@type"].endswith("RetryInfo") for d in error["details"])
    assert fresh_post(keys, GENERATE, API_KEY).status_code == 200  # the admin key has no such cap


def test_concurrent_requests_never_pass_the_cap_together(keys, account):
    capped = create(keys, "burst", "--rpm", "5")["key"]
    with ThreadPoolExecutor(12) as pool:
        statuses = sorted(pool.map(lambda _: fresh_post(keys, GENERATE, capped).status_code, range(12)))
    assert statuses == [200] * 5 + [429] * 7


def test_models_outside_the_patterns_are_refused_and_unlisted(keys, account):
    narrow = create(keys, "narrow", "--models", "gemini-2.5-*,claude-sonnet-*")["key"]
    assert fresh_post(keys, GENERATE, narrow).status_code == 200
    refused = fresh_post(keys, OTHER_FAMILY, narrow)
    assert refused.status_code == 403 and refused.json()["error"]["status"] == "PERMISSION_DENIED"
    assert "gemini-2.0-flash" in refused.json()["error"]["message"]
    assert keys.get("/v1beta/models/gemini-2.0-flash", key=narrow).status_code == 403
    names = [m["name"] for m in keys.get("/v1beta/models?pageSize=1000", key=narrow).json()["models"]]
    assert names and all(n.startswith(("models/gemini-2.5-", "models/claude-sonnet-")) for n in names)
    assert "models/gemini-2.5-flash" in names
    everything = keys.get("/v1beta/models?pageSize=1000").json()["models"]
    assert len(everything) > len(names)


def test_a_rate_limited_key_is_told_the_model_is_forbidden_before_it_is_told_to_wait(keys, account):
    """The 403 is permanent, the 429 passes: a client told to retry would retry what can never succeed."""
    secret = create(keys, "limited", "--rpm", "1", "--models", "gemini-2.5-*")["key"]
    forbidden = fresh_post(keys, OTHER_FAMILY, secret)
    assert forbidden.status_code == 403 and forbidden.json()["error"]["status"] == "PERMISSION_DENIED"
    assert fresh_post(keys, GENERATE, secret).status_code == 200  # the refused request took no slot
    assert fresh_post(keys, GENERATE, secret).status_code == 429  # the one slot is used now
    for refused in (fresh_post(keys, OTHER_FAMILY, secret), keys.get("/v1beta/models/gemini-2.0-flash", key=secret)):
        assert refused.status_code == 403, refused.text
        assert "gemini-2.0-flash" in refused.json()["error"]["message"]


def test_revoking_takes_effect_on_a_running_gateway(keys, account):
    secret = create(keys, "leaver")["key"]
    assert fresh_post(keys, GENERATE, secret).status_code == 200
    for _ in range(4):  # both workers hold the key in their cache
        assert fresh_post(keys, GENERATE, secret).status_code == 200
    assert keys.cli("keys", "revoke", "leaver", "--yes").returncode == 0
    # refused as soon as the command returned, by every worker
    assert {fresh_post(keys, GENERATE, secret).status_code for _ in range(6)} == {401}
    assert "leaver" not in listed(keys)


def test_revoke_by_id_asks_first(keys):
    key_id = create(keys, "byid")["id"]
    assert keys.cli("keys", "revoke", str(key_id), stdin="n\n").returncode != 0
    assert "byid" in listed(keys)
    assert keys.cli("keys", "revoke", str(key_id), stdin="y\n").returncode == 0
    assert "byid" not in listed(keys)


def test_an_expired_key_is_refused_like_an_unknown_one(keys, account):
    short = create(keys, "short", "--expires-in", "0.00003")["key"]  # about 2.6 s
    assert listed(keys)["short"]["expires"]
    assert fresh_post(keys, GENERATE, short).status_code == 200
    wait_for(lambda: fresh_post(keys, GENERATE, short).status_code == 401, seconds=6)
    unknown = fresh_post(keys, GENERATE, "gk-not-a-key")
    assert fresh_post(keys, GENERATE, short).json()["error"]["message"] == unknown.json()["error"]["message"]


def test_daily_tokens_cap_counts_what_was_served(keys, account):
    # The fake answers with usageMetadata of 3 prompt + 2 output tokens.
    budget = create(keys, "budget", "--daily-tokens", "8")["key"]
    assert fresh_post(keys, GENERATE, budget).status_code == 200
    assert fresh_post(keys, GENERATE, budget).status_code == 200
    wait_for(lambda: listed(keys)["budget"]["usage_today"]["tokens_in"] == 6, seconds=5)
    refused = fresh_post(keys, GENERATE, budget)
    assert refused.status_code == 429 and "8 tokens" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 86400
    assert listed(keys)["budget"]["usage_today"] == {"requests": 2, "tokens_in": 6, "tokens_out": 4}


def test_usage_is_shown_per_key_in_list_logs_and_metrics(keys, account):
    secret = create(keys, "reporter")["key"]
    before = keys.get("/metrics").text
    for number in range(3):
        headers = {"X-Request-Id": f"keys-log-{number}"}
        assert keys.post(GENERATE, HELLO, key=secret, headers=headers).status_code == 200
    assert keys.post(GENERATE, HELLO, headers={"X-Request-Id": "keys-log-admin"}).status_code == 200
    [line] = request_lines(keys, "keys-log-0")
    assert line["key"] == "reporter" and secret not in json.dumps(line)
    assert request_lines(keys, "keys-log-admin")[0]["key"] == "admin"
    wait_for(lambda: listed(keys)["reporter"]["usage_today"]["requests"] == 3, seconds=5)
    row = listed(keys)["reporter"]
    assert row["usage_today"] == {"requests": 3, "tokens_in": 9, "tokens_out": 6} and row["last_used"]
    after = keys.get("/metrics").text
    labels = {"key": "reporter", "model": "gemini-2.5-flash", "status": "200"}
    assert metric(after, "gateway_requests_total", **labels) - metric(before, "gateway_requests_total", **labels) == 3
    assert metric(after, "gateway_key_tokens_total", direction="out", key="reporter") >= 6


def test_streams_are_charged_when_they_end(keys, account):
    secret = create(keys, "streamer")["key"]
    path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    with requests.post(keys.url + path, json=HELLO, headers={"x-goog-api-key": secret}, stream=True, timeout=30) as r:
        assert r.status_code == 200 and b"usageMetadata" in r.content
    wait_for(lambda: listed(keys)["streamer"]["usage_today"] == {"requests": 1, "tokens_in": 3, "tokens_out": 2}, 5)


def test_only_the_admin_key_opens_metrics(keys):
    secret = create(keys, "nosy")["key"]
    assert keys.get("/metrics", key=secret).status_code == 401
    assert keys.get("/metrics").status_code == 200
    assert keys.get("/v1beta/models", key=secret).status_code == 200


def app_with_a_team_key(tmp_path, **env: str):
    app = create_app({"GATEWAY_DATA_DIR": str(tmp_path), **env})
    from gateway.keys.manage import issue

    _, secret = issue(app.extensions["gateway"].keys.backend, "app")
    return app.test_client(), secret


def test_team_keys_never_open_the_console_or_metrics(tmp_path):
    client, secret = app_with_a_team_key(tmp_path, GATEWAY_AUTH_MODE="strict", GATEWAY_API_KEY="admin-key")
    team = {"x-goog-api-key": secret}
    for path in ("/console/api/state", "/metrics"):
        assert client.get(path, headers=team).status_code == 401
    page = client.get("/console", headers=team)  # only the login form's cookie opens it, never a header
    assert page.status_code == 303 and page.headers["Location"].endswith("/console/login")
    form = client.get("/console/login").get_data(as_text=True)
    login = client.post("/console/login", data={"key": secret, "csrf_token": csrf_of(form)})
    assert login.status_code == 401 and "gateway_console=" not in login.headers.get("Set-Cookie", "")


def test_auth_on_without_an_admin_key_serves_team_keys(tmp_path):
    client, secret = app_with_a_team_key(tmp_path, GATEWAY_AUTH_MODE="all_except_health")
    assert client.get("/v1beta/models", headers={"x-goog-api-key": secret}).status_code == 200
    assert client.get("/v1beta/models", headers={"x-goog-api-key": ""}).status_code == 401
    assert client.get("/v1beta/models").status_code == 401


def test_auto_mode_turns_auth_on_once_a_team_key_exists(google, upstream, tmp_path):
    env = gateway_env(google, tmp_path, GATEWAY_AUTH_MODE="auto", GATEWAY_API_KEY="")
    with running_gateway(env) as gateway:  # loopback, no admin key: auth is off
        add_account(gateway, upstream, "auto@example.com")
        assert gateway.post(GENERATE, HELLO, key=None).status_code == 200
        assert gateway.get("/console", key=None, allow_redirects=False).status_code == 200  # loopback, no key
        secret = create(gateway, "first")["key"]
        assert gateway.post(GENERATE, HELLO, key=None).status_code == 401  # at once, not a second later
        # auth is on now, and no GATEWAY_API_KEY opens the console: not even on localhost
        assert gateway.get("/console", key=None, allow_redirects=False).status_code == 403
        assert gateway.post(GENERATE, HELLO, key=secret).status_code == 200
        assert gateway.get("/healthz", key=None).status_code == 200
