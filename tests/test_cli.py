"""The `gateway` command itself: its help, version, --env-file, and one line for every failure."""

import configparser
import json
import os
import subprocess
import time

import pytest

import gateway
from gateway.accounts.store import Store
from gateway.envfile import parse_env, read_env_file
from tests.conftest import GATEWAY_COMMAND, ROOT, add_account
from tests.disks import fill, make_read_only, tmpfs


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 60):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return subprocess.run(
        [GATEWAY_COMMAND, *args],
        env={**clean, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The failure's stderr, checked to be one line and no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_help_shows_only_the_gateways_own_commands():
    result = run("--help")
    assert result.returncode == 0
    assert "accounts" in result.stdout and "--env-file" in result.stdout and "--version" in result.stdout
    for flask_part in ("run", "shell", "routes", "--debug", "--app"):
        assert flask_part not in result.stdout, flask_part
    accounts = run("accounts", "--help").stdout
    for command in ("import", "add", "login", "list", "export", "enable", "disable", "remove", "quota", "refresh"):
        assert f"  {command} " in accounts, command


def test_version_is_the_packages_one():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"gateway {gateway.__version__}"
    assert gateway.__version__ == "0.2.0"
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert setup["metadata"]["version"] == "attr: gateway.__version__"  # one source, no second copy


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"GATEWAY_STATE_URL": "mysql://x"}, "GATEWAY_STATE_URL"),
        ({"GATEWAY_WORKERS": "abc"}, "GATEWAY_WORKERS"),
        ({"GATEWAY_AUTH_MODE": "bogus"}, "GATEWAY_AUTH_MODE"),
    ],
)
def test_a_bad_setting_is_one_line(tmp_path, env, named):
    line = one_line_error(run("accounts", "list", env={"GATEWAY_DATA_DIR": str(tmp_path), **env}))
    assert named in line


@pytest.mark.parametrize(
    ("typo", "meant"), [("GATEWAY_API_KYE", "GATEWAY_API_KEY"), ("GATEWAY_WORKER", "GATEWAY_WORKERS")]
)
def test_a_misspelt_variable_is_one_line_naming_the_nearest(tmp_path, typo, meant):
    from_env = one_line_error(run("accounts", "list", env={"GATEWAY_DATA_DIR": str(tmp_path), typo: "4"}))
    env_file = tmp_path / "gateway.env"
    env_file.write_text(f"{typo}=4\n")
    from_file = one_line_error(
        run("--env-file", str(env_file), "keys", "list", env={"GATEWAY_DATA_DIR": str(tmp_path)})
    )
    for line in (from_env, from_file):
        assert f"{typo} is not a setting" in line and f"did you mean {meant}?" in line


def test_bad_arguments_are_one_line():
    assert "Missing command" in one_line_error(run())
    assert "bogus" in one_line_error(run("accounts", "bogus"))
    assert "--nope" in one_line_error(run("accounts", "list", "--nope"))


def test_a_data_dir_that_cannot_be_created_is_one_line(tmp_path):
    (tmp_path / "a-file").write_text("")
    line = one_line_error(run("accounts", "list", env={"GATEWAY_DATA_DIR": str(tmp_path / "a-file" / "d")}))
    assert "GATEWAY_DATA_DIR" in line and str(tmp_path / "a-file" / "d") in line


def test_a_full_disk_is_one_line_naming_the_database(tmp_path):
    with tmpfs(tmp_path / "disk") as mount:
        store = Store(mount / "gateway.db")
        store.upsert("f@example.com", "rt-f", enabled=0)
        store.close()
        fill(mount)
        line = one_line_error(run("accounts", "enable", "f@example.com", env={"GATEWAY_DATA_DIR": str(mount)}))
        assert str(mount / "gateway.db") in line and "full" in line


def test_a_read_only_data_dir_is_one_line_naming_the_database(tmp_path):
    with tmpfs(tmp_path / "disk") as mount:
        env = {"GATEWAY_DATA_DIR": str(mount)}
        Store(mount / "gateway.db").connect().close()
        make_read_only(mount)
        line = one_line_error(run("accounts", "disable", "nobody@example.com", env=env))
        assert str(mount / "gateway.db") in line


def test_env_file_gives_the_cli_the_services_settings(gateway, upstream, tmp_path):
    add_account(gateway, upstream, "env@example.com")
    env_file = tmp_path / "gateway.env"
    env_file.write_text(
        "# the service's settings\n"
        f"GATEWAY_DATA_DIR={gateway.env['GATEWAY_DATA_DIR']}\n"
        f'GATEWAY_OAUTH_TOKEN_URL="{gateway.env["GATEWAY_OAUTH_TOKEN_URL"]}"\n'
        f"GATEWAY_UPSTREAM_URLS='{gateway.env['GATEWAY_UPSTREAM_URLS']}'\n"
    )
    # Nothing in the environment points at the gateway's data: only the file does, and it wins.
    listed = run("--env-file", str(env_file), "accounts", "list", "--json", env={"GATEWAY_DATA_DIR": "/nonexistent"})
    assert listed.returncode == 0, listed.stderr
    assert [row["email"] for row in json.loads(listed.stdout)] == ["env@example.com"]
    refreshed = run("-e", str(env_file), "accounts", "refresh", "env@example.com")
    assert refreshed.returncode == 0 and "token valid until" in refreshed.stdout, refreshed.stderr


def test_an_unreadable_env_file_is_one_line(tmp_path):
    line = one_line_error(run("--env-file", str(tmp_path / "missing.env"), "accounts", "list"))
    assert str(tmp_path / "missing.env") in line
    bad = tmp_path / "bad.env"
    bad.write_text("GATEWAY_STATE_URL=mysql://x\n")
    assert "GATEWAY_STATE_URL" in one_line_error(run("--env-file", str(bad), "accounts", "list"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A=1\nB=2", {"A": "1", "B": "2"}),
        ("# comment\n; comment too\n\nA=1\n", {"A": "1"}),
        ("  A = spaced value  \n", {"A": "spaced value"}),
        ('A="quoted # not a comment"  \n', {"A": "quoted # not a comment"}),
        ("A='single $HOME \\n'\n", {"A": "single $HOME \\n"}),
        ('A="esc \\" \\$ \\\\ \\n"\n', {"A": 'esc " $ \\ \\n'}),
        ('A="two\nlines"\n', {"A": "two\nlines"}),
        ("A=joined\\\nline\n", {"A": "joinedline"}),
        ("A=value # kept\n", {"A": "value # kept"}),
        ("A=a'b'c\n", {"A": "a'b'c"}),
        ("A=\n", {"A": ""}),
        ("A=1\r\nB=2\r\n", {"A": "1", "B": "2"}),
        ("no equals here\nA=1\n", {"A": "1"}),
        ("export A=1\n1BAD=2\nGOOD_1=3\n", {"GOOD_1": "3"}),
        ("A=first\nA=second\n", {"A": "second"}),
        ("# ends with a backslash \\\nA=1\n", {"A": "1"}),
    ],
)
def test_env_file_is_read_as_systemd_reads_it(tmp_path, text, expected):
    path = tmp_path / "f.env"
    path.write_text(text)
    assert read_env_file(path) == expected


def test_env_file_order_is_kept():
    assert [name for name, _ in parse_env("B=1\nA=2\n")] == ["B", "A"]


def test_importing_an_empty_list_says_the_file_holds_no_accounts(gateway, tmp_path):
    for payload in ([], {"accounts": []}):
        source = tmp_path / "empty.json"
        source.write_text(json.dumps(payload))
        line = one_line_error(gateway.cli("accounts", "import", str(source)))
        assert "holds no accounts" in line and str(source) in line


def test_removing_an_unknown_account_says_so_before_asking(gateway):
    result = gateway.cli("accounts", "remove", "nobody@example.com", stdin="")
    line = one_line_error(result)
    assert "no account 'nobody@example.com'" in line and "Forget" not in result.stdout + result.stderr


def test_removing_asks_first_and_names_the_account(gateway, upstream):
    add_account(gateway, upstream, "rm@example.com")
    kept = gateway.cli("accounts", "remove", "rm@example.com", stdin="n\n")
    assert kept.returncode != 0 and "Forget rm@example.com" in kept.stdout
    assert gateway.store.find("rm@example.com") is not None
    assert gateway.cli("accounts", "remove", "rm@example.com", stdin="y\n").returncode == 0
    assert gateway.store.find("rm@example.com") is None


@pytest.mark.parametrize("command", ["quota", "refresh"])
def test_quota_and_refresh_without_accounts_say_so(gateway, upstream, command):
    assert "no accounts" in one_line_error(gateway.cli("accounts", command))
    account_id = add_account(gateway, upstream, "off@example.com")
    gateway.store.update(account_id, enabled=0, disabled_reason="test")
    assert "no enabled account" in one_line_error(gateway.cli("accounts", command))


def headless(gateway, browser: str) -> dict[str, str]:
    # No display: no graphical browser is found; BROWSER names the only one webbrowser may try.
    return {"BROWSER": browser, "DISPLAY": "", "WAYLAND_DISPLAY": ""}


def test_login_without_a_browser_points_to_no_browser(gateway):
    started = time.monotonic()
    result = gateway.cli("accounts", "login", **headless(gateway, "false"))
    assert "--no-browser" in one_line_error(result)
    assert time.monotonic() - started < 30  # at once, not after the sign-in wait


def test_login_gives_up_after_its_timeout(gateway):
    started = time.monotonic()
    result = gateway.cli("accounts", "login", "--timeout", "2", **headless(gateway, "true"))
    line = one_line_error(result)
    assert "within 2 s" in line and "--no-browser" in line
    assert 2 <= time.monotonic() - started < 30
