"""One request's journey: pick an account, send, fail over before the first byte, relay after it."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterator
from typing import TypeVar

import requests
import urllib3
from flask import Response

from . import metrics
from .accounts.pool import Pool, fingerprint
from .accounts.store import Account
from .accounts.usage import UsageLog, token_counts
from .errors import GatewayError, json_response, with_retry_delay
from .trace import Trace
from .upstream import envelope
from .upstream.client import UpstreamClient
from .upstream.errors import AuthFailed, EmptyResponse, RateLimited, TransportFailed, UpstreamError, classify
from .upstream.sse import collect, has_content, iter_lines, json_array, parse_events, sse_frames

log = logging.getLogger(__name__)
T = TypeVar("T")
# Both stream kinds: no proxy in between (nginx reads X-Accel-Buffering) may hold events back.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# What a broken upstream stream raises while we read it.
STREAM_FAILURES = (requests.RequestException, urllib3.exceptions.HTTPError, OSError)


class Relay:
    def __init__(
        self, pool: Pool, client: UpstreamClient, usage: UsageLog, max_attempts: int, label: Callable[[str], str]
    ) -> None:
        self.pool = pool
        self.client = client
        self.usage = usage
        self.max_attempts = max_attempts
        self.label = label  # how an account appears in logs

    def generate(self, model: str, body: dict, stream: bool, sse: bool, trace: Trace) -> Response:
        """generateContent (assembled from the upstream stream) or streamGenerateContent."""

        def open_stream(account: Account) -> tuple[list[dict], Iterator[dict], requests.Response]:
            wrapped = envelope.wrap_generate(body, model, account.project, account.email)
            upstream = self.client.call("streamGenerateContent", account.access_token, wrapped, stream=True)
            trace.upstream = _origin(upstream.url)
            events = _events(upstream)
            try:
                held = _until_content(events)
            except BaseException:
                upstream.close()
                raise
            return held, events, upstream

        if not stream:

            def assemble(account: Account) -> dict:
                held, events, upstream = open_stream(account)
                with upstream:
                    return collect([*held, *events])

            account, answer = self._with_failover(model, body, assemble, trace)
            tokens = token_counts(answer.get("usageMetadata"))
            self.usage.record(account.id, model, 200, tokens=tokens)
            trace.tokens_in, trace.tokens_out = tokens
            return json_response(answer)

        account, (held, events, upstream) = self._with_failover(model, body, open_stream, trace)
        trace.deferred = True  # the stream outlives this view: its generator tells how it ended

        def finished(usage: dict | None, error: GatewayError | None) -> None:
            status, message = (error.code, error.message) if error else (200, "")
            tokens = token_counts(usage)
            self.usage.record(account.id, model, status, message, tokens)
            trace.tokens_in, trace.tokens_out = tokens
            trace.finish(status)

        writer, content_type = (sse_frames, "text/event-stream") if sse else (json_array, "application/json")
        response = Response(
            writer(_committed(held, events, trace, finished)),
            content_type=content_type,
            headers=STREAM_HEADERS,
        )
        # Closing the response (end of stream or client gone) closes the upstream socket at once.
        response.call_on_close(upstream.close)
        return response

    def count_tokens(self, model: str, body: dict, trace: Trace) -> Response:
        """countTokens answered by upstream with its real count."""
        wrapped = envelope.wrap_count_tokens(body, model)

        def count(account: Account) -> dict:
            with self.client.call("countTokens", account.access_token, wrapped) as upstream:
                trace.upstream = _origin(upstream.url)
                answer = envelope.unwrap(upstream.json())
            if not isinstance(answer, dict) or "totalTokens" not in answer:
                raise EmptyResponse()
            return answer

        account, answer = self._with_failover(model, body, count, trace)
        self.usage.record(account.id, model, 200)
        return json_response(answer)

    def _with_failover(self, model: str, body: dict, send: Callable[[Account], T], trace: Trace) -> tuple[Account, T]:
        """`send` on one account after another until one answers; the last real error otherwise."""
        session = fingerprint(body)
        tried: set[int] = set()
        last: GatewayError | None = None
        while len(tried) < self.max_attempts:
            try:
                account, snapshot = self.pool.pick(model, session, tried)
            except GatewayError as exc:
                raise _final(last or exc) from None
            tried.add(account.id)
            try:
                result = self._send_fresh(account, send)
            except GatewayError as exc:
                self.usage.record(account.id, model, exc.code, exc.message)
                trace.attempted(self.label(account.email), exc.code, account.email)
                if not getattr(exc, "retry_elsewhere", False):
                    raise
                self.pool.failed(account, model, exc)
                last = exc
                continue
            self.pool.succeeded(account, model, snapshot)
            trace.attempted(self.label(account.email), 200, account.email)
            return account, result
        raise _final(last)

    def _send_fresh(self, account: Account, send: Callable[[Account], T]) -> T:
        account = self.pool.credentials(account)
        try:
            return send(account)
        except AuthFailed:  # the token was revoked early: refresh once, then try again
            return send(self.pool.credentials(account, force=True))


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.partition('/')[0]}"


def _final(error: GatewayError) -> GatewayError:
    """The error the client gets; a 429 always says when to come back."""
    if isinstance(error, RateLimited):
        return with_retry_delay(error, error.retry_after or 1)
    return error


def _events(upstream: requests.Response) -> Iterator[dict]:
    """Unwrapped upstream events; a transport failure while reading becomes TransportFailed."""
    try:
        yield from parse_events(iter_lines(upstream.raw))
    except STREAM_FAILURES as exc:
        raise TransportFailed(f"The upstream stream broke off ({type(exc).__name__}).") from None


def _until_content(events: Iterator[dict]) -> list[dict]:
    """Read ahead to the first event with content, so failures before it can still fail over."""
    held = []
    for event in events:
        if "error" in event:
            error = event["error"] if isinstance(event["error"], dict) else {"message": str(event["error"])}
            raise classify(int(error.get("code") or 500), json.dumps({"error": error}))
        held.append(event)
        if has_content(event):
            return held
    raise EmptyResponse()


def _committed(
    held: list[dict],
    events: Iterator[dict],
    trace: Trace,
    finished: Callable[[dict | None, GatewayError | None], None],
) -> Iterator[dict]:
    """The events after commit; a failure now can only end the stream, with one Gemini error event."""
    usage, error = None, None
    metrics.OPEN_STREAMS.inc()
    try:
        for event in itertools.chain(held, events):
            trace.first_byte()
            usage = event.get("usageMetadata", usage)
            if "error" in event:
                error = GatewayError(int(event["error"].get("code") or 500), str(event["error"].get("message")))
            yield event
            if error:
                return
    except UpstreamError as exc:
        log.warning("upstream stream failed after the first byte: %s", exc.message)
        error = exc
        yield exc.body()
    finally:
        # Also reached when the client leaves mid-stream (GeneratorExit at a yield).
        metrics.OPEN_STREAMS.dec()
        finished(usage, error)
