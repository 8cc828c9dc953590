"""`gateway accounts import` of what Google or the file refuses: nothing stored unless asked, and a message
that says why and where (the OAuth client's variables, the entry, the line and column)."""

import json

import pytest

from tests.conftest import accounts_by_email
from tests.fake_upstream import GEMINI_CLI_CLIENT, OAUTH_CLIENTS
from tests.test_accounts_cli import write
from tests.test_cli import one_line_error

GEMINI_CLI = {
    "GATEWAY_OAUTH_CLIENT_ID": GEMINI_CLI_CLIENT,
    "GATEWAY_OAUTH_CLIENT_SECRET": OAUTH_CLIENTS[GEMINI_CLI_CLIENT],
}


def test_a_refused_token_is_not_stored_and_the_message_says_so(gateway, upstream, tmp_path):
    upstream.add_account("rt-dead", "dead@example.com", revoked=True)
    source = write(tmp_path / "a.json", [{"email": "dead@example.com", "refresh_token": "rt-dead"}])
    result = gateway.cli("accounts", "import", source)
    assert "dead@example.com: not stored: invalid_grant" in result.stdout and "--keep-disabled" in result.stdout
    assert one_line_error(result) == "Error: no account could be activated; nothing was stored"
    assert accounts_by_email(gateway) == {}
    kept = gateway.cli("accounts", "import", "--keep-disabled", source)
    assert one_line_error(kept).endswith("1 stored disabled (`gateway accounts list` shows why)")
    assert accounts_by_email(gateway)["dead@example.com"]["state"] == "disabled"


def test_a_gemini_cli_token_names_the_oauth_client_variables(gateway, upstream, tmp_path):
    upstream.add_account("rt-cli", "cli@example.com", client=GEMINI_CLI_CLIENT)
    source = write(tmp_path / "oauth_creds.json", {"refresh_token": "rt-cli", "token_type": "Bearer"})
    refused = gateway.cli("accounts", "import", source)
    assert refused.returncode == 1 and "unauthorized_client" in refused.stdout
    assert "gemini-cli's client" in refused.stdout
    assert "GATEWAY_OAUTH_CLIENT_ID and GATEWAY_OAUTH_CLIENT_SECRET" in refused.stdout
    assert accounts_by_email(gateway) == {}
    accepted = gateway.cli("accounts", "import", source, **GEMINI_CLI)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "cli@example.com: active" in accepted.stdout


def test_a_wrong_client_secret_names_the_oauth_client_variables(gateway, upstream, tmp_path):
    upstream.add_account("rt-1", "one@example.com")
    source = write(tmp_path / "a.json", [{"email": "one@example.com", "refresh_token": "rt-1"}])
    result = gateway.cli("accounts", "import", source, GATEWAY_OAUTH_CLIENT_SECRET="GOCSPX-not-this-one")
    assert "invalid_client" in result.stdout
    assert "GATEWAY_OAUTH_CLIENT_ID and GATEWAY_OAUTH_CLIENT_SECRET" in result.stdout
    assert "GOCSPX-not-this-one" not in result.stdout + result.stderr
    assert one_line_error(result) == "Error: no account could be activated; nothing was stored"


@pytest.mark.parametrize(
    ("entries", "named"),
    [
        ([{"email": "a@example.com", "refresh_token": "rt-a"}, {"email": "b@example.com"}], "entry 2 (b@example.com)"),
        ([{"email": "a@example.com", "refresh_token": "rt-a"}, {"token": {}}], "entry 2 has"),
        ([{"email": "a@example.com", "refresh_token": "rt-a"}, 7], "entry 2 has"),
    ],
)
def test_an_entry_without_a_token_is_named(gateway, tmp_path, entries, named):
    source = write(tmp_path / "a.json", {"accounts": entries})
    line = one_line_error(gateway.cli("accounts", "import", source))
    assert f"{source}: {named}" in line and "no refresh_token" in line
    assert accounts_by_email(gateway) == {}


def test_a_json_error_gives_its_line_and_column(gateway, tmp_path):
    text = json.dumps({"accounts": [{"email": "a@example.com", "refresh_token": "rt-a"}]}, indent=2)
    source = tmp_path / "a.json"
    source.write_text(text.replace('"rt-a"', '"rt-a",'))  # a trailing comma on line 5: the parser stops at line 6
    line = one_line_error(gateway.cli("accounts", "import", str(source)))
    assert f"{source} is not JSON (line 6, column 5: Expecting property name enclosed in double quotes)" in line
