"""Shared fixtures: a fake Google on loopback, and the real gateway under gunicorn + gevent in front of it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import redis
import requests

from gateway.accounts.store import Store
from tests.fake_upstream import FakeGoogle
from tests.tinyproxy_helper import TINYPROXY, Tinyproxy
from tests.tls_helper import OPENSSL, CertificateAuthority

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "test-key-0123456789"
GATEWAY_COMMAND = str(Path(sys.executable).parent / "gateway")  # the installed console script
HELLO = {"contents": [{"role": "user", "parts": [{"text": "Hello there, gateway"}]}]}
# Set by test_any_date.py when it reruns the suite at a shifted date: only the tests that need no gunicorn run then.
IN_PROCESS_ONLY = "GATEWAY_TESTS_IN_PROCESS_ONLY"
# The whole suite run under Debian's `faketime` (a year ahead, before a release). libfaketime 0.9.10 breaks two
# kinds of waiting there that no date is involved in; the tests that rest on them skip themselves.
UNDER_FAKETIME = "FAKETIME" in os.environ
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], T], seconds: float = 10.0, every: float = 0.05) -> T:
    """Poll a condition every `every` seconds until it is truthy, failing after `seconds`; its last value."""
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(every)
    return result


def request_lines(gateway: Gateway, request_id: str, seconds: float = 5) -> list[dict]:
    """The log lines carrying one request's id (X-Request-Id), once there is one."""
    return wait_for(lambda: [line for line in gateway.log_lines() if line["request_id"] == request_id], seconds)


def gateway_env(google: FakeGoogle, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment that points a gateway (server or CLI) at the fake Google."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and "PROXY" not in k.upper()}
    env.update(
        GATEWAY_DATA_DIR=str(data_dir),
        GATEWAY_UPSTREAM_URLS=google.url,
        GATEWAY_OAUTH_TOKEN_URL=google.token_url,
        GATEWAY_OAUTH_USERINFO_URL=google.userinfo_url,
        GATEWAY_API_KEY=API_KEY,
        GATEWAY_AUTH_MODE="all_except_health",
        GATEWAY_WORKERS="2",
        # The client version (GATEWAY_USER_AGENT=auto) is read from the fake too: no call leaves loopback.
        GATEWAY_CLIENT_MANIFEST_URL=google.url + "/manifest/latest-arm64-mac.yml",
        # The background re-read of every model list (a minute after a worker starts) would race whichever test
        # is then scripting fetchAvailableModels; test_model_lists.py turns it on where it is the subject.
        GATEWAY_MODELS_REFRESH="0",
    )
    env.update(extra)
    return env


@dataclass
class Gateway:
    """A running gunicorn master serving the gateway, and the CLI bound to the same data."""

    url: str
    env: dict[str, str]
    process: subprocess.Popen
    store: Store

    def cli(self, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess:
        """Run the installed `gateway` command against this gateway's data (env: overrides)."""
        return subprocess.run(
            [GATEWAY_COMMAND, *args],
            env={**self.env, **env},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )

    def post(self, path: str, json: object = None, key: str | None = API_KEY, **kwargs) -> requests.Response:
        return self._send("POST", path, key, json=json, **kwargs)

    def get(self, path: str, key: str | None = API_KEY, **kwargs) -> requests.Response:
        return self._send("GET", path, key, **kwargs)

    def _send(self, method: str, path: str, key: str | None, headers: dict | None = None, **kwargs):
        headers = {**({"x-goog-api-key": key} if key else {}), **(headers or {})}
        kwargs.setdefault("timeout", 30)
        return requests.request(method, self.url + path, headers=headers, **kwargs)

    @property
    def log_path(self) -> Path:
        """gunicorn's log (master and workers), kept after the gateway stops."""
        return Path(self.env["GATEWAY_DATA_DIR"]) / "gunicorn.log"

    def log_lines(self) -> list[dict]:
        """Every log line so far, parsed (a line that is not JSON raises)."""
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_gateway(env: dict[str, str], *gunicorn_args: str) -> Gateway:
    if os.environ.get(IN_PROCESS_ONLY):
        pytest.skip("needs a gunicorn gateway; this run covers the in-process tests")
    port = free_port()
    env = {**env, "GATEWAY_BIND": f"127.0.0.1:{port}"}
    log = open(Path(env["GATEWAY_DATA_DIR"]) / "gunicorn.log", "ab")  # noqa: SIM115 - lives with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", *gunicorn_args],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}; see {log.name}")
        try:
            if requests.get(url + "/healthz", timeout=1).ok:
                return Gateway(url, env, process, Store(Path(env["GATEWAY_DATA_DIR"]) / "gateway.db"))
        except requests.RequestException:  # refused, or a worker still booting on a busy machine
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("gunicorn did not start serving in 20 s")


@contextlib.contextmanager
def running_gateway(env: dict[str, str], *gunicorn_args: str) -> Iterator[Gateway]:
    """A gateway for the length of a `with` block (or a fixture), stopped however the block ends."""
    gateway = start_gateway(env, *gunicorn_args)
    try:
        yield gateway
    finally:
        gateway.stop()


def real_time_env() -> dict[str, str]:
    """The environment without libfaketime (test_any_date.py's reruns): redis-server's allocator clashes with it,
    and a server's own clock is not what those runs move."""
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}


class RedisServer:
    def __init__(self, port: int) -> None:
        self.port, self.url = port, f"redis://127.0.0.1:{port}/0"
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            env=real_time_env(),
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@contextlib.contextmanager
def hosts_on_one_redis(google: FakeGoogle, tmp_path: Path, emails: tuple[str, ...]) -> Iterator[list[Gateway]]:
    """Two gateways (one worker each) sharing their own redis-server, each with `emails` stored."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(free_port())
    hosts: list[Gateway] = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            env = gateway_env(google, tmp_path / name, GATEWAY_STATE_URL=server.url, GATEWAY_WORKERS="1")
            hosts.append(start_gateway(env))
            for email in emails:
                hosts[-1].store.upsert(email, f"rt-{email}", project="proj-1", tier="free-tier")
        yield hosts
    finally:
        for host in hosts:
            host.stop()
        server.stop()


@pytest.fixture(scope="session")
def redis_server() -> RedisServer:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(free_port())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def served_redis(google, redis_server, tmp_path_factory) -> Gateway:
    """A second shared gateway whose pool state goes through Redis."""
    env = gateway_env(google, tmp_path_factory.mktemp("gateway-redis"), GATEWAY_STATE_URL=redis_server.url)
    with running_gateway(env) as gateway:
        yield gateway


@pytest.fixture(scope="session")
def google() -> FakeGoogle:
    fake = FakeGoogle().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def served(google, tmp_path_factory) -> Gateway:
    """One gateway for the whole run (2 gevent workers); tests reset its accounts, not its process."""
    with running_gateway(gateway_env(google, tmp_path_factory.mktemp("gateway"))) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def own_gateway(google, tmp_path_factory) -> Callable[..., Gateway]:
    """Start a module's own gateway: `own_gateway(name, GATEWAY_X=...)`, its data dir new; stopped after the module."""
    started: list[Gateway] = []

    def start(name: str, **settings: str) -> Gateway:
        started.append(start_gateway(gateway_env(google, tmp_path_factory.mktemp(name), **settings)))
        return started[-1]

    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> CertificateAuthority:
    """A throw-away CA (the `openssl` command) whose certificates the tests' TLS servers present."""
    if OPENSSL is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    return CertificateAuthority.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def tls_google(ca) -> FakeGoogle:
    """The fake Google on https://127.0.0.1, its certificate signed by the test CA (token endpoint included)."""
    fake = FakeGoogle(tls=ca.server_context("127.0.0.1")).start()
    yield fake
    fake.stop()


@pytest.fixture
def tls_upstream(tls_google) -> FakeGoogle:
    tls_google.reset()
    return tls_google


@pytest.fixture(scope="module")
def tls_proxy(tls_google, tmp_path_factory) -> Tinyproxy:
    """tinyproxy allowing CONNECT to the TLS fake's port only, logging each request line."""
    if TINYPROXY is None:
        pytest.skip("tinyproxy is not installed (apt-get install tinyproxy)")
    google_port = int(tls_google.url.rsplit(":", 1)[1])
    server = Tinyproxy(tmp_path_factory.mktemp("tinyproxy"), free_port(), connect_ports=(google_port,))
    yield server
    server.stop()


@pytest.fixture
def upstream(google) -> FakeGoogle:
    google.reset()
    return google


def emptied(gateway: Gateway) -> Gateway:
    """The gateway with no account (cooldowns and usage go with them) and, with Redis, no shared state."""
    for account in gateway.store.accounts():
        gateway.store.remove(account.id)
    if "GATEWAY_STATE_URL" in gateway.env:
        redis.Redis.from_url(gateway.env["GATEWAY_STATE_URL"]).flushdb()
    return gateway


@pytest.fixture
def gateway(served, upstream) -> Gateway:
    """The shared gateway with an empty pool and a fresh fake Google."""
    return emptied(served)


def accounts_by_email(gateway: Gateway) -> dict[str, dict]:
    """`gateway accounts list --json`, keyed by email."""
    result = gateway.cli("accounts", "list", "--json")
    assert result.returncode == 0, result.stderr
    return {row["email"]: row for row in json.loads(result.stdout)}


def quota_error(retry_delay: str = "", message: str = "Resource has been exhausted", **metadata) -> dict:
    """Google's 429 body, with the delay hints it may carry (RetryInfo, ErrorInfo metadata, message text)."""
    details = []
    if retry_delay:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    if metadata:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "RATE_LIMIT_EXCEEDED",
                "domain": "cloudcode-pa.googleapis.com",
                "metadata": metadata,
            }
        )
    return {"error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED", "details": details}}


def add_account(gateway: Gateway, upstream: FakeGoogle, email: str, project: str = "proj-1", **fake) -> int:
    """An account known to the fake Google and stored in the gateway, its access token yet to be fetched."""
    refresh_token = f"rt-{email}"
    upstream.add_account(refresh_token, email, project=project, **fake)
    return gateway.store.upsert(email, refresh_token, project=project, tier="free-tier").id


@pytest.fixture
def account(gateway, upstream) -> str:
    add_account(gateway, upstream, "alice@example.com")
    return "alice@example.com"
