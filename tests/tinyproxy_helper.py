"""A real HTTP CONNECT proxy for tests: Debian's tinyproxy on a free loopback port, its config in a temp dir."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

# Debian ships it in /usr/bin; other builds put it in /usr/sbin, which is not always on PATH.
TINYPROXY = next(
    (p for p in (shutil.which("tinyproxy"), "/usr/bin/tinyproxy", "/usr/sbin/tinyproxy") if p and Path(p).exists()),
    None,
)


class Tinyproxy:
    """tinyproxy allowing 127.0.0.1 to CONNECT to the given ports only; stop() ends it."""

    def __init__(
        self,
        directory: Path,
        port: int,
        connect_ports: tuple[int, ...] = (),
        via: str = "",
        login: str = "",
        max_clients: int = 20,
    ) -> None:
        """`via`: the name it puts in the Via header of what it forwards; `login`: "user:password" it requires;
        `max_clients`: connections it serves at once (a kept-alive CONNECT tunnel holds one for its life)."""
        self.url = f"http://127.0.0.1:{port}"
        self.log = directory / "tinyproxy.log"
        config = directory / "tinyproxy.conf"
        settings = {"Port": port, "Listen": "127.0.0.1", "Allow": "127.0.0.1", "Timeout": 30, "MaxClients": max_clients}
        settings.update(LogLevel="Connect", LogFile=f'"{self.log}"', PidFile=f'"{directory / "tinyproxy.pid"}"')
        if via:
            settings["ViaProxyName"] = f'"{via}"'
        if login:
            settings["BasicAuth"] = login.replace(":", " ", 1)
        lines = [f"{name} {value}" for name, value in settings.items()] + [f"ConnectPort {p}" for p in connect_ports]
        config.write_text("\n".join(lines) + "\n")
        self.process = subprocess.Popen(
            [TINYPROXY, "-d", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"tinyproxy did not start; see {self.log}")

    def requests(self) -> list[str]:
        """The request lines tinyproxy logged, e.g. `CONNECT 127.0.0.1:4443 HTTP/1.1`."""
        if not self.log.exists():
            return []
        return [line.partition("): ")[2] for line in self.log.read_text().splitlines() if "Request (file" in line]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
