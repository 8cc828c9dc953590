"""`gateway accounts import` and `list`, against the fake Google."""

import json
import os
import stat
import time

import pytest

from tests.conftest import HELLO, accounts_by_email, add_account
from tests.fake_upstream import Reply


def write(path, payload) -> str:
    path.write_text(json.dumps(payload))
    return str(path)


def test_import_export_format_verifies_and_activates(gateway, upstream, tmp_path):
    upstream.add_account("rt-1", "one@example.com", project="proj-one")
    upstream.add_account("rt-2", "two@example.com", project="proj-two", tier="standard-tier")
    source = write(
        tmp_path / "export.json",
        {
            "accounts": [
                {"email": "one@example.com", "refresh_token": "rt-1"},
                {"email": "two@example.com", "refresh_token": "rt-2"},
            ]
        },
    )
    result = gateway.cli("accounts", "import", source)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and all("active" in line for line in lines)
    rows = accounts_by_email(gateway)
    assert rows["one@example.com"]["state"] == "active" and rows["one@example.com"]["project"] == "proj-one"
    assert rows["two@example.com"]["tier"] == "standard-tier"
    assert "gemini-2.5-flash" in rows["one@example.com"]["quota"]
    # The running gateway serves from them without a restart.
    assert gateway.post("/v1beta/models/gemini-2.5-flash:generateContent", HELLO).status_code == 200


def test_import_bare_list_looks_up_missing_emails(gateway, upstream, tmp_path):
    upstream.add_account("rt-x", "looked-up@example.com")
    result = gateway.cli("accounts", "import", write(tmp_path / "list.json", [{"refresh_token": "rt-x"}]))
    assert result.returncode == 0, result.stderr
    assert "looked-up@example.com" in result.stdout
    assert accounts_by_email(gateway)["looked-up@example.com"]["state"] == "active"


def test_import_antigravity_manager_data_folder(gateway, upstream, tmp_path):
    upstream.add_account("rt-am", "am@example.com", project="proj-am")
    (tmp_path / "accounts").mkdir()
    write(tmp_path / "accounts.json", {"version": "2.0", "accounts": [{"id": "u1", "email": "am@example.com"}]})
    write(
        tmp_path / "accounts" / "u1.json",
        {
            "id": "u1",
            "email": "am@example.com",
            "token": {"access_token": "old", "refresh_token": "rt-am", "expires_in": 3599, "expiry_timestamp": 1},
        },
    )
    result = gateway.cli("accounts", "import", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert accounts_by_email(gateway)["am@example.com"]["project"] == "proj-am"


def test_import_onboards_a_new_free_tier_account(gateway, upstream, tmp_path):
    upstream.add_account("rt-new", "new@example.com", project="proj-new", onboarded=False)
    result = gateway.cli(
        "accounts", "import", write(tmp_path / "a.json", [{"email": "new@example.com", "refresh_token": "rt-new"}])
    )
    assert result.returncode == 0, result.stderr
    assert accounts_by_email(gateway)["new@example.com"]["project"] == "proj-new"
    [onboard] = upstream.calls_to("onboardUser")
    assert onboard.body["tierId"] == "free-tier" and "cloudaicompanionProject" not in onboard.body


def test_revoked_token_is_stored_disabled_with_the_reason_when_asked(gateway, upstream, tmp_path):
    upstream.add_account("rt-ok", "ok@example.com")
    upstream.add_account("rt-dead", "dead@example.com", revoked=True)
    result = gateway.cli(
        "accounts",
        "import",
        "--keep-disabled",
        write(
            tmp_path / "a.json",
            [
                {"email": "ok@example.com", "refresh_token": "rt-ok"},
                {"email": "dead@example.com", "refresh_token": "rt-dead"},
            ],
        ),
    )
    assert result.returncode == 0, result.stderr
    assert "invalid_grant" in result.stdout
    rows = accounts_by_email(gateway)
    assert rows["dead@example.com"]["state"] == "disabled"
    assert "invalid_grant" in rows["dead@example.com"]["disabled_reason"]
    assert rows["ok@example.com"]["state"] == "active"


def test_reimport_updates_instead_of_duplicating(gateway, upstream, tmp_path):
    upstream.add_account("rt-1", "one@example.com")
    source = write(tmp_path / "a.json", [{"email": "one@example.com", "refresh_token": "rt-1"}])
    gateway.cli("accounts", "import", source)
    gateway.cli("accounts", "import", source)
    assert list(accounts_by_email(gateway)) == ["one@example.com"]


def test_list_never_prints_a_token(gateway, upstream, tmp_path):
    upstream.add_account("rt-secret-value", "s@example.com")
    gateway.cli(
        "accounts",
        "import",
        write(tmp_path / "a.json", [{"email": "s@example.com", "refresh_token": "rt-secret-value"}]),
    )
    assert gateway.post("/v1beta/models/gemini-2.5-flash:generateContent", HELLO).status_code == 200
    for args in (("accounts", "list"), ("accounts", "list", "--json")):
        output = gateway.cli(*args).stdout
        assert "s@example.com" in output
        assert "rt-secret-value" not in output and "ya29." not in output
    row = accounts_by_email(gateway)["s@example.com"]
    assert {"email", "state", "disabled_reason", "project", "tier", "cooldowns"} <= set(row)


def test_database_is_private(gateway):
    mode = stat.S_IMODE(os.stat(gateway.store.path).st_mode)
    assert mode & 0o077 == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("not json at all", "is not JSON"),
        ('{"accounts": [{"email": "x@example.com"}]}', "no refresh_token"),
        ("42", "no refresh_token"),
    ],
)
def test_bad_import_files_say_what_is_accepted(gateway, tmp_path, content, message):
    path = tmp_path / "in.json"
    if content is not None:
        path.write_text(content)
    result = gateway.cli("accounts", "import", str(path))
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_token_endpoint_is_reported(gateway, tmp_path):
    source = write(tmp_path / "a.json", [{"email": "x@example.com", "refresh_token": "rt"}])
    result = gateway.cli("accounts", "import", source, GATEWAY_OAUTH_TOKEN_URL="http://127.0.0.1:9/token")
    assert result.returncode != 0
    assert "unreachable" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_usage_is_recorded_per_account_and_model(gateway, upstream):
    add_account(gateway, upstream, "u@example.com")
    upstream.script("streamGenerateContent", Reply(status=400, json={"error": {"code": 400, "message": "bad"}}))
    assert gateway.post("/v1beta/models/gemini-2.5-flash:generateContent", HELLO).status_code == 400
    for path in (":generateContent", ":streamGenerateContent?alt=sse"):
        assert gateway.post("/v1beta/models/gemini-2.5-flash" + path, HELLO).status_code == 200
    deadline = time.monotonic() + 10  # workers write their counts within a second or so
    usage = {}
    while time.monotonic() < deadline and usage.get("requests", 0) < 3:
        time.sleep(0.2)
        usage = accounts_by_email(gateway)["u@example.com"]["usage"].get("gemini-2.5-flash", {})
    assert usage["requests"] == 3
    assert usage["failures"] == {"400": 1} and usage["last_error"] == "400: bad"
    assert usage["tokens_in"] == 6 and usage["tokens_out"] == 4
