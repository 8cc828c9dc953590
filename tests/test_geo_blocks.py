"""Geo-blocks: the egress's fault, never the account's; on only to an account that leaves by another egress."""

import itertools
import json

import pytest

from gateway import create_app
from gateway.accounts import geo
from gateway.upstream.errors import BadRequest, GeoBlocked, classify
from tests.conftest import API_KEY, HELLO, accounts_by_email, add_account, gateway_env
from tests.console_helper import console_session
from tests.fake_upstream import GEO_BLOCK_MESSAGE, google_error

FLASH = "/v1beta/models/gemini-2.5-flash:generateContent"


def test_the_answer_is_recognised_and_names_the_egress_settings():
    error = classify(400, json.dumps(google_error(400, GEO_BLOCK_MESSAGE, "FAILED_PRECONDITION")))
    assert isinstance(error, GeoBlocked) and (error.code, error.status) == (400, "FAILED_PRECONDITION")
    assert error.message.startswith(GEO_BLOCK_MESSAGE)
    assert "gateway accounts set --proxy" in error.message
    assert "GATEWAY_UPSTREAM_PROXY" in error.message


def test_the_same_words_with_another_status_are_not_a_geo_block():
    error = classify(400, json.dumps(google_error(400, GEO_BLOCK_MESSAGE, "INVALID_ARGUMENT")))
    assert isinstance(error, BadRequest) and not isinstance(error, GeoBlocked)


def test_with_one_shared_egress_the_client_gets_the_400_at_once(gateway, upstream):
    add_account(gateway, upstream, "a@example.com")
    add_account(gateway, upstream, "b@example.com")
    upstream.geo_blocked.add("*")
    response = gateway.post(FLASH, HELLO)
    error = response.json()["error"]
    assert (response.status_code, error["status"]) == (400, "FAILED_PRECONDITION")
    assert GEO_BLOCK_MESSAGE in error["message"] and "GATEWAY_UPSTREAM_PROXY" in error["message"]
    assert "gateway accounts set --proxy" in error["message"]
    assert len(upstream.calls_to("streamGenerateContent")) == 1  # the other account leaves by the same egress
    rows = accounts_by_email(gateway)
    tried = upstream.calls_to("streamGenerateContent")[0].account
    assert {row["state"] for row in rows.values()} == {"active"}
    assert all(row["cooldowns"] == [] and row["disabled_reason"] == "" for row in rows.values())
    assert rows[tried]["last_geo_block"] is not None
    assert [row["last_geo_block"] for email, row in rows.items() if email != tried] == [None]
    line = next(line for line in gateway.cli("accounts", "list").stdout.splitlines() if tried in line)
    assert f"last_geo_block={rows[tried]['last_geo_block']}" in line
    upstream.geo_blocked.clear()  # another egress now (a VPN switched off): the same accounts serve at once
    assert gateway.post(FLASH, HELLO).status_code == 200


def test_the_console_shows_the_last_geo_block(gateway, upstream, account):
    upstream.geo_blocked.add("*")
    assert gateway.post(FLASH, HELLO).status_code == 400
    session, _ = console_session(gateway)
    [row] = session.get(gateway.url + "/console/api/state", timeout=10).json()["accounts"]
    assert row["last_geo_block"] == accounts_by_email(gateway)[account]["last_geo_block"] is not None
    page = session.get(gateway.url + "/console", timeout=10).text
    assert f'<dd data-field="geo-block">{row["last_geo_block"]}</dd>' in page


def test_claude_models_are_not_geo_blocked(gateway, upstream, account):
    upstream.geo_blocked.add("*")
    assert gateway.post("/v1beta/models/gemini-2.5-flash:generateContent", HELLO).status_code == 400
    assert gateway.post("/v1beta/models/claude-sonnet-4-6:generateContent", HELLO).status_code == 200


@pytest.fixture
def app_client(google, tmp_path):
    app = create_app(gateway_env(google, tmp_path))
    return app, app.test_client()


def test_the_request_goes_on_to_an_account_whose_egress_differs(app_client, upstream, monkeypatch):
    app, client = app_client
    store = app.extensions["gateway"].records
    for email in ("a@example.com", "b@example.com", "c@example.com"):
        upstream.add_account(f"rt-{email}", email)
        store.upsert(email, f"rt-{email}", project="proj-1", tier="free-tier")
    # a and b leave by one proxy, c by another: as `gateway accounts set --proxy` gives them
    egress = {"a@example.com": "http://one:3128", "b@example.com": "http://one:3128", "c@example.com": "socks5://two"}
    monkeypatch.setattr(geo, "egress_of", lambda account, settings: egress[account.email])
    upstream.geo_blocked.update({"a@example.com", "b@example.com"})
    for n in range(4):
        body = {"contents": [{"role": "user", "parts": [{"text": f"Conversation {n} about regions"}]}]}
        response = client.post(FLASH, json=body, headers={"x-goog-api-key": API_KEY})
        assert response.status_code == 200, response.get_json()
    served = [call.account for call in upstream.calls_to("streamGenerateContent")]
    assert served.count("c@example.com") == 4
    behind_one = {"a@example.com", "b@example.com"}
    # after a geo-block behind proxy one, the other account behind it is never tried: c comes next
    assert not [pair for pair in itertools.pairwise(served) if set(pair) <= behind_one]
    assert all(a.enabled for a in store.accounts()) and store.snapshot().cooldowns == {}
