"""A fast fake of Cloud Code's `v1internal:streamGenerateContent`: gevent, canned events, send stamps.

The prompt picks the answer's shape (`bench events=20 interval_ms=20`, optionally `image_mb=8` for events
that each carry an image of that many MB as inline base64, as image models answer), so one fake serves every
scenario through every system: nginx, the bare relay and the gateway all pass the prompt on. Every event
carries `sentAt` (epoch seconds) inside `response`, which relays pass on untouched, so a client can tell how
long each event spent between the fake and itself. Run: `python -m bench.upstream --port N`; with `--cert PEM
--key PEM` it serves HTTPS, as Google does (bench S1 over TLS, direct and through a proxy).
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import os
import re
import socket
import time
from collections.abc import Callable, Iterable, Iterator

from gevent import sleep
from gevent.pywsgi import WSGIHandler, WSGIServer  # gevent-native: no monkey patching needed

SHAPE = re.compile(rb"bench events=(\d+) interval_ms=([\d.]+)(?: image_mb=([\d.]+))?")
TOKEN = json.dumps({"access_token": "tok", "expires_in": 86400, "token_type": "Bearer"}).encode()
StartResponse = Callable[[str, list[tuple[str, str]]], object]


def prompt(events: int, interval_ms: float, image_mb: float = 0) -> str:
    """The prompt text that asks this fake for `events` events `interval_ms` apart (each with an image)."""
    return f"bench events={events} interval_ms={interval_ms:g}" + (f" image_mb={image_mb:g}" if image_mb else "")


@functools.lru_cache(maxsize=8)
def image_event_tail(image_mb: float) -> bytes:
    """Everything of an image event after its send stamp: built once per size, so the fake stays cheap."""
    data = base64.b64encode(os.urandom(int(image_mb * 1024 * 1024 * 3 / 4))).decode()
    part = {"inlineData": {"mimeType": "image/png", "data": data}}
    candidate = {"content": {"role": "model", "parts": [part]}, "index": 0}
    rest = json.dumps({"candidates": [candidate], "modelVersion": "gemini-3-pro-image", "responseId": "bench"})
    return b"," + rest[1:].encode() + b',"traceId":"bench"}\n\n'


def image_event(image_mb: float) -> bytes:
    """One wrapped SSE event carrying an image of `image_mb` MB, stamped with the time it is sent."""
    return b'data: {"response":{"sentAt":' + repr(time.time()).encode() + image_event_tail(image_mb)


def event(index: int, last: bool) -> bytes:
    """One wrapped SSE event, stamped with the time it is sent."""
    candidate: dict = {"content": {"role": "model", "parts": [{"text": f"token {index} "}]}, "index": 0}
    if last:
        candidate["finishReason"] = "STOP"
    response: dict = {"candidates": [candidate], "modelVersion": "gemini-2.5-flash", "responseId": "bench"}
    if last:
        response["usageMetadata"] = {"promptTokenCount": 5, "candidatesTokenCount": index + 1}
    response["sentAt"] = time.time()
    return b"data: " + json.dumps({"response": response, "traceId": "bench"}).encode() + b"\n\n"


class Last(bytes):
    """An answer's last chunk: the handler writes it together with the end of the chunked body."""


def events(count: int, interval: float, image_mb: float = 0) -> Iterator[bytes]:
    """The answer's chunks: one per event when they are spaced, all in one chunk when they are not."""
    if not interval and not image_mb:
        yield Last(b"".join(event(index, index == count - 1) for index in range(count)))
        return
    for index in range(count):
        if index:
            sleep(interval)
        last = index == count - 1
        yield Last(event(index, True)) if last else image_event(image_mb) if image_mb else event(index, False)


def app(environ: dict, start_response: StartResponse) -> Iterable[bytes]:
    """WSGI: `/token` answers a token; every other POST streams the events its prompt asks for."""
    body = environ["wsgi.input"].read()
    if environ["PATH_INFO"] == "/token":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [TOKEN]
    shape = SHAPE.search(body)
    count, interval_ms, image_mb = (int(shape[1]), float(shape[2]), float(shape[3] or 0)) if shape else (2, 0.0, 0)
    start_response("200 OK", [("Content-Type", "text/event-stream")])
    return events(max(count, 1), interval_ms / 1000, image_mb)  # a generator: chunked, like Google's


class Handler(WSGIHandler):
    """pywsgi's handler, writing the headers with the first chunk and the last chunk with the body's end.

    pywsgi sends the headers, each chunk and the end of a chunked body separately: three TCP segments for a
    one-chunk answer. Direct, TCP_NODELAY sends each at once; a proxy relaying them without it (tinyproxy)
    holds the second until the client acknowledges the first, which it delays: 40 ms per answer that Google's
    frontends, which write an event's frame whole, would not cost (bench S1P)."""

    def process_result(self) -> None:
        """pywsgi's loop over the answer, its sends held until the chunk they belong with is written."""
        self.held = bytearray()
        result = self.result
        self.result = self._sending(result)
        try:
            super().process_result()
        finally:
            self.result = result
        self._flush()

    def _sending(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Each chunk, with what is held sent once it is written (not the last: the body's end joins it)."""
        for chunk in chunks:
            yield chunk
            if not isinstance(chunk, Last):
                self._flush()

    def _sendall(self, data: bytes) -> None:
        self.held += data

    def _flush(self) -> None:
        if self.held:
            data, self.held = bytes(self.held), bytearray()
            super()._sendall(data)


class Server(WSGIServer):
    """pywsgi with TCP_NODELAY: small event writes must not wait for Nagle and delayed ACKs (40 ms)."""

    handler_class = Handler

    def handle(self, sock: socket.socket, address: tuple) -> None:
        """Serve one connection with Nagle off."""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle(sock, address)


def main() -> None:
    """Serve on 127.0.0.1 until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", help="a PEM certificate: serve HTTPS (with --key)")
    parser.add_argument("--key", help="the certificate's PEM key")
    args = parser.parse_args()
    tls = {"certfile": args.cert, "keyfile": args.key} if args.cert else {}
    Server(("127.0.0.1", args.port), app, log=None, backlog=4096, **tls).serve_forever()


if __name__ == "__main__":
    main()
