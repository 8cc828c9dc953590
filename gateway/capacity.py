"""Answers 503 at once when this worker is nearly full, instead of leaving a new connection unaccepted.

gunicorn's gevent worker stops accepting once it holds `worker_connections` connections: the next client then
waits in the listen backlog (a hang) until the kernel or nginx gives up (a reset). So the gateway admits
requests only up to a little below that limit and keeps the rest as headroom, where a refusal can still be
accepted and written in full.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Flask
from werkzeug.wsgi import ClosingIterator

from . import metrics
from .codec import dumps_line
from .errors import GatewayError, with_retry_delay

# A refusal asks the client to come back once a few streams have ended; streams last seconds to minutes.
RETRY_AFTER = 5
# Quick reads an operator needs most when the host is full: served from the headroom.
ALWAYS_SERVED = ("/healthz", "/metrics")


def admitted(worker_connections: int) -> int:
    """Requests one worker serves at once: all but 2% of its connections (at least one kept for refusals)."""
    return max(1, worker_connections - max(1, worker_connections // 50))


class Capacity:
    """WSGI middleware counting this worker's requests in flight (a stream counts until its last byte)."""

    def __init__(self, app: Callable, worker_connections: int) -> None:
        self.app = app
        self.limit = admitted(worker_connections)
        self.open = 0  # greenlets switch only at I/O: no lock needed

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in ALWAYS_SERVED:
            return self.app(environ, start_response)
        if self.full:
            metrics.REFUSED.inc()
            return _refuse(start_response)
        self.open += 1
        metrics.OPEN_REQUESTS.inc()
        try:
            body = self.app(environ, start_response)
        except BaseException:
            self._release()
            raise
        return ClosingIterator(body, self._release)  # the server closes it after the last byte, or on a drop

    @property
    def full(self) -> bool:
        return self.open >= self.limit

    def _release(self) -> None:
        self.open -= 1
        metrics.OPEN_REQUESTS.dec()


def _refuse(start_response: Callable) -> list[bytes]:
    error = with_retry_delay(
        GatewayError(503, "The gateway is serving as many requests as it can hold; retry shortly."), RETRY_AFTER
    )
    body = dumps_line(error.body())
    start_response(
        "503 Service Unavailable",
        [
            ("Content-Type", "application/json; charset=UTF-8"),
            ("Content-Length", str(len(body))),
            *error.headers.items(),
        ],
    )
    return [body]


def close_when_full(app: object, request: object) -> None:
    """gunicorn's pre_request hook: when the worker is full, the connection closes after its answer (the
    refusal), so an idle keep-alive connection never holds one of the slots kept for refusals."""
    capacity = getattr(app, "wsgi_app", None)
    if isinstance(capacity, Capacity) and capacity.full:
        request.must_close = True  # what gunicorn's own Request.should_close() reads


def init_app(app: Flask) -> None:
    app.wsgi_app = Capacity(app.wsgi_app, app.extensions["gateway"].settings.worker_connections)
