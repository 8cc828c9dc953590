"""Load: wrk for request rate, and a gevent client that times every streamed event."""

from __future__ import annotations

import http.client
import json
import re
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import gevent

BODY = json.dumps({"contents": [{"role": "user", "parts": [{"text": "Benchmark prompt: hello there"}]}]})
HEADERS = {"Content-Type": "application/json", "x-goog-api-key": "bench-key"}
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
WRK_SCRIPT = f"""
wrk.method = "POST"
wrk.body = {json.dumps(BODY)}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-goog-api-key"] = "bench-key"
"""


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def wrk(url: str, connections: int, seconds: int) -> dict:
    """Requests/s, p50/p99 latency (ms) and the request count of one wrk run."""
    script = Path(tempfile.mkdtemp()) / "post.lua"
    script.write_text(WRK_SCRIPT)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url + GENERATE],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        "errors": int(errors.group(1)) if errors else 0,
    }


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


@dataclass
class StreamResult:
    first_event_s: float | None = None
    delays_s: list[float] = field(default_factory=list)  # receive time minus the upstream's send stamp
    events: int = 0
    error: str = ""


def stream_once(port: int, path: str = STREAM, timeout: float = 120) -> StreamResult:
    """One streamed request, timing each `data:` event as it arrives."""
    result = StreamResult()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        started = time.time()
        connection.request("POST", path, BODY, HEADERS)
        response = connection.getresponse()
        if response.status != 200:
            result.error = f"HTTP {response.status}"
            return result
        pending = b""
        while chunk := response.read1(65536):
            now = time.time()
            pending += chunk
            *frames, pending = pending.split(b"\n\n")
            for frame in frames:
                if not frame.startswith(b"data: "):
                    continue
                event = json.loads(frame[6:])
                event = event.get("response", event)  # straight from the fake, events are still wrapped
                if "error" in event:
                    result.error = "error event"
                    return result
                if result.first_event_s is None:
                    result.first_event_s = now - started
                result.delays_s.append(now - event["sentAt"])
                result.events += 1
    except (OSError, http.client.HTTPException) as exc:
        result.error = type(exc).__name__
    finally:
        connection.close()
    return result


def concurrent_streams(
    port: int, count: int, expected_events: int, path: str = STREAM, ramp: float = 1.0
) -> list[StreamResult]:
    """`count` streams open together, started evenly over `ramp` seconds (clients do not all connect in the
    same millisecond); a stream missing events counts as an error."""
    jobs = [gevent.spawn_later(ramp * n / count, stream_once, port, path) for n in range(count)]
    gevent.joinall(jobs)
    results = [job.value or StreamResult(error="crashed") for job in jobs]
    for result in results:
        if not result.error and result.events != expected_events:
            result.error = f"{result.events}/{expected_events} events"
    return results


def summary(results: list[StreamResult]) -> dict:
    firsts = [r.first_event_s for r in results if r.first_event_s is not None]
    later = [d for r in results for d in r.delays_s[1:]]
    return {
        "streams": len(results),
        "errors": sum(1 for r in results if r.error),
        "first_event_p50_ms": statistics.median(firsts) * 1000 if firsts else float("nan"),
        "first_event_p99_ms": percentile(firsts, 99) * 1000,
        "event_delay_p50_ms": percentile(later, 50) * 1000,
        "event_delay_p99_ms": percentile(later, 99) * 1000,
    }
