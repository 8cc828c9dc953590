"""A fast fake of Cloud Code's streamGenerateContent for benchmarks: gevent, canned events, send stamps.

Every event carries `sentAt` (epoch seconds) inside the response, which gateways relay untouched, so the
client can tell how long each event spent in the system under test.
"""

from __future__ import annotations

import argparse
import json
import socket
import time

from gevent import monkey

monkey.patch_all()

from gevent import sleep  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402


def event(index: int, last: bool) -> bytes:
    candidate = {"content": {"role": "model", "parts": [{"text": f"token {index} "}]}, "index": 0}
    if last:
        candidate["finishReason"] = "STOP"
    response = {
        "candidates": [candidate],
        "modelVersion": "gemini-2.5-flash",
        "responseId": "bench",
        "sentAt": time.time(),
    }
    if last:
        response["usageMetadata"] = {
            "promptTokenCount": 5,
            "candidatesTokenCount": index + 1,
            "totalTokenCount": index + 6,
        }
    return b"data: " + json.dumps({"response": response, "traceId": "bench"}).encode() + b"\n\n"


def app(events: int, interval: float):
    def serve(environ, start_response):
        environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/event-stream")])

        def body():
            for index in range(events):
                if index and interval:
                    sleep(interval)
                yield event(index, index == events - 1)

        if not interval:  # nothing to wait for: one write, so the fake stays far faster than what it feeds
            return [b"".join(body())]
        return body()

    return serve


class Server(WSGIServer):
    def handle(self, sock, address):
        # Small event writes: without this, Nagle + delayed ACK add 40 ms to each answer.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle(sock, address)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--events", type=int, default=2)
    parser.add_argument("--interval-ms", type=float, default=0)
    args = parser.parse_args()
    server = Server(("127.0.0.1", args.port), app(args.events, args.interval_ms / 1000), log=None, backlog=4096)
    server.serve_forever()


if __name__ == "__main__":
    main()
