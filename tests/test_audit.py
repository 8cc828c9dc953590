"""The audit log: the real CLI and the console over HTTP record each administrative action, nothing secret."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest

from gateway import audit
from gateway.audit import AuditLog, RedisAudit, SqliteAudit
from gateway.clock import SYSTEM_CLOCK
from tests.conftest import API_KEY, add_account
from tests.console_helper import console_session, page_token


@pytest.fixture(scope="module")
def audited(own_gateway):
    """A gateway of this module's own, so its audit log holds only what these tests did."""
    return own_gateway("audit")


def audit_log(gateway, *options: str) -> list[dict]:
    done = gateway.cli("audit", "--json", *options)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_cli_actions_are_recorded_newest_first(audited, upstream, tmp_path):
    me = f"cli {getpass.getuser()}"
    upstream.add_account("rt-audit-1", "one@example.com")
    upstream.add_account("rt-audit-2", "two@example.com")
    (tmp_path / "export.json").write_text(json.dumps([{"email": "two@example.com", "refresh_token": "rt-audit-2"}]))
    created = audited.cli("keys", "create", "team-audit", "--json")
    steps = [
        ("accounts", "add", "--refresh-token", "rt-audit-1", "--email", "one@example.com"),
        ("accounts", "import", str(tmp_path / "export.json")),
        ("accounts", "disable", "one@example.com"),
        ("accounts", "enable", "one@example.com"),
        ("accounts", "remove", "two@example.com", "--yes"),
        ("keys", "revoke", "team-audit", "--yes"),
    ]
    for step in steps:
        done = audited.cli(*step)
        assert done.returncode == 0, done.stderr
    entries = audit_log(audited)
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        (me, "keys revoke", "team-audit"),
        (me, "accounts remove", "two@example.com"),
        (me, "accounts enable", "one@example.com"),
        (me, "accounts disable", "one@example.com"),
        (me, "accounts import", "two@example.com"),
        (me, "accounts add", "one@example.com"),
        (me, "keys create", "team-audit"),
    ]
    assert all(set(e) == {"time", "actor", "action", "target"} and e["time"].endswith("+00:00") for e in entries)
    assert audit_log(audited, "--limit", "2") == entries[:2]
    stored = b"".join(path.read_bytes() for path in Path(audited.env["GATEWAY_DATA_DIR"]).glob("gateway.activity.db*"))
    text = audited.cli("audit").stdout + json.dumps(entries) + stored.decode("latin-1")
    secret = json.loads(created.stdout)["key"]
    assert all(s not in text for s in (secret, "rt-audit-1", "rt-audit-2", API_KEY))


def test_console_buttons_are_recorded_with_the_address(audited, upstream):
    account_id = add_account(audited, upstream, "console@example.com")
    session, _ = console_session(audited)
    headers = {"X-CSRF-Token": page_token(session, audited), "Accept": "application/json"}
    for action in ("disable", "enable"):
        answer = session.post(f"{audited.url}/console/api/accounts/{account_id}/{action}", headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
    forwarded = {**headers, "X-Forwarded-For": "203.0.113.40"}  # through nginx on this host (a trusted proxy)
    session.post(f"{audited.url}/console/api/accounts/{account_id}/disable", headers=forwarded, timeout=10)
    newest = [(e["actor"], e["action"], e["target"]) for e in audit_log(audited, "--limit", "3")]
    assert newest == [
        ("console 203.0.113.40", "accounts disable", "console@example.com"),
        ("console 127.0.0.1", "accounts enable", "console@example.com"),
        ("console 127.0.0.1", "accounts disable", "console@example.com"),
    ]


@pytest.mark.parametrize("shared", ["sqlite", "redis"])
def test_the_log_keeps_the_last_entries(request, tmp_path, monkeypatch, shared):
    monkeypatch.setattr(audit, "KEEP", 3)
    now = [SYSTEM_CLOCK()]
    if shared == "redis":
        backend = RedisAudit(
            request.getfixturevalue("redis_server").url, lambda: now[0], key=f"audit-test:{tmp_path.name}"
        )
    else:
        backend = SqliteAudit(tmp_path / "activity.db", lambda: now[0])
    log = AuditLog(backend)
    for n in range(5):
        now[0] += 1
        log.record("cli root", "accounts disable", f"a{n}@example.com")
    assert [e["target"] for e in log.newest(50)] == ["a4@example.com", "a3@example.com", "a2@example.com"]


def test_an_unwritable_log_never_fails_the_action(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    log = AuditLog(SqliteAudit(blocked / "activity.db", lambda: 0.0))
    log.record("cli root", "accounts enable", "x@example.com")
    assert log.newest(5) == []
