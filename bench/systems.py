"""The processes of a run: the fake upstream, and nginx, the bare relay and the gateway in front of it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from .meter import Meter
from .procs import Tree
from .streams import API_KEY, body, stream

if TYPE_CHECKING:
    from tests.tinyproxy_helper import Tinyproxy
    from tests.tls_helper import CertificateAuthority

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin")  # /usr/sbin: outside most PATHs
REDIS = shutil.which("redis-server", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/usr/bin")
UPSTREAM_PATH = "/v1internal:streamGenerateContent"
GEMINI_PATH = "/v1beta/models/gemini-2.5-flash:"
GATEWAY_COMMAND = str(Path(sys.executable).parent / "gateway")  # the installed console script, as operators run it
CONF = "gunicorn.conf.py"  # the gateway's own settings, for the bare relay too: the comparison is fair
NGINX_CONF = """
{user}pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log;
worker_processes 2;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    upstream fake {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
            client_max_body_size 20m;  # Gemini's own request limit, as the shipped site allows
        location / {{
            proxy_pass http://fake{path}?alt=sse;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
"""


@dataclass
class System:
    """A started server: where it listens, which paths it serves, and the process tree that is measured."""

    name: str
    port: int
    process: subprocess.Popen
    generate_path: str  # non-stream
    stream_path: str  # streamGenerateContent?alt=sse
    log: Path
    processes: int  # once ready: a master and 2 workers, or the fake's one process
    probe: bool = True  # a Gemini server, checked with a short stream (redis-server is not)
    upstream: str = "direct"  # the fake it relays to, whose CPU the run reports beside its own

    def __post_init__(self) -> None:
        _wait_for_port(self.port, self.process, self.log)
        self.tree = Tree(self.process.pid)

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>"""
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, seconds: float = 30) -> None:
        """Wait until all its workers run and it answers a short stream correctly."""
        deadline = time.monotonic() + seconds
        while len(self.tree.refresh()) < self.processes:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} has not started its workers; see {self.log}")
            time.sleep(0.2)
        while self.probe and (result := stream(self.port, self.stream_path, body(2, 0), 2)).error:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} does not answer ({result.error}); see {self.log}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Ask it to stop, then make sure."""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, seconds: float = 30) -> None:
    """Return once something accepts connections on `port`; fail if the process dies or takes too long."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}; see {log}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {seconds} s; see {log}")


def _spawn(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A child process with its output in `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL)


def fake_upstream(workdir: Path, ca: CertificateAuthority | None = None, name: str = "direct") -> System:
    """The fake Cloud Code (bench/upstream.py), reached directly: the floor of the harness itself.

    With `ca` it serves HTTPS with a certificate of that CA for 127.0.0.1 (the relays then probe it)."""
    port, log = free_port(), workdir / f"{name}-upstream.log"
    tls = [f"--{kind}={path}" for kind, path in zip(("cert", "key"), ca.issue("127.0.0.1"), strict=True)] if ca else []
    process = _spawn([sys.executable, "-m", "bench.upstream", "--port", str(port), *tls], log)
    return System(name, port, process, UPSTREAM_PATH, UPSTREAM_PATH + "?alt=sse", log, 1, probe=not ca, upstream=name)


def nginx(workdir: Path, upstream_port: int) -> System:
    """nginx `proxy_pass` to the fake, 2 workers, no buffering: the floor of any relay."""
    port, folder = free_port(), workdir / "nginx"
    folder.mkdir()
    user = "user root;\n" if os.geteuid() == 0 else ""  # else workers run as nobody and cannot use `folder`
    config = folder / "nginx.conf"
    config.write_text(NGINX_CONF.format(user=user, dir=folder, upstream=upstream_port, port=port, path=UPSTREAM_PATH))
    log = workdir / "nginx.log"
    process = _spawn([NGINX, "-c", str(config), "-p", str(folder), "-g", "daemon off;"], log)
    return System("nginx", port, process, GEMINI_PATH + "generateContent", _stream_path(), log, 3)


def _clean_env(env: dict[str, str]) -> dict[str, str]:
    """This environment without any GATEWAY_* setting or proxy variable of the caller's, plus `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and "PROXY" not in k.upper()}
    return {**clean, **env}


def _gunicorn(name: str, workdir: Path, conf: str, env: dict[str, str], *app: str, upstream: str = "direct") -> System:
    """A gunicorn master with the gateway's settings (`conf`: gevent, worker_connections), 2 workers."""
    port, log = free_port(), workdir / f"{name}.log"
    env = _clean_env({**env, "GATEWAY_BIND": f"127.0.0.1:{port}", "GATEWAY_WORKERS": "2"})
    process = _spawn([sys.executable, "-m", "gunicorn", "-c", conf, *app], log, env)
    return System(name, port, process, GEMINI_PATH + "generateContent", _stream_path(), log, 3, upstream=upstream)


def bare_relay(workdir: Path, upstream_port: int, conf: str = CONF) -> System:
    """bench/bare_relay.py under gunicorn: the stack without the gateway's logic."""
    env = {"BENCH_UPSTREAM": f"http://127.0.0.1:{upstream_port}"}
    return _gunicorn("bare", workdir, conf, env, "bench.bare_relay:create_app()")


def gateway(
    workdir: Path,
    upstream_port: int,
    conf: str = CONF,
    accounts: int = 4,
    team_key: bool = False,
    state_url: str = "",
    name: str = "gateway",
    fake: System | None = None,
    ca: CertificateAuthority | None = None,
    proxy: str = "",
) -> System:
    """The gateway (gunicorn.conf.py's own app), with accounts whose tokens stay valid for the whole run.

    `team_key`: the clients' key is a team key (no limits) and the admin key another one, to measure that path.
    `fake` and `ca`: an HTTPS fake (`fake_upstream(ca=...)`) and the CA the gateway then trusts, as a deployment
    behind a private CA does (GATEWAY_CA_BUNDLE); `proxy`: every account's egress, set with `gateway accounts
    set --proxy` as an operator would."""
    from gateway.accounts.store import Store
    from gateway.keys.store import KeyStore, TeamKey, digest

    data = workdir / f"{name}-data"
    data.mkdir()
    store = Store(data / "gateway.db")
    for n in range(accounts):  # a live token far from expiry: no OAuth traffic during the run
        store.upsert(
            f"bench{n}@example.com", f"rt-{n}", project="p", access_token="tok", token_expiry=time.time() + 86400
        )
    if team_key:
        KeyStore(store).create(TeamKey(0, "bench", digest(API_KEY), API_KEY[:8], time.time()))
    origin = f"{'https' if ca else 'http'}://127.0.0.1:{upstream_port}"
    env = {
        "GATEWAY_DATA_DIR": str(data),
        "GATEWAY_UPSTREAM_URLS": origin,
        "GATEWAY_OAUTH_TOKEN_URL": origin + "/token",
        "GATEWAY_CLIENT_MANIFEST_URL": origin + "/manifest/latest-arm64-mac.yml",  # loopback only
        "GATEWAY_AUTH_MODE": "strict",  # a key checked on every request, as deployed
        "GATEWAY_API_KEY": "bench-admin-key" if team_key else API_KEY,
        "GATEWAY_STATE_URL": state_url,
        **({"GATEWAY_CA_BUNDLE": str(ca.cert)} if ca else {}),
    }
    for n in range(accounts if proxy else 0):
        command = [GATEWAY_COMMAND, "accounts", "set", f"bench{n}@example.com", "--proxy", proxy]
        subprocess.run(command, cwd=ROOT, env=_clean_env(env), capture_output=True, check=True, timeout=60)
    return _gunicorn(name, workdir, conf, env, upstream=fake.name if fake else "direct")


def redis_server(workdir: Path) -> System:
    """A real redis-server on loopback, no persistence: the shared state of several gateway hosts."""
    port, log = free_port(), workdir / "redis.log"
    command = [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = _spawn([*command, "--dir", str(workdir)], log)
    _wait_for_port(port, process, log)
    return System("redis", port, process, "", "", log, 1, probe=False)


def gateway_on_redis(workdir: Path, upstream_port: int, redis_port: int, conf: str = CONF) -> System:
    """The same gateway with its pool state in Redis (GATEWAY_STATE_URL), as each of several hosts runs it."""
    url = f"redis://127.0.0.1:{redis_port}/0"
    return gateway(workdir, upstream_port, conf, state_url=url, name="gateway-redis")


def tinyproxy(workdir: Path, target_port: int) -> tuple[System, Tinyproxy]:
    """Debian's tinyproxy (tests/tinyproxy_helper.py) allowing CONNECT to `target_port` only, logging each request.

    Room for every tunnel the gateway's pools keep open (one per upstream request in flight, per worker)."""
    from tests.tinyproxy_helper import TINYPROXY, Tinyproxy

    if TINYPROXY is None:
        raise RuntimeError("S1 through a proxy needs tinyproxy: sudo apt-get install -y tinyproxy")
    folder = workdir / "tinyproxy"
    folder.mkdir()
    proxy = Tinyproxy(folder, free_port(), connect_ports=(target_port,), max_clients=512)
    port = int(proxy.url.rsplit(":", 1)[1])
    return System("tinyproxy", port, proxy.process, "", "", proxy.log, 1, probe=False), proxy


def _stream_path() -> str:
    return GEMINI_PATH + "streamGenerateContent?alt=sse"


def start_tls_pair(running: ExitStack, workdir: Path, conf: str, extras: list[System]) -> Tinyproxy:
    """S1 through a proxy: an HTTPS fake ("direct-tls"), a gateway reaching it directly ("gateway-tls"),
    tinyproxy and a gateway with every account behind it ("gateway-proxy"), appended to `extras`."""
    from tests.tls_helper import CertificateAuthority

    folder = workdir / "ca"
    folder.mkdir()
    ca = CertificateAuthority.create(folder)
    fake = fake_upstream(workdir, ca, name="direct-tls")
    running.callback(fake.stop)
    system, proxy = tinyproxy(workdir, fake.port)
    running.callback(system.stop)
    extras.extend((fake, system))
    for name, egress in (("gateway-tls", ""), ("gateway-proxy", proxy.url)):
        extras.append(gateway(workdir, fake.port, conf, name=name, fake=fake, ca=ca, proxy=egress))
        running.callback(extras[-1].stop)
    return proxy


@dataclass
class Lineup:
    """The fake upstream and the relays in front of it, all running for the whole run."""

    fake: System
    relays: list[System]  # nginx, bare, gateway
    workdir: Path
    extras: list[System]  # redis-server and the gateway on it (S1 with Redis); the HTTPS fake and more (S1P)
    proxy: Tinyproxy | None = None  # the tinyproxy of S1 through a proxy, whose log counts the CONNECTs

    @classmethod
    def start(
        cls,
        running: ExitStack,
        workdir: Path,
        conf: str = CONF,
        team_key: bool = False,
        with_redis: bool = False,
        with_proxy: bool = False,
    ) -> Lineup:
        """Start everything; `running` stops it all when it closes."""
        fake = fake_upstream(workdir)
        running.callback(fake.stop)
        relays, extras = [], []
        for starter in (nginx, partial(bare_relay, conf=conf), partial(gateway, conf=conf, team_key=team_key)):
            relays.append(starter(workdir, fake.port))
            running.callback(relays[-1].stop)
        if with_redis:
            extras.append(redis_server(workdir))
            running.callback(extras[-1].stop)
            extras.append(gateway_on_redis(workdir, fake.port, extras[0].port, conf))
            running.callback(extras[-1].stop)
        proxy = start_tls_pair(running, workdir, conf, extras) if with_proxy else None
        lineup = cls(fake, relays, workdir, extras, proxy)
        lineup.probe()
        return lineup

    @property
    def systems(self) -> list[System]:
        """Every system a client can load in S1-S5: the fake alone ("direct") first, then the relays."""
        return [self.fake, *self.relays]

    def named(self, name: str) -> System:
        """One system of the lineup, extras included."""
        return next(system for system in [*self.systems, *self.extras] if system.name == name)

    def meter(self) -> Meter:
        """Start counting CPU for every process of the lineup."""
        return Meter({system.name: system.tree for system in [*self.systems, *self.extras]})

    def probe(self) -> None:
        """Wait until every system is ready."""
        for system in [*self.systems, *self.extras]:
            system.wait_ready()
