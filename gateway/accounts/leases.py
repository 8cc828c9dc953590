"""Leases: a named job taken by one worker of one host at a time, for a while (the background models refresh).

A lease is never given back: it lapses after its seconds, so a worker that dies holding one delays the job by that
much and no more. SQLite: a row per lease in the store's database, for every worker of the host; Redis: `SET NX`
with an expiry, for every host.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING, Protocol

from .store import OwnTable

if TYPE_CHECKING:
    from .redis_state import RedisState

log = logging.getLogger(__name__)


class Leases(Protocol):
    def take(self, name: str, seconds: float) -> bool:
        """Whether this worker now holds `name` for `seconds`; False while another holds it."""


class SqliteLeases(OwnTable):
    SCHEMA = "CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, until REAL NOT NULL);"

    def take(self, name: str, seconds: float) -> bool:
        now = self.store.clock()
        try:
            taken = self.conn.execute(
                "INSERT INTO leases (name, until) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET until = excluded.until WHERE leases.until <= ?",
                (name, now + seconds, now),
            )
        except sqlite3.Error as exc:  # a database that takes no writes: the job waits for one that does
            log.warning("could not take the lease %s: %s", name, exc)
            return False
        return taken.rowcount == 1


class RedisLeases:
    """Leases every host sees; while Redis is down, this host's (so each host may run the job once meanwhile)."""

    PREFIX = "gateway:lease:"

    def __init__(self, state: RedisState, local: SqliteLeases) -> None:
        self.state, self.local = state, local

    def take(self, name: str, seconds: float) -> bool:
        # redis-py answers None when NX finds the key taken; _shared answers None when Redis is down.
        taken = self.state._shared(lambda r: r.set(self.PREFIX + name, 1, nx=True, px=int(seconds * 1000)) is True)
        return self.local.take(name, seconds) if taken is None else taken
