"""The floor our stack allows: Flask + gunicorn/gevent forwarding to the upstream stream, nothing else.

No auth, no validation, no pool: the difference between this and the gateway is the cost of the
gateway's own logic. Served with `gunicorn -c gunicorn.conf.py` settings and BENCH_UPSTREAM set.
"""

from __future__ import annotations

import json
import os

import requests
from flask import Flask, Response, request

from gateway.upstream.sse import iter_lines

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:1") + "/v1internal:streamGenerateContent?alt=sse"


def create_app() -> Flask:
    app = Flask(__name__)
    session = requests.Session()
    session.trust_env = False
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=256))

    @app.post("/v1beta/models/<path:target>")
    def relay(target: str):
        body = {"model": target.partition(":")[0], "project": "p", "request": request.get_json()}
        upstream = session.post(
            UPSTREAM, json=body, stream=True, headers={"Authorization": "Bearer t"}, timeout=(10, 300)
        )
        lines = iter_lines(upstream.raw)
        if target.endswith(":streamGenerateContent"):

            def frames():
                with upstream:
                    for line in lines:
                        if line.startswith(b"data: "):
                            yield b"data: " + json.dumps(json.loads(line[6:])["response"]).encode() + b"\n\n"

            return Response(frames(), content_type="text/event-stream")
        with upstream:
            last = [json.loads(line[6:])["response"] for line in lines if line.startswith(b"data: ")][-1]
        return Response(json.dumps(last), content_type="application/json")

    return app
