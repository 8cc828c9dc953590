"""Real nginx in front of the gateway, with deploy/nginx/gateway.conf templated into a temp dir."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "deploy" / "nginx" / "gateway.conf"
INSTALLED_SITE = "/etc/nginx/sites-available/gemini-gateway"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


@dataclass(frozen=True)
class Tls:
    """Where the TLS variant listens for HTTPS in a test, and the certificate it presents."""

    port: int
    cert: Path
    key: Path


def tls_variant(directory: Path, domain: str) -> str:
    """The shipped site switched to TLS by the deploy guide's own command (run on a copy in `directory`)."""
    readme = (ROOT / "docs" / "deploy.md").read_text().splitlines()
    steps = [line for line in readme if line.startswith("sed -i") and line.endswith(INSTALLED_SITE)]
    assert len(steps) == 1, "docs/deploy.md: one `sed -i … <site>` line switches the site to TLS"
    copy = directory / "gemini-gateway"
    copy.write_text(SITE.read_text())
    command = steps[0].replace(INSTALLED_SITE, str(copy))
    subprocess.run(["bash", "-c", command], env={**os.environ, "DOMAIN": domain}, check=True, timeout=10)
    return copy.read_text()


def render_nginx(
    prefix: Path,
    listen_port: int,
    upstream: str,
    read_timeout: str | None = None,
    site: str | None = None,
    tls: Tls | None = None,
) -> Path:
    """nginx.conf for a throw-away nginx serving the deploy site (or `site`) on loopback; returns its path.

    The ACME webroot is `prefix/webroot`."""
    site = SITE.read_text() if site is None else site
    # Only live `listen` lines (the commented TLS variant has some too).
    site = re.sub(r"^(\s*)listen 80;", rf"\g<1>listen 127.0.0.1:{listen_port};", site, flags=re.M)
    site = site.replace("server 127.0.0.1:8045;", f"server {upstream};")
    site = site.replace("root /var/www/html;", f"root {prefix / 'webroot'};")
    if tls:
        site = re.sub(r"^(\s*)listen 443 ", rf"\g<1>listen 127.0.0.1:{tls.port} ", site, flags=re.M)
        site = re.sub(r"ssl_certificate(\s+)\S+;", rf"ssl_certificate\g<1>{tls.cert};", site)
        site = re.sub(r"ssl_certificate_key(\s+)\S+;", rf"ssl_certificate_key\g<1>{tls.key};", site)
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
                requests.get(url + "/healthz", timeout=1, allow_redirects=False)  # HTTP may redirect to TLS
                return
            except requests.RequestException:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("nginx did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
