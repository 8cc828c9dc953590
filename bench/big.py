"""Big payloads: multi-MB request bodies among many open streams (S4), multi-MB events in a stream (S5).

Under gevent, every CPU millisecond a worker spends on one big body is a millisecond in which each of its other
streams stands still; these scenarios measure exactly that, against the bare relay and nginx.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import statistics
import time
from dataclasses import dataclass

import gevent

from .streams import HEADERS, many, summary
from .streams import body as stream_body
from .upstream import prompt

MB = 1024 * 1024
IMAGE_MB = 1  # inline images of 1 MB each, as a request with photos or PDF pages carries them


def big_body(size_mb: float) -> bytes:
    """A generateContent body of about `size_mb` MB: half long text, half inline base64 images."""
    image = base64.b64encode(os.urandom(int(IMAGE_MB * MB * 3 / 4))).decode()
    images = max(int(size_mb / 2 / IMAGE_MB), 1)
    words = "the quick brown fox jumps over the lazy dog, again and again; "
    text = prompt(2, 0) + " " + words * int((size_mb * MB - images * len(image)) / len(words))
    parts = [{"text": text}] + [{"inlineData": {"mimeType": "image/jpeg", "data": image}} for _ in range(images)]
    return json.dumps({"contents": [{"role": "user", "parts": parts}]}).encode()


@dataclass
class Posted:
    """One big request: its size, how long until the whole answer arrived, and what went wrong."""

    size_mb: float
    seconds: float
    error: str = ""


def post(port: int, path: str, payload: bytes, size_mb: float) -> Posted:
    """POST one body and read the whole answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.monotonic()
    try:
        connection.request("POST", path, payload, HEADERS)
        response = connection.getresponse()
        response.read()
        error = "" if response.status == 200 else f"HTTP {response.status}"
    except (OSError, http.client.HTTPException) as exc:
        error = type(exc).__name__
    finally:
        connection.close()
    return Posted(size_mb, time.monotonic() - started, error)


def latencies(posted: list[Posted]) -> dict[str, float]:
    """Median latency in ms per size."""
    sizes = sorted({p.size_mb for p in posted})
    return {f"{size:g}": statistics.median(p.seconds for p in posted if p.size_mb == size) * 1000 for size in sizes}


def sequential(port: int, path: str, bodies: dict[float, bytes], repeats: int) -> list[Posted]:
    """Each body `repeats` times, one request at a time: latency and CPU per MB with nothing else running."""
    return [post(port, path, payload, size) for _ in range(repeats) for size, payload in bodies.items()]


def arrivals(port: int, path: str, bodies: dict[float, bytes], every: float, seconds: float) -> list[Posted]:
    """Big requests arriving every `every` seconds (sizes in turn) for `seconds`, each on its own connection."""
    order = list(bodies.items())
    jobs = [
        gevent.spawn_later(n * every, post, port, path, order[n % len(order)][1], order[n % len(order)][0])
        for n in range(int(seconds / every))
    ]
    gevent.joinall(jobs, timeout=seconds + 60)
    return [job.value if isinstance(job.value, Posted) else Posted(0, 0, "timed out") for job in jobs]


def streams_among_big(
    port: int, stream_path: str, generate_path: str, bodies: dict[float, bytes], streams: int, events: int
) -> tuple[dict, list[Posted]]:
    """`streams` SSE streams (events 100 ms apart) while big requests arrive twice a second."""
    payload = stream_body(events, 100)
    opening = streams / 200  # streams open 200 a second, then big requests start among them
    posting = gevent.spawn_later(opening, arrivals, port, generate_path, bodies, 0.5, events * 0.1 - opening - 1)
    result = many(port, stream_path, payload, events, streams, 200, limit=events * 0.1 + 30)
    posting.join(timeout=120)
    return summary(result), posting.value or []


def image_stream(port: int, path: str, image_mb: float, events: int) -> dict:
    """One stream of `events` events of `image_mb` MB each, 200 ms apart: delay per event, bytes relayed."""
    from .streams import stream

    result = stream(port, path, stream_body(events + 1, 200, image_mb), events + 1, timeout=120)
    delays = [d * 1000 for d in result.delays_s[:events]]  # the last event is the small closing one
    return {
        "error": result.error,
        "event_delay_p50_ms": statistics.median(delays) if delays else float("nan"),
        "event_delay_max_ms": max(delays, default=float("nan")),
        "mb": image_mb * events,
    }


# ---- S4f: the same bytes as a Files API file (fileData) instead of inline base64 (issue 30) ----

FILE_SIZES_MB = (1, 5, 14)  # raw bytes: 14 MB is 18.7 MB of base64 inline, under the 20 MiB request limit
UPLOAD_CHUNK = 8 * MB  # what both SDKs send


def upload_file(port: int, data: bytes, mime: str) -> tuple[str, float]:
    """Upload `data` by the resumable protocol, as google-genai does: the file's uri, and the seconds it took."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {
        **HEADERS,
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(len(data)),
        "X-Goog-Upload-Header-Content-Type": mime,
    }
    connection.request("POST", "/upload/v1beta/files", b'{"file": {}}', headers)
    answer = connection.getresponse()
    answer.read()
    path = answer.getheader("X-Goog-Upload-URL").split(f":{port}", 1)[1]
    for offset in range(0, len(data), UPLOAD_CHUNK):
        command = "upload, finalize" if offset + UPLOAD_CHUNK >= len(data) else "upload"
        step = {"X-Goog-Upload-Command": command, "X-Goog-Upload-Offset": str(offset)}
        connection.request("POST", path, data[offset : offset + UPLOAD_CHUNK], step)
        answer = connection.getresponse()
        body = answer.read()
    connection.close()
    return json.loads(body)["file"]["uri"], time.monotonic() - started


def media_body(part: dict) -> bytes:
    """A generateContent body asking about one media part."""
    return json.dumps({"contents": [{"role": "user", "parts": [part, {"text": "What is in this file?"}]}]}).encode()


def peak_growth_mib(pids: list[int], before: dict[int, float]) -> float:
    """The most any one process grew past its resident memory in `before`, at its peak (VmHWM) since then."""
    return max(_status_mib(pid, "VmHWM") - before[pid] for pid in pids)


def reset_peaks(pids: list[int]) -> dict[int, float]:
    """Start each process's VmHWM again from its current RSS (Linux 4.0+); their RSS now."""
    for pid in pids:
        with open(f"/proc/{pid}/clear_refs", "w") as refs:
            refs.write("5")
    return {pid: _status_mib(pid, "VmRSS") for pid in pids}


def _status_mib(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith(f"{field}:"))
    return int(line.split()[1]) / 1024
