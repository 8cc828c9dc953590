"""What the gateway's modules log during a `gateway` command: never the server's JSON lines on stderr, only
the one error line, and with --verbose that line followed by plain text."""

from gateway.accounts.store import Store
from tests.conftest import add_account
from tests.disks import make_read_only, tmpfs
from tests.test_cli import one_line_error, run


def plain_lines_below_an_error(stderr: str) -> list[str]:
    first, *rest = stderr.splitlines()
    assert first.startswith("Error: "), stderr
    assert rest and all(line.startswith("  ") and "{" not in line for line in rest), stderr
    return rest


def test_a_revoked_account_refresh_is_one_line_under_its_report(gateway, upstream):
    add_account(gateway, upstream, "gone@example.com")
    upstream.accounts["rt-gone@example.com"].revoked = True
    result = gateway.cli("accounts", "refresh", "gone@example.com")
    assert "gone@example.com: refresh failed (invalid_grant" in result.stdout
    assert one_line_error(result) == "Error: accounts not refreshed: 1 of 1"
    gateway.cli("accounts", "enable", "gone@example.com")
    verbose = gateway.cli("-v", "accounts", "refresh", "gone@example.com")
    assert any("invalid_grant" in line for line in plain_lines_below_an_error(verbose.stderr)), verbose.stderr


def test_an_unwritable_data_dir_is_one_line_and_plain_text_below_it_when_asked(tmp_path):
    with tmpfs(tmp_path / "disk") as mount:
        Store(mount / "gateway.db").connect().close()
        make_read_only(mount)
        env = {"GATEWAY_DATA_DIR": str(mount)}
        for command in (("accounts", "list"), ("accounts", "quota")):
            assert str(mount / "gateway.db") in one_line_error(run(*command, env=env))
        verbose = run("--verbose", "accounts", "list", env=env)
        assert verbose.returncode != 0
        assert any(str(mount) in line for line in plain_lines_below_an_error(verbose.stderr))
