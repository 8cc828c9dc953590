"""The bare relay: our stack forwarding to the upstream stream method and relaying lines, and nothing else.

Flask + gunicorn/gevent, one pooled `requests.Session` per worker; no auth, no validation, no account pool,
no logs or metrics. The gateway's distance to it is the cost of the gateway's own logic. Served with the
gateway's own settings (`gunicorn -c gunicorn.conf.py 'bench.bare_relay:create_app()'`: gevent, 2 workers, the
same worker_connections) and BENCH_UPSTREAM set to the upstream's origin. Self-contained on purpose: it must
not get faster or slower when the gateway's code changes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import requests
from flask import Flask, Response, request
from requests.adapters import HTTPAdapter
from urllib3 import BaseHTTPResponse

PATH = "/v1internal:streamGenerateContent?alt=sse"


def iter_lines(raw: BaseHTTPResponse) -> Iterator[bytes]:
    """Lines of a streamed upstream answer as soon as they arrive."""
    pending = bytearray()  # grows in place: a multi-MB event is not re-joined and re-split per chunk
    for chunk in iter(lambda: raw.read1(65536), b""):
        start = len(pending)  # what came before holds no newline: search only the new chunk
        pending += chunk
        first = pending.find(b"\n", start)
        if first < 0:
            continue
        yield bytes(pending[:first])
        *lines, rest = pending[first + 1 :].split(b"\n")
        yield from map(bytes, lines)
        pending = rest
    if pending:
        yield bytes(pending)


def unwrapped(line: bytes) -> bytes:
    """The `response` inside one upstream `data:` line, as compact JSON."""
    return json.dumps(json.loads(line[6:])["response"], separators=(",", ":")).encode()


def create_app() -> Flask:
    """The relay app: POST /v1beta/models/<model>:<method>, stream or not."""
    app = Flask(__name__)
    upstream_url = os.environ["BENCH_UPSTREAM"] + PATH
    session = requests.Session()  # one per worker: preload_app is off, so this runs after the fork
    session.trust_env = False  # as the gateway's session: no per-call environment lookups
    adapter = HTTPAdapter(pool_maxsize=256)
    session.mount("http://", adapter)

    @app.post("/v1beta/models/<path:target>")
    def relay(target: str) -> Response:
        """Wrap the body, forward it to the upstream stream method, relay what comes back."""
        model, _, method = target.partition(":")
        envelope = {"project": "p", "model": model, "request": request.get_json()}
        upstream = session.post(
            upstream_url, json=envelope, headers={"Authorization": "Bearer t"}, stream=True, timeout=(10, 300)
        )
        data = (line for line in iter_lines(upstream.raw) if line.startswith(b"data: "))
        if method == "streamGenerateContent":

            def frames() -> Iterator[bytes]:
                with upstream:
                    for line in data:
                        yield b"data: " + unwrapped(line) + b"\n\n"

            return Response(frames(), content_type="text/event-stream")
        with upstream:
            last = [unwrapped(line) for line in data][-1]
        return Response(last, content_type="application/json")

    return app
