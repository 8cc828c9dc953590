"""One request's journey: pick an account, send, fail over before the first byte, relay after it."""

from __future__ import annotations

import itertools
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TypeVar

import requests
import urllib3
from flask import Response

from . import metrics
from .accounts.geo import same_egress
from .accounts.pool import Pool, fingerprint
from .accounts.sessions import Sessions, session_key
from .accounts.signatures import Relayed, Signatures
from .accounts.store import Account
from .accounts.usage import UsageLog, token_counts
from .clock import Clock
from .errors import GatewayError, json_response, with_retry_delay
from .routing import Fallback, distinct
from .trace import Trace
from .upstream import envelope
from .upstream.client import UpstreamClient
from .upstream.errors import (
    AuthFailed,
    EmptyResponse,
    GeoBlocked,
    ProxyFailed,
    RateLimited,
    SessionFull,
    TransportFailed,
    UpstreamError,
    classify,
)
from .upstream.sse import collect, has_content, iter_lines, json_array, parse_events, sse_frames

log = logging.getLogger(__name__)
T = TypeVar("T")
Opened = tuple[list[dict], Iterator[dict], requests.Response]  # events read ahead, the rest, the upstream answer
# Both stream kinds: no proxy in between (nginx reads X-Accel-Buffering) may hold events back.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# What a broken upstream stream raises while we read it.
STREAM_FAILURES = (requests.RequestException, urllib3.exceptions.HTTPError, OSError)


class Relay:
    def __init__(
        self,
        pool: Pool,
        client: UpstreamClient,
        usage: UsageLog,
        max_attempts: int,
        label: Callable[[str], str],
        signatures: Signatures,
        sessions: Sessions,
    ) -> None:
        self.pool = pool
        self.client = client
        self.usage = usage
        self.max_attempts = max_attempts
        self.label = label  # how an account appears in logs
        self.signatures = signatures
        self.sessions = sessions

    def generate(
        self,
        model: str,
        body: dict,
        stream: bool,
        sse: bool,
        trace: Trace,
        session: str | None,
        fallbacks: tuple[Fallback, ...] = (),
    ) -> Response:
        """generateContent (assembled from the upstream stream) or streamGenerateContent; by a fallback
        model when every account is cooling down or out of quota for `model`."""
        relayed = Relayed(session)  # the functionCall signatures of the answer, kept once it is relayed
        fallbacks = distinct(model, fallbacks)
        bodies = {model: body, **{fallback.model: fallback.body for fallback in fallbacks}}

        def send(account: Account, served: str, generation: int) -> Opened:
            wrapped = envelope.wrap_generate(
                bodies[served],
                served,
                account.project,
                session_key(account.email, session, generation),
                self.client.user_agent,
                self.client.clock,
            )
            client = self.pool.client_for(account)
            upstream = client.call("streamGenerateContent", account.access_token, wrapped, stream=True)
            trace.upstream = _origin(upstream.url)
            events = relayed.watch(_events(upstream))
            try:
                held = _until_content(events, self.client.clock)
            except BaseException:
                upstream.close()
                raise
            return held, events, upstream

        def open_stream(account: Account, served: str) -> Opened:
            generation = self.sessions.generation(account.email, session)
            try:
                return send(account, served, generation)
            except SessionFull:  # this conversation's session on this account is full: once more, in a new one
                trace.rotated_session()
                return send(account, served, self.sessions.rotate(account.email, session, generation))

        if not stream:

            def assemble(account: Account, served: str) -> dict:
                held, events, upstream = open_stream(account, served)
                with upstream:
                    return collect([*held, *events])

            account, served, answer = self._with_failover(model, session, assemble, trace, fallbacks)
            tokens = token_counts(answer.get("usageMetadata"))
            self.usage.record(account.id, served, 200, tokens=tokens)
            trace.tokens_in, trace.tokens_out = tokens
            # Kept before the answer leaves: the client's next turn may follow at once, on another worker.
            self.signatures.remember(relayed.found)
            return json_response(answer)

        account, served, (held, events, upstream) = self._with_failover(model, session, open_stream, trace, fallbacks)
        trace.deferred = True  # the stream outlives this view: its generator tells how it ended

        def finished(usage: dict | None, error: GatewayError | None) -> None:
            status, message = (error.code, error.message) if error else (200, "")
            tokens = token_counts(usage)
            self.usage.record(account.id, served, status, message, tokens)
            trace.tokens_in, trace.tokens_out = tokens
            trace.finish(status)
            # After the last event, before the stream's end reaches the client (and its next turn leaves).
            self.signatures.remember(relayed.found)

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

        def count(account: Account, _model: str) -> dict:
            with self.pool.client_for(account).call("countTokens", account.access_token, wrapped) as upstream:
                trace.upstream = _origin(upstream.url)
                answer = envelope.unwrap(upstream.json())
            if not isinstance(answer, dict) or "totalTokens" not in answer:
                raise EmptyResponse()
            return answer

        account, _, answer = self._with_failover(model, fingerprint(body), count, trace)
        self.usage.record(account.id, model, 200)
        return json_response(answer)

    def _with_failover(
        self,
        model: str,
        session: str | None,
        send: Callable[[Account, str], T],
        trace: Trace,
        fallbacks: tuple[Fallback, ...] = (),
    ) -> tuple[Account, str, T]:
        """`send` on one account (and model) after another until one answers; the last real error otherwise.

        Returns the account, the model that served and the answer. An account is never tried twice for one
        model; it may still serve a fallback model when the model it failed for is cooling down. Each model
        of the chain gets its own `max_attempts`: a chain reaches its end even when the first models' tries
        were all spent on 429s.
        """
        names = {fallback.model: fallback.name for fallback in fallbacks}
        tried: set[tuple[int, str]] = set()
        attempts: Counter[str] = Counter()
        blocked: set[tuple[int, str]] = set()  # behind an egress Google refused: no use trying, not tried either
        last: GatewayError | None = None
        down: dict[str, str] = {}  # proxies that failed this request: host:port -> what happened
        while open_models := [m for m in (model, *names) if attempts[m] < self.max_attempts]:
            try:
                account, snapshot, served = self.pool.pick(
                    open_models[0], session, tried | blocked, tuple(open_models[1:])
                )
            except GatewayError as exc:
                raise _final(last or exc, down) from None
            tried.add((account.id, served))
            attempts[served] += 1
            try:
                result = self._send_fresh(account, served, send)
            except GatewayError as exc:
                self.usage.record(account.id, served, exc.code, exc.message)
                trace.attempted(self.label(account.email), exc.code, account.email)
                if isinstance(exc, GeoBlocked):  # the egress's fault: on to an account that leaves by another
                    self.pool.geo_blocked(account)
                    behind = same_egress(account, snapshot.accounts, self.pool.egresses.settings)
                    blocked |= {(i, served) for i in behind}
                    last = exc
                    continue
                if not getattr(exc, "retry_elsewhere", False):
                    raise
                self.pool.failed(account, served, exc)
                if isinstance(exc, ProxyFailed):
                    down[exc.proxy] = exc.message
                last = exc
                continue
            self.pool.succeeded(account, served, snapshot)
            trace.attempted(self.label(account.email), 200, account.email)
            if served != model:
                trace.served_by(names[served])
            return account, served, result
        raise _final(last, down)

    def _send_fresh(self, account: Account, model: str, send: Callable[[Account, str], T]) -> T:
        account = self.pool.credentials(account)
        try:
            return send(account, model)
        except AuthFailed:  # the token was revoked early: refresh once, then try again
            return send(self.pool.credentials(account, force=True), model)


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.partition('/')[0]}"


def _final(error: GatewayError, down: dict[str, str]) -> GatewayError:
    """The error the client gets; a 429 always says when to come back; proxies that failed are all named."""
    if isinstance(error, ProxyFailed) and len(down) > 1:
        return GatewayError(503, "No account could reach Google: " + " ".join(down.values()), status="UNAVAILABLE")
    if isinstance(error, RateLimited):
        return with_retry_delay(error, error.retry_after or 1)
    return error


def _events(upstream: requests.Response) -> Iterator[dict]:
    """Unwrapped upstream events; a transport failure while reading becomes TransportFailed."""
    try:
        yield from parse_events(iter_lines(upstream.raw))
    except STREAM_FAILURES as exc:
        raise TransportFailed(f"The upstream stream broke off ({type(exc).__name__}).") from None


def _until_content(events: Iterator[dict], clock: Clock) -> list[dict]:
    """Read ahead to the first event with content, so failures before it can still fail over."""
    held = []
    for event in events:
        if "error" in event:
            error = event["error"] if isinstance(event["error"], dict) else {"message": str(event["error"])}
            raise classify(int(error.get("code") or 500), json.dumps({"error": error}), clock=clock)
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
