"""GET /healthz: always 200 while the process serves; "degraded", with the reason, when it cannot serve well."""

import json
import sqlite3
import time

import pytest
from flask import Flask

from gateway import create_app
from gateway.accounts.failsoft import FailSoft
from gateway.accounts.store import Store
from tests.conftest import HELLO, add_account, gateway_env, running_gateway
from tests.disks import fill, tmpfs

GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"


def health(gateway) -> dict:
    response = gateway.get("/healthz", key=None)
    assert response.status_code == 200
    return response.json()


def test_no_account_configured_is_degraded(gateway):
    body = health(gateway)
    assert body["status"] == "degraded" and body["accounts"] == {"usable": 0, "cooling": 0, "disabled": 0}
    assert "no account" in body["reason"] and "gateway accounts import" in body["reason"]


@pytest.mark.parametrize("how", ["disabled", "cooling"])
def test_no_account_that_can_serve_is_degraded(gateway, upstream, how):
    for email in ("x@example.com", "y@example.com"):
        account_id = add_account(gateway, upstream, email)
        if how == "disabled":
            gateway.store.update(account_id, enabled=0, disabled_reason="test")
        else:
            gateway.store.set_cooldown(account_id, "gemini-2.5-flash", 60, "RATE_LIMIT_EXCEEDED")
    body = health(gateway)
    assert body["status"] == "degraded" and body["accounts"][how] == 2
    assert f"2 {'cooling down' if how == 'cooling' else 'disabled'}" in body["reason"]


def test_one_account_that_can_serve_is_ok(gateway, account):
    body = health(gateway)
    assert body["status"] == "ok" and "reason" not in body and body["accounts"]["usable"] == 1


def test_a_disk_that_fills_up_degrades_health_and_requests_are_still_served(google, upstream, tmp_path):
    with tmpfs(tmp_path / "disk") as mount:
        # The database on the small disk, the log beside the test (a full disk would swallow it).
        env = gateway_env(google, tmp_path, GATEWAY_STATE_URL=f"sqlite:///{mount}/gateway.db")
        with running_gateway(env) as gateway:
            gateway.store = Store(mount / "gateway.db")
            add_account(gateway, upstream, "full@example.com")  # no access token yet: serving it stores one
            assert health(gateway)["status"] == "ok"
            fill(mount)
            for _ in range(4):
                assert gateway.post(GENERATE, HELLO).status_code == 200
            body = health(gateway)
            assert body["status"] == "degraded" and str(mount) not in body["reason"]  # public: no path
            assert "no space left" in body["reason"] or "full" in body["reason"]
            time.sleep(1.5)  # the usage flush fails too: still no error for anyone
            assert gateway.post(GENERATE, HELLO).status_code == 200
    log = gateway.log_lines()
    failures = [line["message"] for line in log if line["level"] == "error"]
    assert failures and all(str(mount) in message for message in failures), failures  # the path: in the log
    assert not [line for line in log if "exception" in line or line.get("status") == 500]


def test_a_database_that_cannot_be_opened_is_degraded_never_a_500(tmp_path, capfd):
    (tmp_path / "gateway.db").mkdir()  # no database can be opened where a directory stands
    app = create_app({"GATEWAY_DATA_DIR": str(tmp_path), "GATEWAY_AUTH_MODE": "off"}).test_client()
    body = app.get("/healthz").get_json()
    assert body["status"] == "degraded" and "account database" in body["reason"]
    assert str(tmp_path) not in json.dumps(body)  # /healthz is public: the path goes to the log line only
    assert str(tmp_path / "gateway.db") in capfd.readouterr().err  # the gateway's log lines go to stderr
    response = app.post(GENERATE, json=HELLO)
    assert response.status_code == 503 and response.get_json()["error"]["status"] == "UNAVAILABLE"


def test_writes_refused_during_a_request_are_kept_in_memory_and_raise_elsewhere(tmp_path):
    with tmpfs(tmp_path / "disk") as mount:
        created = Store(mount / "gateway.db")
        account_id = created.upsert("m@example.com", "rt-m").id
        created.close()
        store = FailSoft(Store(mount / "gateway.db"))
        assert [a.email for a in store.snapshot().accounts] == ["m@example.com"]
        fill(mount)
        with pytest.raises(sqlite3.OperationalError):
            store.update(account_id, access_token="outside")  # the CLI must hear of it
        with Flask(__name__).test_request_context():
            store.update(account_id, access_token="fresh", token_expiry=time.time() + 3600)
            store.set_cooldown(account_id, "m", 60, "x")
            assert store.try_lock_refresh(account_id, 30)
        assert "full" in store.problem and str(mount) not in store.problem  # /healthz shows it: no path
        assert store.get(account_id).access_token == "fresh"
        assert store.snapshot().accounts[0].access_token == "fresh"
        (mount / "filler").unlink()  # room again: the next write lands, and the gateway is healthy again
        store.update(account_id, access_token="stored")
        assert store.problem == "" and store.get(account_id).access_token == "stored"
        assert Store(mount / "gateway.db").get(account_id).access_token == "stored"
        store.store.close()
