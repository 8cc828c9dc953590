"""The rest of `gateway accounts`: add, login, export, enable/disable/remove, refresh, quota."""

import json
import re
import subprocess
import time
from urllib.parse import parse_qs, urlsplit

import requests

from tests.conftest import GATEWAY_COMMAND, HELLO, accounts_by_email, add_account
from tests.fake_upstream import Reply, iso_after


def test_add_verifies_and_stores(gateway, upstream):
    upstream.add_account("rt-add", "added@example.com", project="proj-add")
    result = gateway.cli("accounts", "add", "--refresh-token", "rt-add")
    assert result.returncode == 0, result.stderr
    assert "added@example.com: active" in result.stdout
    assert accounts_by_email(gateway)["added@example.com"]["project"] == "proj-add"


def test_add_refuses_a_revoked_token_and_stores_nothing(gateway, upstream):
    upstream.add_account("rt-dead", "dead@example.com", revoked=True)
    result = gateway.cli("accounts", "add", "--refresh-token", "rt-dead", "--email", "dead@example.com")
    assert result.returncode != 0 and "invalid or revoked" in result.stderr
    assert accounts_by_email(gateway) == {}


def test_login_with_a_pasted_code(gateway, upstream):
    upstream.add_account("rt-login", "login@example.com")
    upstream.add_code("the-code", "rt-login")
    result = gateway.cli(
        "accounts", "login", "--no-browser", stdin="http://localhost:8085/oauth-callback?code=the-code\n"
    )
    assert result.returncode == 0, result.stderr
    url = re.search(r"https?://\S+", result.stdout).group(0)
    query = parse_qs(urlsplit(url).query)
    assert query["access_type"] == ["offline"] and query["code_challenge_method"] == ["S256"]
    assert "https://www.googleapis.com/auth/cloud-platform" in query["scope"][0].split()
    assert accounts_by_email(gateway)["login@example.com"]["state"] == "active"


def test_login_rejects_a_url_from_another_sign_in(gateway, upstream):
    upstream.add_code("the-code", "rt-x")
    result = gateway.cli(
        "accounts", "login", "--no-browser", stdin="http://localhost:8085/oauth-callback?code=the-code&state=forged\n"
    )
    assert result.returncode != 0 and "state mismatch" in result.stderr


def test_login_through_the_loopback_redirect(gateway, upstream):
    upstream.add_account("rt-loop", "loop@example.com")
    upstream.add_code("loop-code", "rt-loop")
    process = subprocess.Popen(
        [GATEWAY_COMMAND, "accounts", "login"],
        env={**gateway.env, "BROWSER": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = ""
        while not url:
            line = process.stdout.readline()
            assert line, process.stderr.read()
            url = (re.search(r"https?://\S+", line) or [""])[0]
        query = parse_qs(urlsplit(url).query)
        redirect, state = query["redirect_uri"][0], query["state"][0]
        assert redirect.startswith("http://127.0.0.1:")
        page = requests.get(redirect, params={"code": "loop-code", "state": state}, timeout=10)
        assert "Signed in" in page.text
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert accounts_by_email(gateway)["loop@example.com"]["state"] == "active"


def test_export_then_import_gives_the_same_accounts(gateway, upstream, tmp_path):
    for name in ("x", "y"):
        add_account(gateway, upstream, f"{name}@example.com")
    exported = tmp_path / "export.json"
    assert gateway.cli("accounts", "export", "-o", str(exported)).returncode == 0
    assert exported.stat().st_mode & 0o077 == 0
    payload = json.loads(exported.read_text())
    assert payload == {
        "accounts": [
            {"email": "x@example.com", "refresh_token": "rt-x@example.com"},
            {"email": "y@example.com", "refresh_token": "rt-y@example.com"},
        ]
    }
    for email in ("x@example.com", "y@example.com"):
        assert gateway.cli("accounts", "remove", email, "--yes").returncode == 0
    assert accounts_by_email(gateway) == {}
    assert gateway.cli("accounts", "import", str(exported)).returncode == 0
    assert sorted(accounts_by_email(gateway)) == ["x@example.com", "y@example.com"]


def test_disable_enable_remove(gateway, upstream):
    account_id = add_account(gateway, upstream, "d@example.com")
    assert gateway.cli("accounts", "disable", "d@example.com").returncode == 0
    assert accounts_by_email(gateway)["d@example.com"]["state"] == "disabled"
    assert gateway.post("/v1beta/models/gemini-2.5-flash:generateContent", HELLO).status_code == 503
    assert gateway.cli("accounts", "enable", str(account_id)).returncode == 0
    assert gateway.post("/v1beta/models/gemini-2.5-flash:generateContent", HELLO).status_code == 200
    refused = gateway.cli("accounts", "remove", "d@example.com", stdin="n\n")
    assert refused.returncode != 0 and "d@example.com" in accounts_by_email(gateway)
    assert gateway.cli("accounts", "remove", "d@example.com", "--yes").returncode == 0
    assert accounts_by_email(gateway) == {}
    missing = gateway.cli("accounts", "disable", "ghost@example.com")
    assert missing.returncode != 0 and "no account" in missing.stderr


def test_refresh_forces_a_new_token(gateway, upstream):
    add_account(gateway, upstream, "r@example.com")
    for _ in range(2):
        result = gateway.cli("accounts", "refresh", "r@example.com")
        assert result.returncode == 0 and "token valid until" in result.stdout
    assert len(upstream.calls_to("token")) == 2
    upstream.accounts["rt-r@example.com"].revoked = True
    result = gateway.cli("accounts", "refresh")
    assert result.returncode != 0 and "invalid_grant" in result.stdout


def test_quota_fetches_stores_and_shows_bars(gateway, upstream):
    for name in ("q1", "q2"):
        add_account(gateway, upstream, f"{name}@example.com")
    upstream.script(
        "fetchAvailableModels",
        Reply(
            json={
                "models": {"gemini-2.5-flash": {"quotaInfo": {"remainingFraction": 0.0, "resetTime": iso_after(86400)}}}
            }
        ),
        account="q1@example.com",
    )
    result = gateway.cli("accounts", "quota")
    assert result.returncode == 0, result.stderr
    assert "░░░░░░░░░░   0%" in result.stdout and "██████████ 100%" in result.stdout
    assert accounts_by_email(gateway)["q1@example.com"]["quota"]["gemini-2.5-flash"]["remainingFraction"] == 0.0
    # The pool now prefers the account with quota left, even for a conversation sticky to the other one.
    for n in range(6):
        body = {"contents": [{"role": "user", "parts": [{"text": f"quota conversation {n}"}]}]}
        assert gateway.post("/v1beta/models/gemini-2.5-flash:generateContent", body).status_code == 200
    assert {c.account for c in upstream.calls_to("streamGenerateContent")} == {"q2@example.com"}


def test_quota_keeps_the_5_hour_and_weekly_buckets(gateway, upstream):
    add_account(gateway, upstream, "b1@example.com")
    add_account(gateway, upstream, "b2@example.com")  # its endpoint knows no summary (404): buckets stay empty
    reset = iso_after(5 * 3600)
    buckets = [
        {"bucketId": "b", "window": "5h", "remainingFraction": 0.25, "resetTime": reset},
        {"bucketId": "w", "window": "weekly", "remainingFraction": 0.75, "displayName": "Weekly"},
        {"bucketId": "x", "window": "5h"},  # no fraction: nothing to draw
    ]
    summary = {"groups": [{"displayName": "Gemini Pro", "description": "d", "buckets": buckets}, "junk"]}
    upstream.script("retrieveUserQuotaSummary", Reply(json=summary), account="b1@example.com")
    result = gateway.cli("accounts", "quota")
    assert result.returncode == 0, result.stderr
    assert "Gemini Pro (5h)" in result.stdout and "Gemini Pro (weekly)" in result.stdout
    listed = accounts_by_email(gateway)
    assert listed["b1@example.com"]["quota_groups"] == [
        {
            "displayName": "Gemini Pro",
            "buckets": [
                {"window": "5h", "remainingFraction": 0.25, "resetTime": reset},
                {"window": "weekly", "remainingFraction": 0.75, "displayName": "Weekly"},
            ],
        }
    ]
    assert listed["b2@example.com"]["quota_groups"] == [] and listed["b2@example.com"]["quota"]
    assert upstream.calls_to("retrieveUserQuotaSummary", "b1@example.com")[0].body == {"project": "proj-1"}


def test_list_table_shows_state_quota_and_usage(gateway, upstream):
    add_account(gateway, upstream, "t@example.com")
    gateway.cli("accounts", "quota")
    gateway.post("/v1beta/models/gemini-2.5-flash:generateContent", HELLO)
    time.sleep(1.5)  # usage is written within a second
    table = gateway.cli("accounts", "list").stdout
    assert "t@example.com  active" in table and "requests=1" in table and "gemini-2.5-flash" in table
