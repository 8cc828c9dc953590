"""Real nginx in front of the gateway, with deploy/nginx/gateway.conf templated into a temp dir."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "deploy" / "nginx" / "gateway.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def render_nginx(prefix: Path, listen_port: int, upstream: str, read_timeout: str | None = None) -> Path:
    """nginx.conf for a throw-away nginx serving the deploy site on loopback; returns its path."""
    # Only the live `listen 80;` (the commented TLS redirect has one too).
    site = re.sub(r"^(\s*)listen 80;", rf"\g<1>listen 127.0.0.1:{listen_port};", SITE.read_text(), flags=re.M)
    site = site.replace("server 127.0.0.1:8045;", f"server {upstream};")
    if read_timeout:
        site = site.replace("proxy_read_timeout 3600s;", f"proxy_read_timeout {read_timeout};")
    (prefix / "site.conf").write_text(site)
    temp = "\n".join(
        f"    {kind}_temp_path {prefix}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = prefix / "nginx.conf"
    config.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")  # workers would switch to `nobody` and lose the temp dir
        + f"pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\nevents {{}}\n"
        + f"http {{\n    access_log off;\n{temp}\n    include {prefix}/site.conf;\n}}\n"
    )
    return config


def check(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([NGINX, "-t", "-c", str(config), "-p", str(config.parent)], capture_output=True, text=True)


class Nginx:
    """A running nginx; stop() ends it."""

    def __init__(self, config: Path, url: str) -> None:
        self.url = url
        self.process = subprocess.Popen(
            [NGINX, "-c", str(config), "-p", str(config.parent), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                requests.get(url + "/healthz", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("nginx did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
