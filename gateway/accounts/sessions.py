"""Cloud Code sessions: one per (account, conversation, generation), so no session outgrows Google's ceiling.

Cloud Code adds up the input of every request of one `request.sessionId`; past 1,048,576 tokens it answers every
request of that session with a 400 (upstream/answers.py SESSION_FULL). One session per account, the scheme
Antigravity-Manager dropped in v4.7.0 (#3411), let one long tool loop poison its account for everything. Here a
conversation (the pool's fingerprint) has its own session on each account, and when it fills up the generation is
bumped: a new session, for that conversation on that account, seen by every worker (SQLite) and host (Redis).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from typing import TYPE_CHECKING, Protocol

from .store import OwnTable, Store

if TYPE_CHECKING:
    from .redis_state import RedisState

log = logging.getLogger(__name__)
TTL = 24 * 3600  # a generation not bumped for a day is forgotten: Google's session has long expired by then


def session_key(email: str, conversation: str | None, generation: int) -> str:
    """What envelope.session_id hashes: Antigravity-Manager v4.7.0's account | fingerprint | generation."""
    return f"{email}|{conversation or ''}|{generation}"


def _key(email: str, conversation: str | None) -> str:
    return hashlib.sha256(f"{email}\x1f{conversation or ''}".encode()).hexdigest()[:32]


class Sessions(Protocol):
    """The generation of each (account, conversation), shared by every worker (and host)."""

    def generation(self, email: str, conversation: str | None) -> int:
        """The current generation (0 until one was started anew); 0 when the shared state cannot be read."""

    def rotate(self, email: str, conversation: str | None, seen: int) -> int:
        """Start the generation after `seen` (once, however many workers saw it fill up); the one now current."""


class SqliteSessions(OwnTable):
    """A table in the store's database, through the store's own connection (one per process)."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS session_generations (
        key TEXT PRIMARY KEY, generation INTEGER NOT NULL, expires REAL NOT NULL
    );
    """

    def __init__(self, store: Store, ttl: float = TTL) -> None:
        super().__init__(store)
        self.ttl = ttl

    def generation(self, email: str, conversation: str | None) -> int:
        try:
            row = self.conn.execute(
                "SELECT generation FROM session_generations WHERE key = ? AND expires > ?",
                (_key(email, conversation), self.store.clock()),
            ).fetchone()
        except sqlite3.Error as exc:  # a request goes on in the first session rather than fail
            log.warning("could not read a session generation: %s", exc)
            return 0
        return row[0] if row else 0

    def rotate(self, email: str, conversation: str | None, seen: int) -> int:
        now, key = self.store.clock(), _key(email, conversation)
        try:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            with conn:  # commits, or rolls back on an error
                conn.execute(
                    "INSERT INTO session_generations (key, generation, expires) VALUES (?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET generation = MAX(generation, excluded.generation), "
                    "expires = excluded.expires",
                    (key, seen + 1, now + self.ttl),
                )
                conn.execute("DELETE FROM session_generations WHERE expires <= ?", (now,))
                return conn.execute("SELECT generation FROM session_generations WHERE key = ?", (key,)).fetchone()[0]
        except sqlite3.Error as exc:  # this request still retries in the next session; others may not know it
            log.warning("could not store a new session generation: %s", exc)
            return seen + 1


# KEYS[1]: the generation's key; ARGV: the generation to start, ttl. The higher one wins: two workers that saw the
# same session fill up start one new session, not two.
ROTATE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local wanted = tonumber(ARGV[1])
if current < wanted then current = wanted end
redis.call('SET', KEYS[1], current, 'EX', tonumber(ARGV[2]))
return current
"""


class RedisSessions:
    """Generations in Redis, seen by every host; while Redis is down, this host's SQLite holds them."""

    PREFIX = "gateway:session:"

    def __init__(self, state: RedisState, local: SqliteSessions, ttl: float = TTL) -> None:
        self.state, self.local, self.ttl = state, local, int(ttl)
        self._rotate = state.redis.register_script(ROTATE)

    def generation(self, email: str, conversation: str | None) -> int:
        value = self.state._shared(lambda r: r.get(self.PREFIX + _key(email, conversation)), fallback=False)
        if value is False:  # Redis is down: what this host knows
            return self.local.generation(email, conversation)
        return int(value) if value is not None else 0

    def rotate(self, email: str, conversation: str | None, seen: int) -> int:
        local = self.local.rotate(email, conversation, seen)
        key = self.PREFIX + _key(email, conversation)
        shared = self.state._shared(lambda r: self._rotate([key], [seen + 1, self.ttl], r))
        return int(shared) if shared is not None else local
