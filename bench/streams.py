"""A gevent client for streams: times each event against the fake's send stamp inside it.

Needs a gevent-patched process (`python -m bench` patches at start) to hold thousands of streams at once.
"""

from __future__ import annotations

import functools
import json
import math
import socket
import time
from collections.abc import Iterator
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
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            started = time.time()
            sock.sendall(_request(port, path, payload))
            buffer = bytearray()
            status, length = _head(sock, buffer)
            if status != 200:
                result.error = f"HTTP {status}"
                return result
            pending = bytearray()  # grows in place: multi-MB events cost no quadratic re-joins
            for piece in _chunked(sock, buffer) if length is None else _sized(sock, buffer, length):
                now = time.time()
                start = max(len(pending) - 1, 0)  # what came before holds no frame end
                pending += piece
                while (end := pending.find(b"\n\n", start)) >= 0:
                    _event(result, bytes(pending[:end]), now - started, now)
                    del pending[: end + 2]
                    start = 0
                if result.error:
                    return result
    except (OSError, ValueError) as exc:
        result.error = type(exc).__name__
    if not result.error and len(result.delays_s) != expected:
        result.error = f"{len(result.delays_s)}/{expected} events"
    return result


def _event(result: Stream, frame: bytes, since_start: float, now: float) -> None:
    event = json.loads(frame.removeprefix(b"data: "))
    event = event.get("response", event)  # straight from the fake (or via nginx) events are wrapped
    if "sentAt" not in event:
        result.error = "event without sentAt"
        return
    if result.first_event_s is None:
        result.first_event_s = since_start
    result.delays_s.append(now - event["sentAt"])


# The client speaks HTTP/1.1 on a plain socket: http.client's header parsing (the email package) and chunked
# reader cost about as much CPU per stream as the relay under test, and the load generator shares its cores.
@functools.lru_cache(maxsize=16)
def _request(port: int, path: str, payload: str) -> bytes:
    body = payload.encode()
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in HEADERS.items())]
    return "\r\n".join([*head, f"Content-Length: {len(body)}", "", ""]).encode() + body


def _recv(sock: socket.socket, buffer: bytearray) -> None:
    data = sock.recv(1 << 20)
    if not data:
        raise ConnectionResetError("the server closed the connection mid-answer")
    buffer += data


def _head(sock: socket.socket, buffer: bytearray) -> tuple[int, int | None]:
    """The status and the body's length (None: chunked; -1: until the server closes); `buffer` keeps the rest."""
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        _recv(sock, buffer)
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    del buffer[: end + 4]
    status, headers = int(lines[0].split()[1]), dict(line.lower().split(": ", 1) for line in lines[1:])
    if headers.get("transfer-encoding") == "chunked":
        return status, None
    return status, int(headers.get("content-length", -1))


def _sized(sock: socket.socket, buffer: bytearray, length: int) -> Iterator[bytes]:
    """A body's bytes as they arrive, to its length (-1: to the server's close)."""
    left = length if length >= 0 else math.inf
    while left > 0:
        if not buffer:
            try:
                _recv(sock, buffer)
            except ConnectionResetError:
                if length < 0:
                    return  # the close is the body's end (a short one still fails the event count)
                raise
        piece = bytes(buffer[: min(left, len(buffer))])
        del buffer[: len(piece)]
        left -= len(piece)
        yield piece


def _chunked(sock: socket.socket, buffer: bytearray) -> Iterator[bytes]:
    """A chunked body's chunks, each whole and without its framing."""
    while True:
        while (eol := buffer.find(b"\r\n")) < 0:
            _recv(sock, buffer)
        size, start = int(bytes(buffer[:eol]).split(b";")[0], 16), eol + 2
        if size == 0:
            return
        while len(buffer) < start + size + 2:
            _recv(sock, buffer)
        yield bytes(buffer[start : start + size])
        del buffer[: start + size + 2]


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
