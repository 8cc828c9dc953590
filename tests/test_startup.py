"""The server's start: every bad setting stops it with one line before gunicorn binds; one line says it is up."""

import json
import subprocess
import sys

import pytest

from tests.conftest import API_KEY, HELLO, ROOT, add_account, free_port, gateway_env, running_gateway, start_gateway
from tests.disks import fill, make_read_only, tmpfs

GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"


def start_refused(env: dict[str, str]) -> str:
    """Run `gunicorn -c gunicorn.conf.py`, expecting a refusal: its stderr, checked to be one clean line."""
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
        env={"GATEWAY_BIND": f"127.0.0.1:{free_port()}", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output and "Listening at" not in output and "Booting worker" not in output, output
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1, output
    return result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTH_MODE", "bogus"),
        ("WORKERS", "abc"),
        ("WORKERS", "0"),
        ("STATE_URL", "mysql://x"),
        ("LOG_FORMAT", "xml"),
        ("UPSTREAM_URLS", "ftp://x"),
        # gunicorn's own checks would retry for seconds, print a traceback or several lines not naming these
        ("BIND", "garbage"),
        ("BIND", "127.0.0.1:99999"),
        ("FORWARDED_ALLOW_IPS", "not-an-ip"),
        ("UPSTREAM_PROXY", "http://"),
    ],
)
def test_a_bad_setting_stops_the_start_with_one_line(google, tmp_path, name, value):
    line = start_refused(gateway_env(google, tmp_path, **{f"GATEWAY_{name}": value}))
    assert f"GATEWAY_{name}" in line and repr(value) in line


MISSPELT = [("GATEWAY_API_KYE", "GATEWAY_API_KEY"), ("GATEWAY_WORKER", "GATEWAY_WORKERS")]


@pytest.mark.parametrize(("typo", "meant"), MISSPELT)
def test_a_misspelt_variable_stops_the_start_naming_the_nearest(google, tmp_path, typo, meant):
    """GATEWAY_API_KYE would otherwise start the gateway with auth off, GATEWAY_WORKER with 2 workers."""
    line = start_refused({**gateway_env(google, tmp_path), typo: "4"})
    assert f"{typo} is not a setting" in line and f"did you mean {meant}?" in line


@pytest.mark.parametrize("mode", ["auto", "all_except_health", "strict"])
def test_a_public_bind_with_auth_on_and_no_key_is_refused(google, tmp_path, mode):
    env = gateway_env(google, tmp_path, GATEWAY_API_KEY="", GATEWAY_AUTH_MODE=mode)
    line = start_refused({**env, "GATEWAY_BIND": f"0.0.0.0:{free_port()}"})
    assert "GATEWAY_BIND=0.0.0.0" in line and "GATEWAY_API_KEY" in line


def test_a_data_dir_that_cannot_be_created_is_named(google, tmp_path):
    (tmp_path / "a-file").write_text("")
    line = start_refused(gateway_env(google, tmp_path / "a-file" / "data"))
    assert "GATEWAY_DATA_DIR" in line and str(tmp_path / "a-file" / "data") in line


def test_a_data_dir_that_is_a_file_is_not_a_directory(google, tmp_path):
    (tmp_path / "a-file").write_text("")
    line = start_refused(gateway_env(google, tmp_path / "a-file"))
    assert line == f"Error: GATEWAY_DATA_DIR: {tmp_path / 'a-file'} is not a directory\n"


def test_a_files_dir_that_is_a_file_is_named(google, tmp_path):
    (tmp_path / "a-file").write_text("")
    line = start_refused(gateway_env(google, tmp_path / "data", GATEWAY_FILES_DIR=str(tmp_path / "a-file")))
    assert line == f"Error: GATEWAY_FILES_DIR: {tmp_path / 'a-file'} is not a directory\n"


def test_a_read_only_data_dir_is_named(google, tmp_path):
    with tmpfs(tmp_path / "ro") as mount:
        make_read_only(mount)
        line = start_refused(gateway_env(google, mount / "gateway"))
    assert "GATEWAY_DATA_DIR" in line and str(mount / "gateway") in line and "Read-only" in line


def test_a_full_data_dir_is_named(google, tmp_path):
    with tmpfs(tmp_path / "full") as mount:
        (mount / "gateway").mkdir()
        fill(mount)
        line = start_refused(gateway_env(google, mount / "gateway"))
    assert "GATEWAY_DATA_DIR" in line and str(mount / "gateway") in line and "No space left" in line


def test_an_unusable_database_file_is_named(google, tmp_path):
    (tmp_path / "gateway.db").mkdir()  # where the file should be
    line = start_refused(gateway_env(google, tmp_path))
    assert str(tmp_path / "gateway.db") in line


def test_one_line_says_how_it_came_up(google, upstream, tmp_path):
    with running_gateway(gateway_env(google, tmp_path, GATEWAY_STATE_URL="", GATEWAY_AUTH_MODE="auto")) as gateway:
        add_account(gateway, upstream, "up@example.com")
    gateway = start_gateway(gateway.env)
    gateway.stop()
    lines = gateway.log_lines()
    ready = [line for line in lines if "bind" in line and "auth_mode" in line]
    assert len(ready) == 2, lines
    assert ready[0]["level"] == "info" and ready[0]["accounts"] == 0 and ready[1]["accounts"] == 1
    assert ready[1]["bind"] == gateway.url and ready[1]["auth_mode"] == "all_except_health"
    assert ready[1]["data_dir"] == str(tmp_path) and ready[1]["state"] == "sqlite"
    assert gateway.url.removeprefix("http://") in ready[1]["message"]
    assert API_KEY not in gateway.log_path.read_text()


def test_the_start_up_line_names_redis_without_its_password(google, tmp_path, redis_server):
    url = redis_server.url.replace("redis://", "redis://:hunter2-secret@")
    env = gateway_env(google, tmp_path, GATEWAY_STATE_URL=url)
    gateway = start_gateway(env)
    gateway.stop()
    log = gateway.log_path.read_text()
    [ready] = [json.loads(line) for line in log.splitlines() if '"state"' in line]
    assert ready["state"] == redis_server.url  # host:port/db only
    assert "hunter2" not in log


def test_auto_auth_enforces_a_configured_key_on_loopback(google, upstream, tmp_path):
    # Behind nginx the bind is loopback: a configured key must hold there (and for /metrics too).
    with running_gateway(gateway_env(google, tmp_path, GATEWAY_AUTH_MODE="auto")) as gateway:
        add_account(gateway, upstream, "auto@example.com")
        assert gateway.post(GENERATE, HELLO, key=None).status_code == 401
        assert gateway.get("/metrics", key=None).status_code == 401
        assert gateway.get("/healthz", key=None).status_code == 200
        assert gateway.post(GENERATE, HELLO).status_code == 200
