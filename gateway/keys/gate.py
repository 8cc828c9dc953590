"""Team keys as the auth hook meets them: found by hash, limited, charged for what they used."""

from __future__ import annotations

import logging
import time
from typing import Protocol

from flask import g, request

from ..api.target import MODEL_ID, split_target
from ..catalog import Catalog
from ..errors import GatewayError
from .limiter import Counters, Limiter, utc_day
from .store import KeyTally, TeamKey, digest
from .usage import KeyUsage

log = logging.getLogger(__name__)
CACHE_SECONDS = 1.0  # how stale a worker's view of the keys may be: a revocation holds everywhere within it
RETRY_AFTER = 3.0  # seconds without limit checks after the store failed, before trying it again
MISS_RELOAD = 0.1  # an unknown key re-reads the keys at most this often, so a new key works at once


class KeyBackend(Counters, Protocol):
    errors: tuple[type[Exception], ...]

    def all_keys(self) -> tuple[TeamKey, ...]: ...

    def add_usage(self, tallies: dict[tuple[int, str], KeyTally]) -> None: ...


class Keys:
    def __init__(self, backend: KeyBackend) -> None:
        self.backend = backend
        self.limiter = Limiter(backend)
        self.usage = KeyUsage(backend, backend.errors)
        self._by_hash: dict[str, TeamKey] = {}
        self._loaded = -CACHE_SECONDS
        self._down_until = 0.0

    def _table(self, max_age: float = CACHE_SECONDS) -> dict[str, TeamKey]:
        """Every key by hash, re-read when older than `max_age`: no store read per request."""
        now = time.monotonic()
        if now - self._loaded >= max_age:
            try:
                self._by_hash = {key.hash: key for key in self.backend.all_keys()}
            except self.backend.errors as exc:  # keep serving from the keys last seen
                log.warning("could not read team keys: %s", exc)
            self._loaded = now
        return self._by_hash

    def exist(self) -> bool:
        # Asked by keyless requests in auto mode: while none is known, look again (at most ten times a second)
        # so a key made a moment ago turns auth on at once, as identify() finds it at once.
        return bool(self._table()) or bool(self._table(MISS_RELOAD))

    def identify(self, presented: list[str]) -> TeamKey | None:
        """The live team key among those presented, if any (revoked and expired ones are unknown)."""
        digests, now = [digest(candidate) for candidate in presented], self.backend.clock()
        # A dict lookup by digest, not a compare of secrets: its timing tells nothing about a key. An unknown
        # digest may be a key made a moment ago: look again, at most ten times a second whatever clients send.
        for table in (self._table(), self._table(MISS_RELOAD)):
            found = [key for d in digests if (key := table.get(d)) is not None and not key.expired(now)]
            if found:
                return found[0]
        return None

    def admit(self, key: TeamKey) -> None:
        """Count one request of the key, or raise its 429.

        A store that fails (Redis gone, SQLite locked past its timeout) lets requests pass unlimited for a few
        seconds rather than stalling or refusing them all: limits are fairness, the pool's own quota is the
        hard cap. Logged once per outage."""
        if time.monotonic() < self._down_until:
            return
        try:
            self.limiter.admit(key, self.usage.pending_tokens(key.id, utc_day(self.backend.clock())))
        except self.backend.errors as exc:
            log.warning("team key limits unchecked for %.0f s: the store failed (%s)", RETRY_AFTER, exc)
            self._down_until = time.monotonic() + RETRY_AFTER

    def charge(self, key: TeamKey, tokens_in: int, tokens_out: int) -> None:
        self.usage.record(key.id, tokens_in, tokens_out)


def current_key() -> TeamKey | None:
    """The team key this request came with (None: the admin key, or auth off)."""
    return g.get("team_key")


def check_model(model: str) -> None:
    """Refuse, with 403, a model the request's team key may not use."""
    key = current_key()
    if key is not None and not key.allows(model):
        raise GatewayError(
            403, f"Team key {key.name!r} may not use models/{model}; it may use {', '.join(key.models)}."
        )


def check_requested_model(catalog: Catalog) -> None:
    """Refuse a model the request's team key may not use before the request counts against the key's limits:
    the 403 is the permanent reason, where a 429 would have the client retry what can never succeed.

    Checks what the view will check, where it will: the id served for a POST (aliases applied), the id asked
    for a GET. A malformed or unknown id is left to the view (400, 404)."""
    target = (request.view_args or {}).get("target")
    if target is None or request.method not in ("GET", "POST"):
        return
    model, _ = split_target(target)
    if not MODEL_ID.fullmatch(model):
        return
    if request.method == "POST":
        served = catalog.serve(model)
        if served is not None:
            check_model(served)
    elif catalog.get(model) is not None:
        check_model(model)


def visible(models: list[dict]) -> list[dict]:
    """The catalog entries the request's team key may use."""
    key = current_key()
    if key is None or not key.models:
        return models
    return [entry for entry in models if key.allows(entry["name"].removeprefix("models/"))]
