"""wrk for request rate: POSTs one body at a fixed number of connections, parses rate, latency and errors."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path

SCRIPT = """wrk.method = "POST"
wrk.body = {body}
"""
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def script(payload: str, headers: dict[str, str], folder: Path) -> Path:
    """A wrk Lua script that POSTs `payload` with `headers` (JSON strings are valid Lua string literals here)."""
    path = Path(tempfile.mkstemp(suffix=".lua", dir=folder)[1])
    lines = [f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}" for name, value in headers.items()]
    path.write_text(SCRIPT.format(body=json.dumps(payload)) + "\n".join(lines) + "\n")
    return path


def wrk(url: str, lua: Path, connections: int, seconds: float) -> dict:
    """One wrk run of whole `seconds`: req/s, request count, p50/p99 ms, errors (non-2xx and socket)."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{round(seconds)}s", "--latency", "-s", str(lua), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(_find(r"Requests/sec:\s+([\d.]+)", out)),
        "requests": int(_find(r"(\d+) requests in", out)),
        "p50_ms": _ms(_find(r"50%\s+([\d.]+\w+)", out)),
        "p99_ms": _ms(_find(r"99%\s+([\d.]+\w+)", out)),
        "errors": (int(non_2xx[1]) if non_2xx else 0) + (sum(map(int, socket_errors.groups())) if socket_errors else 0),
    }


def _find(pattern: str, text: str) -> str:
    """The first group of `pattern` in wrk's output."""
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"wrk output lacks {pattern!r}:\n{text}")
    return match[1]


def _ms(text: str) -> float:
    """wrk's `1.23ms` / `456.00us` / `1.02s` in milliseconds."""
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(number) * UNITS[unit]
