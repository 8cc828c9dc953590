"""Which database the `gateway` command uses: it reads only one that exists, and says when it starts a new one."""

import pytest

from tests.test_cli import one_line_error, run

READERS = [
    ("accounts", "list"),
    ("accounts", "list", "--json"),
    ("accounts", "export"),
    ("accounts", "quota"),
    ("accounts", "refresh"),
    ("accounts", "enable", "someone@example.com"),
    ("accounts", "remove", "someone@example.com", "--yes"),
    ("keys", "list"),
    ("keys", "revoke", "team", "--yes"),
]


@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_a_command_that_reads_never_creates_a_database(tmp_path, command):
    """Run as the service user without --env-file, it would otherwise read (and later fill) a second, empty
    database in that user's HOME and say "no accounts"."""
    data_dir = tmp_path / "data"
    line = one_line_error(run(*command, env={"GATEWAY_DATA_DIR": str(data_dir)}))
    assert f"no database at {data_dir / 'gateway.db'}" in line
    assert "--env-file" in line and "GATEWAY_DATA_DIR" in line
    assert not data_dir.exists()


def test_the_missing_database_names_the_variable_that_chose_it(tmp_path):
    database = tmp_path / "state.db"
    line = one_line_error(run("accounts", "list", env={"GATEWAY_STATE_URL": f"sqlite:///{database}"}))
    assert f"no database at {database}" in line and "GATEWAY_STATE_URL" in line
    assert not database.exists()


def test_a_command_that_writes_says_once_that_it_created_a_database(tmp_path):
    env = {"GATEWAY_DATA_DIR": str(tmp_path / "data")}
    database = tmp_path / "data" / "gateway.db"
    first = run("keys", "create", "alice", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines() == [f"created a new database at {database}"]
    assert database.is_file()
    second = run("keys", "create", "bob", env=env)
    assert second.returncode == 0 and second.stderr == "", second.stderr
    listed = run("keys", "list", env=env)
    assert listed.returncode == 0 and "alice" in listed.stdout and "bob" in listed.stdout, listed.stderr


@pytest.mark.parametrize("command", [("accounts", "list"), ("keys", "create", "alice")], ids=" ".join)
def test_a_data_dir_that_is_a_file_is_not_a_directory(tmp_path, command):
    (tmp_path / "a-file").write_text("")
    line = one_line_error(run(*command, env={"GATEWAY_DATA_DIR": str(tmp_path / "a-file")}))
    assert line == f"Error: GATEWAY_DATA_DIR: {tmp_path / 'a-file'} is not a directory"
