"""What one request did, told once when it ends: one structured log line, and the metrics.

Never a token, a key or prompt text: only ids, counts, statuses and times.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields

from flask import Flask, Response, current_app, g, request

from . import metrics
from .logs import configure_logging
from .request_id import current as current_request_id

log = logging.getLogger("gateway.request")
# Operator routes: not requests the console lists among the last ones (it would list its own polling).
UNLISTED = ("/console", "/healthz", "/health", "/metrics")


@dataclass
class Trace:
    request_id: str
    method: str
    path: str
    model: str = ""
    stream: bool = False
    attempts: int = 0
    account: str = ""
    upstream: str = ""
    upstream_status: int | None = None
    status: int | None = None
    ttfb_ms: float | None = None
    duration_ms: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    fallback_from: str = ""  # the model asked for, when a fallback (GATEWAY_MODEL_FALLBACKS) served instead
    key: str = ""  # who asked: a team key's name, "admin" for GATEWAY_API_KEY, "" with auth off
    session_rotated: bool = False  # Cloud Code's session filled up: retried in a new one (accounts/sessions.py)
    started: float = field(default_factory=time.monotonic, repr=False)
    deferred: bool = field(default=False, repr=False)  # a stream: its generator finishes the trace
    charge: Callable[[int, int], None] | None = field(default=None, repr=False)  # bills a team key's tokens
    email: str = field(default="", repr=False)  # the account's email, for the console only: never logged
    on_finish: Callable[[Trace], None] | None = field(default=None, repr=False)

    def attempted(self, account: str, status: int, email: str) -> None:
        """One upstream attempt: which account (already anonymised, and its email), what Google answered."""
        self.attempts += 1
        self.account, self.email, self.upstream_status = account, email, status
        metrics.labelled(metrics.ATTEMPTS, _outcome(status)).inc()
        if self.attempts > 1:
            metrics.FAILOVERS.inc()

    def served_by(self, model: str) -> None:
        """A fallback model served: the log line's `model` is that one, and the pair is counted."""
        metrics.labelled(metrics.FALLBACKS, self.model, model).inc()
        self.fallback_from, self.model = self.model, model

    def rotated_session(self) -> None:
        self.session_rotated = True
        metrics.SESSION_ROTATIONS.inc()

    def first_byte(self) -> None:
        if self.ttfb_ms is None:
            self.ttfb_ms = round((time.monotonic() - self.started) * 1000, 1)
            metrics.TTFB.observe(self.ttfb_ms / 1000)

    def finish(self, status: int) -> None:
        self.first_byte()
        self.status = status
        self.duration_ms = round((time.monotonic() - self.started) * 1000, 1)
        metrics.labelled(metrics.REQUESTS, self.model or "-", str(status), self.key).inc()
        metrics.DURATION.observe(self.duration_ms / 1000)
        for direction, tokens in (("in", self.tokens_in), ("out", self.tokens_out)):
            if tokens:
                metrics.labelled(metrics.TOKENS, direction).inc(tokens)
                if self.key:
                    metrics.labelled(metrics.KEY_TOKENS, self.key, direction).inc(tokens)
        if self.charge is not None:
            self.charge(self.tokens_in, self.tokens_out)
        # A shallow read of the fields: dataclasses.asdict deep-copies, a tenth of a millisecond per request.
        fields = {name: getattr(self, name) for name in LOGGED}
        log.info("%s %s %s", self.method, self.path, status, extra={"fields": fields})
        if self.on_finish is not None:
            self.on_finish(self)


LOGGED = tuple(f.name for f in fields(Trace) if f.repr)


@functools.lru_cache(maxsize=1024)
def account_label(email: str, how: str) -> str:
    """An account as logs show it: hashed (default), shortened, or the plain email."""
    if how == "email":
        return email
    if how == "short":
        name, _, domain = email.partition("@")
        return f"{name[:2]}…@{domain}"
    return hashlib.sha256(email.encode()).hexdigest()[:12]


def _outcome(status: int) -> str:
    return {200: "ok", 401: "unauthenticated", 403: "forbidden", 429: "rate_limited"}.get(
        status, "server_error" if status >= 500 else "client_error"
    )


def _start() -> None:
    trace = g.trace = Trace(current_request_id(), request.method, request.path)
    if request.method != "OPTIONS" and not request.path.startswith(UNLISTED):
        trace.on_finish = current_app.extensions["gateway"].activity.add


def _end(response: Response) -> Response:
    trace: Trace | None = g.get("trace")
    if trace is not None and not trace.deferred:
        # Told once the last byte is sent (WSGI close): the client never waits for the log line and metrics.
        response.call_on_close(functools.partial(trace.finish, response.status_code))
    return response


def init_app(app: Flask, log_format: str) -> None:
    configure_logging(log_format)
    app.before_request(_start)
    app.after_request(_end)
