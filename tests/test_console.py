"""The console over plain HTTP: who may open it, CSRF, headers, what it shows, and that it holds no secret."""

from __future__ import annotations

import json
import re
import time

import pytest
import requests

from gateway.activity import RECENT, RedisActivity, SqliteActivity
from gateway.console.access import loopback_host
from tests.conftest import (
    API_KEY,
    HELLO,
    accounts_by_email,
    add_account,
    gateway_env,
    quota_error,
    running_gateway,
    wait_for,
)
from tests.console_helper import console_session, csrf_of, page_token
from tests.fake_upstream import Reply

GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"


def state(session: requests.Session, gateway) -> dict:
    answer = session.get(gateway.url + "/console/api/state", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture(scope="module")
def open_gateway(own_gateway):
    """A gateway with auth off: the console answers loopback names only."""
    return own_gateway("console-open", GATEWAY_AUTH_MODE="off")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("localhost:8045", True),
        ("127.0.0.1:8045", True),
        ("127.9.9.9", True),
        ("[::1]:8045", True),
        ("[::1]", True),
        ("example.com", False),
        ("localhost.example.com:8045", False),
        ("127.0.0.1.nip.io", False),
        ("[::2]:80", False),
        ("", False),
    ],
)
def test_loopback_names(host, loopback):
    assert loopback_host(host) is loopback


def test_login_sets_a_strict_http_only_cookie(gateway):
    session, answer = console_session(gateway)
    assert answer.status_code == 200 and answer.url == gateway.url + "/console"
    cookie = answer.history[0].headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    assert state(session, gateway)["accounts"] == []


def test_cookie_is_secure_behind_https(gateway):
    # The test client is 127.0.0.1, in gunicorn's forwarded_allow_ips: its X-Forwarded-Proto counts.
    session = requests.Session()
    session.headers["X-Forwarded-Proto"] = "https"
    form = session.get(gateway.url + "/console/login", timeout=10)
    assert "Secure" in form.headers["Set-Cookie"]


def test_forwarded_proto_from_an_untrusted_address_is_ignored(google, tmp_path):
    env = gateway_env(google, tmp_path, GATEWAY_FORWARDED_ALLOW_IPS="10.9.9.9", GATEWAY_WORKERS="1")
    with running_gateway(env) as gateway:
        form = requests.get(gateway.url + "/console/login", headers={"X-Forwarded-Proto": "https"}, timeout=10)
        assert form.status_code == 200 and "Secure" not in form.headers["Set-Cookie"]


@pytest.mark.parametrize("key", ["wrong-key", "", API_KEY + "x"])
def test_a_wrong_key_opens_nothing(gateway, key):
    session, answer = console_session(gateway, key)
    assert answer.status_code == 401 and "not the admin key" in answer.text
    assert session.get(gateway.url + "/console/api/state", timeout=10).status_code == 401
    assert session.get(gateway.url + "/console", allow_redirects=False, timeout=10).status_code == 303


def test_without_login_the_page_sends_to_the_form(gateway, account):
    page = requests.get(gateway.url + "/console", allow_redirects=False, timeout=10)
    assert page.status_code == 303 and page.headers["Location"].endswith("/console/login")
    followed = requests.get(gateway.url + "/console", timeout=10)
    assert "alice@example.com" not in followed.text and 'type="password"' in followed.text
    # The API key in a header does not open the console: only the login form does.
    assert gateway.get("/console/api/state").status_code == 401


def test_logout_closes_the_session(gateway):
    session, _ = console_session(gateway)
    logged_in = session.cookies["gateway_console"]
    answer = session.post(gateway.url + "/console/logout", data={"csrf_token": page_token(session, gateway)})
    # Back on the form, with a fresh session that is not logged in (the form's CSRF token needs one).
    assert answer.url == gateway.url + "/console/login" and session.cookies["gateway_console"] != logged_in
    assert session.get(gateway.url + "/console/api/state", timeout=10).status_code == 401


def test_a_forged_cookie_opens_nothing(gateway):
    session, _ = console_session(gateway)
    cookie = session.cookies["gateway_console"]
    payload, _, signature = cookie.partition(".")
    forged = requests.get(
        gateway.url + "/console/api/state", cookies={"gateway_console": payload + ".AAAA.AAAA"}, timeout=10
    )
    assert signature and forged.status_code == 401


def test_posts_without_the_csrf_token_are_refused(gateway, account):
    account_id = gateway.store.find(account).id
    action = f"{gateway.url}/console/api/accounts/{account_id}/disable"
    session, _ = console_session(gateway)
    token = page_token(session, gateway)
    other, _ = console_session(gateway)
    refused = [
        requests.post(action, timeout=10),  # no session, no token
        session.post(action, timeout=10),  # logged in, no token
        session.post(action, headers={"X-CSRF-Token": "0" * 64}, timeout=10),
        other.post(action, headers={"X-CSRF-Token": token}, timeout=10),  # another session's token
        session.post(gateway.url + "/console/logout", timeout=10),
        requests.post(gateway.url + "/console/login", data={"key": API_KEY}, timeout=10),
        session.post(gateway.url + "/console", timeout=10),
        session.post(gateway.url + "/console/anything/else", timeout=10),
    ]
    for answer in refused:
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["status"] == "PERMISSION_DENIED"
    assert accounts_by_email(gateway)[account]["state"] == "active"
    done = session.post(action, headers={"X-CSRF-Token": token, "Accept": "application/json"}, timeout=10)
    assert done.status_code == 200 and done.json()["account"]["state"] == "disabled"


def test_buttons_work_as_plain_forms(gateway, account):
    account_id = gateway.store.find(account).id
    session, _ = console_session(gateway)
    form = {"csrf_token": csrf_of(session.get(gateway.url + "/console", timeout=10).text)}
    answer = session.post(f"{gateway.url}/console/api/accounts/{account_id}/disable", data=form, timeout=10)
    assert answer.status_code == 200 and answer.url == gateway.url + "/console"
    assert accounts_by_email(gateway)[account]["disabled_reason"] == "disabled by the operator"
    session.post(f"{gateway.url}/console/api/accounts/{account_id}/enable", data=form, timeout=10)
    assert accounts_by_email(gateway)[account]["state"] == "active"
    assert session.post(f"{gateway.url}/console/api/accounts/{account_id}/remove", data=form).status_code == 404
    assert session.post(f"{gateway.url}/console/api/accounts/99999/enable", data=form).status_code == 404
    assert session.post(f"{gateway.url}/console", data=form).status_code == 405
    assert session.post(f"{gateway.url}/console/elsewhere", data=form).status_code == 404


def test_quota_button_stores_what_google_reports(gateway, upstream, account):
    account_id = gateway.store.find(account).id
    session, _ = console_session(gateway)
    headers = {"X-CSRF-Token": page_token(session, gateway), "Accept": "application/json"}
    answer = session.post(f"{gateway.url}/console/api/accounts/{account_id}/quota", headers=headers, timeout=30)
    assert answer.status_code == 200 and answer.json()["error"] == ""
    assert accounts_by_email(gateway)[account]["quota"]["gemini-2.5-pro"]["remainingFraction"] == 1.0
    upstream.script("fetchAvailableModels", Reply(403, {"error": {"code": 403, "message": "no", "status": "X"}}))
    failed = session.post(f"{gateway.url}/console/api/accounts/{account_id}/quota", headers=headers, timeout=30)
    assert failed.json()["error"]


def test_every_answer_carries_the_security_headers(gateway):
    session, _ = console_session(gateway)
    assert session.get(gateway.url + "/console/", timeout=10).url == gateway.url + "/console"
    paths = ("/console", "/console/login", "/console/api/state", "/console/templates", "/console/static/console.js")
    for path in (*paths, "/console/nope"):
        answer = session.get(gateway.url + path, timeout=10)
        if path != "/console/nope":
            assert answer.status_code == 200, path
        csp = answer.headers.get("Content-Security-Policy", "")
        if answer.status_code == 200:
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
            assert "unsafe-inline" not in csp and answer.headers["X-Frame-Options"] == "DENY", path
    page = session.get(gateway.url + "/console", timeout=10).text
    assert "<script>" not in page and " style=" not in page and " on" + "click" not in page


def test_the_page_markup_holds_only_real_accounts_bars_and_buttons(gateway, upstream):
    """Scripts and tests read the hooks straight from the HTML: no empty prototype card or bar among them."""
    add_account(gateway, upstream, "hooks@example.com")
    session, _ = console_session(gateway)
    page = session.get(gateway.url + "/console", timeout=10).text
    assert re.findall(r'data-account="([^"]*)"', page) == ["hooks@example.com"]
    assert re.findall(r'data-field="state">([^<]*)<', page) == ["active"]
    # An active account's buttons: Disable (no Enable) and Fetch quota; and the create-key form, with no key yet.
    assert sorted(re.findall(r'data-action="([^"]*)"', page)) == ["create-key", "disable", "quota"]
    assert "<meter" not in page and "<progress" not in page  # no quota fetched yet: no bar
    prototypes = session.get(gateway.url + "/console/templates", timeout=10)
    assert prototypes.status_code == 200 and 'id="account-template"' in prototypes.text
    assert requests.get(gateway.url + "/console/templates", timeout=10).status_code == 401


def test_the_console_shows_the_pool_and_no_secret(gateway, upstream):
    add_account(gateway, upstream, "shown-a@example.com")
    bob = add_account(gateway, upstream, "shown-b@example.com")
    gateway.store.update(bob, enabled=0, disabled_reason="invalid_grant: Token has been revoked")
    upstream.script("streamGenerateContent", Reply(429, quota_error("45s")), account="shown-a@example.com")
    assert gateway.post(GENERATE, HELLO).status_code == 429
    session, _ = console_session(gateway)

    def mine() -> dict | None:  # the gateway is shared by the whole run: wait for this test's request
        seen = state(session, gateway)
        return seen if seen["recent"] and seen["recent"][0]["account"] == "shown-a@example.com" else None

    seen = wait_for(mine)
    accounts = {a["email"]: a for a in seen["accounts"]}
    assert accounts["shown-a@example.com"]["state"] == "cooling"
    assert 40 <= accounts["shown-a@example.com"]["cooldowns"][0]["seconds_left"] <= 45
    assert accounts["shown-b@example.com"]["state"] == "disabled"
    last = seen["recent"][0]
    assert last["model"] == "gemini-2.5-flash" and last["status"] == 429
    assert last["duration_ms"] > 0 and last["path"] == GENERATE
    assert seen["totals"]["cooling"] == 1 and seen["totals"]["disabled"] == 1
    secrets = [API_KEY, "rt-shown-a@example.com", "rt-shown-b@example.com"]
    secrets += [token for token, (email, _) in upstream.tokens.items()]
    assert len(secrets) > 3  # alice's access token was issued, so the test looks for it
    page = session.get(gateway.url + "/console", timeout=10).text
    assert "shown-a@example.com" in page and "shown-b@example.com" in page
    for text in (page, json.dumps(seen), session.get(gateway.url + "/console/static/console.js").text):
        for secret in secrets:
            assert secret not in text


def test_served_requests_count_in_the_last_24_hours(gateway, upstream):
    account = "counted@example.com"  # usage by the hour outlives an account's removal: a name no other test uses
    add_account(gateway, upstream, account)
    for _ in range(3):
        assert gateway.post(GENERATE, HELLO).status_code == 200
    session, _ = console_session(gateway)
    seen = wait_for(lambda: (s := state(session, gateway))["accounts"][0]["usage_24h"]["requests"] >= 3 and s)
    usage = seen["accounts"][0]["usage_24h"]
    assert usage["requests"] == 3 and usage["tokens_in"] == 9 and usage["tokens_out"] == 6
    flash = next(m for m in seen["models_24h"] if m["model"] == "gemini-2.5-flash")
    assert flash["requests"] >= 3 and seen["hours"][-1]["requests"] >= 3 and len(seen["hours"]) == 24
    # The console's own polling is not among the requests it lists.
    assert not any(r["path"].startswith("/console") for r in seen["recent"])


def test_auth_off_serves_loopback_names_only(open_gateway):
    port = open_gateway.url.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "[::1]"):
        assert requests.get(open_gateway.url + "/console", headers={"Host": host}, timeout=10).status_code == 200
    for host in ("attacker.example", f"attacker.example:{port}", "192.168.1.20"):
        for path in ("/console", "/console/api/state", "/console/login", "/console/static/console.js"):
            answer = requests.get(open_gateway.url + path, headers={"Host": host}, timeout=10)
            assert answer.status_code == 403, (host, path)
            assert answer.headers["X-Frame-Options"] == "DENY"


def test_auth_off_still_needs_the_csrf_token(open_gateway, upstream):
    add_account(open_gateway, upstream, "open@example.com")
    account_id = open_gateway.store.find("open@example.com").id
    action = f"{open_gateway.url}/console/api/accounts/{account_id}/disable"
    session = requests.Session()
    page = session.get(open_gateway.url + "/console", timeout=10)
    assert "open@example.com" in page.text and session.get(open_gateway.url + "/console/login").url.endswith("/console")
    assert session.post(action, timeout=10).status_code == 403
    # A page of another origin posting to localhost: no token it could know.
    assert requests.post(action, headers={"Origin": "http://evil.example"}, timeout=10).status_code == 403
    token = page_token(session, open_gateway)
    assert session.post(action, headers={"X-CSRF-Token": token}, timeout=10).status_code == 200
    assert accounts_by_email(open_gateway)["open@example.com"]["state"] == "disabled"


def test_api_routes_still_need_the_key(gateway):
    assert gateway.get("/v1beta/models", key=None).status_code == 401
    assert gateway.get("/v1beta/models").status_code == 200
    assert gateway.get("/consolex", key=None).status_code == 401  # only /console and below are the console's


def test_auth_on_without_a_key_opens_nothing(tmp_path):
    """No key to log in with, nor to derive the signing key from: the console refuses, saying why."""
    from gateway import create_app

    client = create_app({"GATEWAY_DATA_DIR": str(tmp_path), "GATEWAY_AUTH_MODE": "strict"}).test_client()
    for answer in (client.get("/console/login"), client.get("/console"), client.post("/console/login", data={})):
        assert answer.status_code == 403 and "GATEWAY_API_KEY" in answer.json["error"]["message"]


def test_with_redis_the_console_lists_every_hosts_requests(served_redis, upstream):
    add_account(served_redis, upstream, "redis-console@example.com")
    assert served_redis.post(GENERATE, HELLO).status_code == 200
    session, _ = console_session(served_redis)
    seen = wait_for(lambda: (s := state(session, served_redis))["recent"] and s)
    assert seen["recent"][0]["account"] == "redis-console@example.com"
    assert seen["accounts"][0]["usage_24h"]["requests"] >= 1
    keys = redis_keys(served_redis)
    assert "gateway:recent" in keys and any(k.startswith("gateway:hourly:") for k in keys)


def redis_keys(gateway) -> set[str]:
    import redis

    return {k.decode() for k in redis.Redis.from_url(gateway.env["GATEWAY_STATE_URL"]).keys("gateway:*")}


def test_the_recent_list_stays_bounded(tmp_path):
    activity = SqliteActivity(tmp_path / "a.db")
    for number in range(RECENT):
        activity.write([_entry(number)])
    activity.write([_entry(number) for number in range(RECENT, RECENT + 50)])  # a busy second
    recent = activity.recent()
    assert len(recent) == RECENT and recent[0]["path"] == f"/{RECENT + 49}" and recent[-1]["path"] == "/50"
    hours = activity.hourly(0)
    assert hours == [
        {"hour": int(time.time() // 3600), "account": "a@x", "model": "m", "requests": 150, "failures": 0}
        | {"tokens_in": 150, "tokens_out": 300}
    ]


def test_an_unusable_activity_file_loses_only_the_activity(tmp_path, caplog):
    from gateway.activity import ActivityLog
    from gateway.trace import Trace

    blocked = tmp_path / "file"
    blocked.write_text("")
    log = ActivityLog(SqliteActivity(blocked / "a.db"), interval=60)  # its directory is a file
    log.add(Trace("request-1", "POST", GENERATE, model="gemini-2.5-flash", status=200))
    log.flush()
    assert log.recent() == [] and log.hourly(time.time()) == []
    assert "could not record recent requests" in caplog.text


def test_redis_keeps_one_bounded_list_for_every_host(redis_server):
    hosts = [RedisActivity(redis_server.url, prefix="test-console:") for _ in range(2)]
    hosts[0].redis.delete(*hosts[0].redis.keys("test-console:*") or ["none"])
    for number in range(RECENT + 10):
        hosts[number % 2].write([_entry(number)])
    recent = hosts[1].recent()
    assert len(recent) == RECENT and recent[0]["path"] == f"/{RECENT + 9}"
    assert hosts[0].hourly(int(time.time() // 3600) - 23)[0]["requests"] == RECENT + 10


def _entry(number: int) -> dict:
    return {
        "at": time.time(),
        "method": "POST",
        "path": f"/{number}",
        "model": "m",
        "status": 200,
        "account": "a@x",
        "key": "",
        "attempts": 1,
        "duration_ms": 1.0,
        "tokens_in": 1,
        "tokens_out": 2,
    }


def test_viewers_share_one_state_document_a_second_and_an_action_shows_at_once(tmp_path, google):
    from gateway.config import Settings
    from gateway.console.state import SharedState
    from gateway.services import Services

    now = [1_000_000.0]
    gateway = Services(Settings.from_env(gateway_env(google, tmp_path)), clock=lambda: now[0])
    gateway.store.upsert("first@example.com", "rt-1", project="p")
    shared = SharedState()
    first = shared.body(gateway)
    gateway.store.upsert("second@example.com", "rt-2", project="p")  # a change no action recorded
    now[0] += 0.9
    assert shared.body(gateway) == first  # the same document for every refresh within the second
    now[0] += 0.1
    assert b"second@example.com" in shared.body(gateway)
    gateway.store.upsert("third@example.com", "rt-3", project="p")
    gateway.audit.record("cli tester", "accounts add", "third@example.com")  # as every administrative command does
    assert b"third@example.com" in shared.body(gateway)  # no wait for the second to pass
    now[0] -= 60  # the clock went back: not a document from the future
    assert json.loads(shared.body(gateway))["now"] == now[0]


def test_a_cli_action_shows_at_the_consoles_next_refresh(gateway, account):
    session, _ = console_session(gateway)
    assert session.get(gateway.url + "/console/api/state", timeout=10).json()["accounts"][0]["state"] == "active"
    assert gateway.cli("accounts", "disable", account).returncode == 0
    for _ in range(4):  # whichever worker answers
        assert session.get(gateway.url + "/console/api/state", timeout=10).json()["accounts"][0]["state"] == "disabled"
