"""Team keys and their counters in the gateway's SQLite file (WAL), shared by every worker and the CLI."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from ..accounts.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS team_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL,
    rpm INTEGER,
    daily_tokens INTEGER,
    models TEXT NOT NULL DEFAULT '[]',
    last_used REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS team_key_hits (key_id INTEGER NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS team_key_hits_by_key ON team_key_hits (key_id, at);
CREATE TABLE IF NOT EXISTS team_key_usage (
    key_id INTEGER NOT NULL,
    day TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    tokens_in INTEGER NOT NULL DEFAULT 0,
    tokens_out INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, day)
);
"""
KEY_PREFIX = "gk-"  # recognisable in a config file or a leaked paste, like Google's "AIza"
PREFIX_LENGTH = 8  # what `keys list` shows of a key, enough to tell keys apart


class NameTaken(ValueError):
    """A team key with this name exists already."""


@dataclass(frozen=True)
class TeamKey:
    id: int
    name: str
    hash: str = field(repr=False)
    prefix: str
    created: float
    expires: float | None = None
    rpm: int | None = None
    daily_tokens: int | None = None
    models: tuple[str, ...] = ()
    last_used: float = 0.0

    def expired(self, now: float) -> bool:
        return self.expires is not None and self.expires <= now

    def allows(self, model: str) -> bool:
        """Whether the key may use this model: no patterns means every model."""
        return not self.models or any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models)


@dataclass
class KeyTally:
    """One key's use on one UTC day, counted in memory until the next flush."""

    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    last_used: float = 0.0


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def digest(key: str) -> str:
    # A plain SHA-256 is right for these keys: 256 random bits cannot be guessed, so a slow password hash
    # (bcrypt, scrypt) would add nothing but milliseconds to every request. It is not for human passwords.
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """Team keys, sliding-window hits and daily usage, in their own tables of the accounts' SQLite file."""

    errors = (sqlite3.Error,)  # what a failing store raises: the gateway logs it and keeps serving

    def __init__(self, accounts: Store) -> None:
        self.accounts = accounts  # opens the file (private, WAL) for us
        self.clock = accounts.clock  # one clock for limits, usage, pruning and expiry: the file's
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._lock = threading.RLock()

    @property
    def conn(self) -> sqlite3.Connection:
        # A connection of its own: commits here (a hit per request) must not invalidate the accounts'
        # snapshot cache, which reloads whenever its own connection commits.
        if self._conn is None or self._pid != os.getpid():
            self._conn, self._pid = self.accounts.connect(), os.getpid()
            self._conn.executescript(SCHEMA)
        return self._conn

    def close(self) -> None:
        """Close this process's connection (one must not cross gunicorn's fork)."""
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")  # takes the write lock first: no two workers count at once
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def create(self, key: TeamKey) -> TeamKey:
        try:
            with self._write() as conn:
                cursor = conn.execute(
                    "INSERT INTO team_keys (name, hash, prefix, created, expires, rpm, daily_tokens, models) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        key.name,
                        key.hash,
                        key.prefix,
                        key.created,
                        key.expires,
                        key.rpm,
                        key.daily_tokens,
                        json.dumps(list(key.models)),
                    ),
                )
        except sqlite3.IntegrityError:
            raise NameTaken(key.name) from None
        return replace(key, id=cursor.lastrowid)

    def all_keys(self) -> tuple[TeamKey, ...]:
        with self._lock:
            return tuple(_key(row) for row in self.conn.execute("SELECT * FROM team_keys ORDER BY id"))

    def revoke(self, key_id: int) -> None:
        with self._write() as conn:
            for table in ("team_keys WHERE id", "team_key_hits WHERE key_id", "team_key_usage WHERE key_id"):
                conn.execute(f"DELETE FROM {table} = ?", (key_id,))  # table names are ours, not input

    def take_slot(self, key_id: int, now: float, window: float, limit: int) -> float | None:
        """Count a request unless `limit` were counted in the last `window` s; else when the oldest was."""
        with self._write() as conn:
            conn.execute("DELETE FROM team_key_hits WHERE key_id = ? AND at <= ?", (key_id, now - window))
            count, oldest = conn.execute(
                "SELECT COUNT(*), MIN(at) FROM team_key_hits WHERE key_id = ?", (key_id,)
            ).fetchone()
            if count >= limit:
                return oldest
            conn.execute("INSERT INTO team_key_hits (key_id, at) VALUES (?, ?)", (key_id, now))
        return None

    def tokens_on(self, key_id: int, day: str) -> int:
        with self._lock:
            row = self.conn.execute(
                "SELECT tokens_in + tokens_out FROM team_key_usage WHERE key_id = ? AND day = ?", (key_id, day)
            ).fetchone()
        return row[0] if row else 0

    def add_usage(self, tallies: dict[tuple[int, str], KeyTally]) -> None:
        with self._write() as conn:
            for (key_id, day), tally in tallies.items():
                conn.execute(
                    "INSERT INTO team_key_usage (key_id, day, requests, tokens_in, tokens_out) "
                    "SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM team_keys WHERE id = ?) "
                    "ON CONFLICT(key_id, day) DO UPDATE SET requests = requests + excluded.requests, "
                    "tokens_in = tokens_in + excluded.tokens_in, tokens_out = tokens_out + excluded.tokens_out",
                    (key_id, day, tally.requests, tally.tokens_in, tally.tokens_out, key_id),
                )
                conn.execute(
                    "UPDATE team_keys SET last_used = MAX(last_used, ?) WHERE id = ?", (tally.last_used, key_id)
                )
            # Days before yesterday are never read again.
            conn.execute("DELETE FROM team_key_usage WHERE day < date(?, 'unixepoch', '-1 day')", (self.clock(),))

    def usage_on(self, day: str) -> dict[int, dict[str, int]]:
        with self._lock:
            rows = self.conn.execute("SELECT * FROM team_key_usage WHERE day = ?", (day,)).fetchall()
        return {row["key_id"]: {k: row[k] for k in ("requests", "tokens_in", "tokens_out")} for row in rows}


def _key(row: sqlite3.Row) -> TeamKey:
    return TeamKey(
        id=row["id"],
        name=row["name"],
        hash=row["hash"],
        prefix=row["prefix"],
        created=row["created"],
        expires=row["expires"],
        rpm=row["rpm"],
        daily_tokens=row["daily_tokens"],
        models=tuple(json.loads(row["models"])),
        last_used=row["last_used"],
    )
