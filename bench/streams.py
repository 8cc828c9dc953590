"""A gevent client for streams: times each event against the fake's send stamp inside it.

Needs a gevent-patched process (`python -m bench` patches at start) to hold thousands of streams at once.
"""

from __future__ import annotations

import http.client
import json
import math
import time
from dataclasses import dataclass, field

import gevent

from .upstream import prompt

API_KEY = "bench-key"  # the gateway runs with a key, as deployed; the other systems ignore the header
HEADERS = {"Content-Type": "application/json", "x-goog-api-key": API_KEY}


def body(events: int, interval_ms: float, image_mb: float = 0) -> str:
    """A Gemini request whose prompt asks the fake for this many events this far apart (each with an image)."""
    return json.dumps({"contents": [{"role": "user", "parts": [{"text": prompt(events, interval_ms, image_mb)}]}]})


@dataclass
class Stream:
    """What one streamed request saw."""

    first_event_s: float | None = None  # from sending the request to the first event
    delays_s: list[float] = field(default_factory=list)  # each event's arrival minus the fake's send stamp
    error: str = ""


def stream(port: int, path: str, payload: str, expected: int, timeout: float = 30) -> Stream:
    """One streamed request, read to its end; anything but `expected` clean events is an error."""
    result = Stream()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        started = time.time()
        connection.request("POST", path, payload, HEADERS)
        response = connection.getresponse()
        if response.status != 200:
            result.error = f"HTTP {response.status}"
            return result
        pending, scan = bytearray(), 0
        while chunk := response.read1(1 << 20):
            now = time.time()
            pending += chunk  # a bytearray grows in place: multi-MB events cost no quadratic re-joins
            frames = []
            while (end := pending.find(b"\n\n", scan)) >= 0:
                frames.append(bytes(pending[:end]))
                del pending[: end + 2]
                scan = 0
            scan = max(len(pending) - 1, 0)
            for frame in frames:
                event = json.loads(frame.removeprefix(b"data: "))
                event = event.get("response", event)  # straight from the fake (or via nginx) events are wrapped
                if "sentAt" not in event:
                    result.error = "event without sentAt"
                    return result
                if result.first_event_s is None:
                    result.first_event_s = now - started
                result.delays_s.append(now - event["sentAt"])
    except (OSError, ValueError, http.client.HTTPException) as exc:
        result.error = type(exc).__name__
    finally:
        connection.close()
    if not result.error and len(result.delays_s) != expected:
        result.error = f"{len(result.delays_s)}/{expected} events"
    return result


def many(port: int, path: str, payload: str, expected: int, count: int, rate: float, limit: float) -> list[Stream]:
    """`count` streams started `rate` a second (clients arrive, they do not all connect in one instant).

    Streams still open `limit` seconds after the last one started are cut and count as errors.
    """
    jobs = [gevent.spawn_later(n / rate, stream, port, path, payload, expected) for n in range(count)]
    gevent.joinall(jobs, timeout=count / rate + limit)
    gevent.killall([job for job in jobs if not job.ready()], block=True, timeout=5)
    return [job.value if isinstance(job.value, Stream) else Stream(error="timed out or crashed") for job in jobs]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary(streams: list[Stream]) -> dict:
    """Errors, time to first event and per-event delay (events after the first), in ms."""
    firsts = [s.first_event_s * 1000 for s in streams if s.first_event_s is not None]
    later = [d * 1000 for s in streams for d in s.delays_s[1:]]
    errors = [s.error for s in streams if s.error]
    return {
        "streams": len(streams),
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:5],
        "events": sum(len(s.delays_s) for s in streams),
        "first_event_p50_ms": percentile(firsts, 50),
        "first_event_p99_ms": percentile(firsts, 99),
        "event_delay_p50_ms": percentile(later, 50),
        "event_delay_p99_ms": percentile(later, 99),
        "event_delay_max_ms": max(later, default=math.nan),
    }
