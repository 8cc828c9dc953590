"""Thought signatures the gateway relayed on functionCall parts, remembered for the turns that replay them.

Gemini 3 refuses a history whose functionCall lost its signature, and many clients drop it
(google-generativeai's proto types, OpenAI-style adapters). A signature is keyed by conversation (the pool's
fingerprint: its first user text, the same in every turn), function name and arguments compared as JSON values.
SQLite shares them between the workers of a host, Redis between hosts; both forget them after TTL, and keep at
most LIMIT.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sqlite3
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from .store import OwnTable, Store

if TYPE_CHECKING:
    from .redis_state import RedisState

log = logging.getLogger(__name__)
TTL = 24 * 3600  # a conversation resumed after a day gets the sentinel instead
LIMIT = 20_000  # signatures kept (a few KB each): tens of MB at most
CHUNK = 500  # keys per SQL query, well under SQLite's bound on parameters


def call_key(session: str | None, call: dict) -> str:
    """The key of one functionCall in one conversation; conversations without a fingerprint (no user text long
    enough) share one space, where the call alone is the key: a real signature beats the sentinel."""
    identity = [session, call.get("name"), _canonical(call.get("args") or {})]
    return hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:32]


def _canonical(value: object) -> object:
    """JSON values as Google compares them: numbers are doubles (google-generativeai replays `3` as `3.0`)."""
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    try:
        number = float(value)
    except OverflowError:  # an integer no double holds: compared as written
        return value
    return int(number) if math.isfinite(number) and number.is_integer() else number


class Relayed:
    """The signatures on the functionCall parts of one answer, gathered as its events go by."""

    def __init__(self, session: str | None) -> None:
        self.session = session
        self.found: dict[str, str] = {}

    def watch(self, events: Iterator[dict]) -> Iterator[dict]:
        """The same events, their signed calls noted on the way."""
        for event in events:
            for call, signature in _signed_calls(event):
                self.found[call_key(self.session, call)] = signature
            yield event


def _signed_calls(event: dict) -> Iterator[tuple[dict, str]]:
    """(functionCall, thoughtSignature) of each signed call in an answer event."""
    try:
        parts = [part for c in event.get("candidates") or () for part in (c.get("content") or {}).get("parts") or ()]
    except (AttributeError, TypeError):  # an answer of another shape: relayed as it is, nothing to remember
        return
    for part in parts:
        if not isinstance(part, dict):
            continue
        call, signature = part.get("functionCall"), part.get("thoughtSignature")
        if isinstance(call, dict) and isinstance(signature, str) and signature:
            yield call, signature


class Signatures(Protocol):
    """Where relayed signatures are kept, for every worker (and host) that shares them."""

    def remember(self, signatures: dict[str, str]) -> None:
        """Keep signatures by key; called after the answer went out, never while it streams."""

    def recall(self, keys: list[str]) -> dict[str, str]:
        """The signatures known for these keys; {} when the shared state cannot be read."""


class SqliteSignatures(OwnTable):
    """A table in the store's database, through the store's own connection (one per process)."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS thought_signatures (
        key TEXT PRIMARY KEY, signature TEXT NOT NULL, expires REAL NOT NULL
    );
    CREATE INDEX IF NOT EXISTS thought_signatures_expiry ON thought_signatures (expires);
    """

    def __init__(self, store: Store, ttl: float = TTL, limit: int = LIMIT) -> None:
        super().__init__(store)
        self.ttl, self.limit = ttl, limit

    def remember(self, signatures: dict[str, str]) -> None:
        if not signatures:
            return
        now = self.store.clock()
        try:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            with conn:  # commits, or rolls back on an error
                conn.executemany(
                    "INSERT OR REPLACE INTO thought_signatures (key, signature, expires) VALUES (?, ?, ?)",
                    [(key, signature, now + self.ttl) for key, signature in signatures.items()],
                )
                conn.execute("DELETE FROM thought_signatures WHERE expires <= ?", (now,))
                # A replaced row gets a new rowid, so rowids follow writes: keep the newest `limit`.
                conn.execute(
                    "DELETE FROM thought_signatures WHERE rowid <= (SELECT MAX(rowid) FROM thought_signatures) - ?",
                    (self.limit,),
                )
        except sqlite3.Error as exc:  # a lost signature costs a sentinel later, never this answer
            log.warning("could not remember thought signatures: %s", exc)

    def recall(self, keys: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        now = self.store.clock()
        try:
            for start in range(0, len(keys), CHUNK):
                chunk = keys[start : start + CHUNK]
                rows = self.conn.execute(
                    "SELECT key, signature FROM thought_signatures "
                    f"WHERE expires > ? AND key IN ({','.join('?' * len(chunk))})",
                    (now, *chunk),
                )
                found.update((row[0], row[1]) for row in rows)
        except sqlite3.Error as exc:
            log.warning("could not read thought signatures: %s", exc)
        return found


# Each signature is a key expiring by itself; a sorted set of them by time bounds how many are kept.
# KEYS[1]: that set; ARGV: ttl, limit, now, then key, signature pairs.
REMEMBER = """
local ttl, limit, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 4, #ARGV, 2 do
    redis.call('SET', ARGV[i], ARGV[i + 1], 'EX', ttl)
    redis.call('ZADD', KEYS[1], now, ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
local excess = redis.call('ZCARD', KEYS[1]) - limit
if excess > 0 then
    for _, key in ipairs(redis.call('ZRANGE', KEYS[1], 0, excess - 1)) do
        redis.call('DEL', key)
    end
    redis.call('ZREMRANGEBYRANK', KEYS[1], 0, excess - 1)
end
"""


class RedisSignatures:
    """Signatures in Redis, seen by every host; while Redis is down none are known (the sentinel serves)."""

    PREFIX = "gateway:signature:"
    INDEX = "gateway:signatures"

    def __init__(self, state: RedisState, ttl: float = TTL, limit: int = LIMIT) -> None:
        self.state, self.ttl, self.limit = state, int(ttl), limit
        self._remember = state.redis.register_script(REMEMBER)

    def remember(self, signatures: dict[str, str]) -> None:
        if not signatures:
            return
        pairs = [item for key, signature in signatures.items() for item in (self.PREFIX + key, signature)]
        # The state's own outage handling: one warning, then Redis is left alone for a few seconds.
        args = [self.ttl, self.limit, self.state.clock(), *pairs]
        self.state._shared(lambda r: self._remember([self.INDEX], args, r))

    def recall(self, keys: list[str]) -> dict[str, str]:
        values = self.state._shared(lambda r: r.mget([self.PREFIX + key for key in keys])) if keys else None
        return {key: value.decode() for key, value in zip(keys, values or (), strict=False) if value is not None}
