"""The systems under test, each started in front of the same fake upstream."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .procs import free_port, stop, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
NGINX_SITE = """
pid {dir}/nginx.pid;
error_log {dir}/error.log;
worker_processes 2;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    upstream fake {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://fake/v1internal:streamGenerateContent?alt=sse;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
"""


class Server:
    """A started system: its URL and the pid whose process tree is measured."""

    def __init__(self, name: str, process: subprocess.Popen, port: int) -> None:
        self.name, self.process, self.port = name, process, port
        self.url = f"http://127.0.0.1:{port}"
        wait_for_port(port, process)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        stop(self.process)


def upstream(events: int, interval_ms: float) -> Server:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bench.upstream",
        "--port",
        str(port),
        "--events",
        str(events),
        "--interval-ms",
        str(interval_ms),
    ]
    return Server("upstream", subprocess.Popen(command, cwd=ROOT), port)


def nginx(upstream_port: int) -> Server:
    port, folder = free_port(), tempfile.mkdtemp(prefix="bench-nginx-")
    config = Path(folder) / "nginx.conf"
    user = "user root;\n" if os.geteuid() == 0 else ""
    config.write_text(user + NGINX_SITE.format(dir=folder, upstream=upstream_port, port=port))
    process = subprocess.Popen(["nginx", "-c", str(config), "-p", folder, "-g", "daemon off;"])
    return Server("nginx", process, port)


def gunicorn(name: str, env: dict[str, str], *app: str) -> Server:
    port = free_port()
    env = {**os.environ, **env, "GATEWAY_BIND": f"127.0.0.1:{port}", "GATEWAY_WORKERS": "2"}
    log = open(Path(tempfile.gettempdir()) / f"bench-{name}.log", "ab")  # noqa: SIM115 - lives with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", *app], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    return Server(name, process, port)


def bare_relay(upstream_port: int) -> Server:
    return gunicorn("bare", {"BENCH_UPSTREAM": f"http://127.0.0.1:{upstream_port}"}, "bench.bare_relay:create_app()")


def gateway(upstream_port: int, accounts: int = 4) -> Server:
    data = tempfile.mkdtemp(prefix="bench-gateway-")
    from gateway.accounts.store import Store

    store = Store(Path(data) / "gateway.db")
    for n in range(accounts):  # live tokens far from expiry: no OAuth traffic during the run
        store.upsert(
            f"bench{n}@example.com",
            f"rt-{n}",
            project="bench",
            access_token=f"tok-{n}",
            token_expiry=time.time() + 86400,
        )
    origin = f"http://127.0.0.1:{upstream_port}"
    return gunicorn(
        "gateway",
        {
            "GATEWAY_DATA_DIR": data,
            "GATEWAY_UPSTREAM_URLS": origin,
            "GATEWAY_OAUTH_TOKEN_URL": origin + "/token",
            "GATEWAY_AUTH_MODE": "strict",
            "GATEWAY_API_KEY": "bench-key",
        },
    )
