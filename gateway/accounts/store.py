"""Account state in one SQLite file (WAL), shared by every worker process and the CLI."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..clock import SYSTEM_CLOCK, Clock

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    refresh_token TEXT NOT NULL,
    access_token TEXT NOT NULL DEFAULT '',
    token_expiry REAL NOT NULL DEFAULT 0,
    refresh_lock_until REAL NOT NULL DEFAULT 0,
    refresh_lock_pid INTEGER NOT NULL DEFAULT 0,
    project TEXT NOT NULL DEFAULT '',
    tier TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT NOT NULL DEFAULT '',
    models TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    last_used REAL NOT NULL DEFAULT 0,
    quota_groups TEXT NOT NULL DEFAULT '[]',
    proxy TEXT
);
CREATE TABLE IF NOT EXISTS cooldowns (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    until REAL NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    strikes INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (account_id, model)
);
CREATE TABLE IF NOT EXISTS usage (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    failures TEXT NOT NULL DEFAULT '{}',
    tokens_in INTEGER NOT NULL DEFAULT 0,
    tokens_out INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    last_used REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, model)
);
"""
# The pool's snapshot reloads when what it holds changes, and only then: the same file also takes writes for
# other things (team-key hits and thought signatures per request, usage and last use once a second), which moved
# SQLite's data_version and made every worker re-read every account on nearly every request. An account's
# last use and refresh lock are not what the pool decides on: their changes alone do not reload it.
SNAPSHOT_COLUMNS = (
    "email, refresh_token, access_token, token_expiry, project, tier, enabled, disabled_reason, models, proxy"
)
GENERATION = f"""
CREATE TABLE IF NOT EXISTS generation (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
INSERT OR IGNORE INTO generation VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS accounts_insert AFTER INSERT ON accounts BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS accounts_delete AFTER DELETE ON accounts BEGIN UPDATE generation SET n = n + 1; END;
DROP TRIGGER IF EXISTS accounts_update;
CREATE TRIGGER IF NOT EXISTS accounts_update_2 AFTER UPDATE OF {SNAPSHOT_COLUMNS}, quota_groups ON accounts
    BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS cooldowns_insert AFTER INSERT ON cooldowns BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS cooldowns_delete AFTER DELETE ON cooldowns BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS cooldowns_update AFTER UPDATE ON cooldowns BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS accounts_answers AFTER UPDATE OF appeal_url, last_geo_block ON accounts
    BEGIN UPDATE generation SET n = n + 1; END;
"""
ACCOUNT_WIDE = "*"  # the cooldown model key that benches an account for every model
JSON_FIELDS = ("models", "quota_groups")
# Columns added after a database may have been created: (name, definition).
ADDED_COLUMNS = (
    ("quota_groups", "TEXT NOT NULL DEFAULT '[]'"),
    ("appeal_url", "TEXT NOT NULL DEFAULT ''"),  # a Terms of Service ban's appeal form
    ("last_geo_block", "REAL NOT NULL DEFAULT 0"),  # when Google last refused the account's egress region
    ("proxy", "TEXT"),  # NULL = GATEWAY_UPSTREAM_PROXY, "none" = direct, else a proxy URL (accounts/egress.py)
)


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    refresh_token: str = field(repr=False)
    access_token: str = field(repr=False)
    token_expiry: float
    project: str
    tier: str
    enabled: bool
    disabled_reason: str
    models: dict
    last_used: float
    quota_groups: list = field(default_factory=list)  # retrieveUserQuotaSummary: 5-hour and weekly buckets
    proxy: str | None = field(default=None, repr=False)  # its egress (may hold credentials): accounts/egress.py
    appeal_url: str = ""  # set with a ban (disabled_reason "banned: …"): where the owner appeals it
    last_geo_block: float = 0.0  # the last "User location is not supported" answer to it (its egress's fault)


@dataclass(frozen=True)
class Cooldown:
    until: float
    reason: str
    strikes: int


@dataclass
class Tally:
    """Usage of one account for one model, counted in memory until the next flush."""

    requests: int = 0
    failures: dict[int, int] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    last_error: str = ""
    last_used: float = 0.0


@dataclass(frozen=True)
class Snapshot:
    """Everything the pool reads, as of one moment."""

    accounts: tuple[Account, ...]
    cooldowns: dict[tuple[int, str], Cooldown]

    def cooling(self, account: Account, model: str, now: float) -> Cooldown | None:
        """The cooldown keeping this account from this model now, if any (the longer one wins)."""
        found = [
            c
            for key in ((account.id, model), (account.id, ACCOUNT_WIDE))
            if (c := self.cooldowns.get(key)) and c.until > now
        ]
        return max(found, key=lambda c: c.until) if found else None

    def state(self, account: Account, now: float) -> str:
        """The account's state: disabled, cooling (a cooldown of it, for a model or all, runs) or active."""
        if not account.enabled:
            return "disabled"
        cooling = any(key[0] == account.id and c.until > now for key, c in self.cooldowns.items())
        return "cooling" if cooling else "active"


class Store:
    """Reads are served from a snapshot reloaded only when another connection has committed."""

    shared_state = "sqlite"  # what /healthz reports: where the state other workers see lives

    def __init__(self, path: Path, clock: Clock = SYSTEM_CLOCK) -> None:
        self.path = Path(path)
        self.clock = clock  # what cooldowns, refresh locks and every store built on this file count by
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._version = -1
        self._snapshot: Snapshot | None = None
        self._lock = threading.RLock()

    @property
    def conn(self) -> sqlite3.Connection:
        # One connection per process, opened after gunicorn forks (a connection must not cross a fork).
        if self._conn is None or self._pid != os.getpid():
            self._conn, self._pid, self._snapshot = self.connect(), os.getpid(), None
        return self._conn

    def connect(self) -> sqlite3.Connection:
        """A new connection to the file (created private, WAL on, schema in place), for this or another store."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists()
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        if fresh:
            os.chmod(self.path, 0o600)  # refresh tokens live here
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executescript(SCHEMA)
        _add_columns(conn)
        conn.executescript(GENERATION)
        return conn

    def close(self) -> None:
        """Close this process's connection (the next use opens a new one)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn, self._snapshot = None, None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # The lock keeps threads sharing this connection (the CLI's parallel quota fetch) out of each
        # other's transactions; under gevent it is a greenlet lock and never contended (no I/O inside).
        with self._lock:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite has rolled back by itself after some errors (a full disk)
                    conn.execute("ROLLBACK")
                raise

    def snapshot(self) -> Snapshot:
        """The current accounts and cooldowns; one cheap read of the generation when nothing changed."""
        with self._lock:
            return self._current_snapshot()

    def _current_snapshot(self) -> Snapshot:
        version = self.conn.execute("SELECT n FROM generation").fetchone()[0]
        if self._snapshot is None or version != self._version:
            accounts = tuple(_account(row) for row in self.conn.execute("SELECT * FROM accounts ORDER BY id"))
            cooldowns = {
                (row["account_id"], row["model"]): Cooldown(row["until"], row["reason"], row["strikes"])
                for row in self.conn.execute("SELECT * FROM cooldowns")
            }
            self._snapshot, self._version = Snapshot(accounts, cooldowns), version
        return self._snapshot

    def accounts(self) -> tuple[Account, ...]:
        return self.snapshot().accounts

    def get(self, account_id: int) -> Account | None:
        row = self.conn.execute("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone()
        return _account(row) if row else None

    def find(self, ref: str) -> Account | None:
        """An account by email or numeric id."""
        row = self.conn.execute("SELECT * FROM accounts WHERE email = ? OR CAST(id AS TEXT) = ?", (ref, ref)).fetchone()
        return _account(row) if row else None

    def upsert(self, email: str, refresh_token: str, **fields: object) -> Account:
        """Add an account, or update the one with this email (never a duplicate)."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO accounts (email, refresh_token, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT(email) DO UPDATE SET refresh_token = excluded.refresh_token",
                (email, refresh_token, self.clock()),
            )
            account_id = conn.execute("SELECT id FROM accounts WHERE email = ?", (email,)).fetchone()[0]
            _update(conn, account_id, fields)
        return self.get(account_id)

    def update(self, account_id: int, **fields: object) -> None:
        with self._write() as conn:
            _update(conn, account_id, fields)

    def remove(self, account_id: int) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM accounts WHERE id = ?", (account_id,))

    def set_cooldown(self, account_id: int, model: str, seconds: float, reason: str) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO cooldowns (account_id, model, until, reason) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(account_id, model) DO UPDATE SET until = excluded.until, "
                "reason = excluded.reason, strikes = strikes + 1",
                (account_id, model, self.clock() + seconds, reason),
            )

    def clear_cooldown(self, account_id: int, model: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM cooldowns WHERE account_id = ? AND model = ?", (account_id, model))

    def add_usage(self, tallies: dict[tuple[int, str], Tally]) -> None:
        """Add counted usage in one transaction; accounts removed meanwhile are skipped."""
        with self._write() as conn:
            for (account_id, model), tally in tallies.items():
                row = conn.execute(
                    "SELECT failures FROM usage WHERE account_id = ? AND model = ?", (account_id, model)
                ).fetchone()
                failures = json.loads(row["failures"]) if row else {}
                for status, count in tally.failures.items():
                    failures[str(status)] = failures.get(str(status), 0) + count
                conn.execute(
                    "INSERT INTO usage (account_id, model, requests, failures, tokens_in, tokens_out, last_error,"
                    " last_used) SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM accounts WHERE id = ?) "
                    "ON CONFLICT(account_id, model) DO UPDATE SET requests = requests + excluded.requests, "
                    "failures = excluded.failures, tokens_in = tokens_in + excluded.tokens_in, "
                    "tokens_out = tokens_out + excluded.tokens_out, "
                    "last_error = CASE WHEN excluded.last_error = '' THEN last_error ELSE excluded.last_error END, "
                    "last_used = MAX(last_used, excluded.last_used)",
                    (
                        account_id,
                        model,
                        tally.requests,
                        json.dumps(failures),
                        tally.tokens_in,
                        tally.tokens_out,
                        tally.last_error,
                        tally.last_used,
                        account_id,
                    ),
                )
                conn.execute(
                    "UPDATE accounts SET last_used = MAX(last_used, ?) WHERE id = ?", (tally.last_used, account_id)
                )

    def usage(self) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM usage ORDER BY account_id, model").fetchall()

    def try_lock_refresh(self, account_id: int, seconds: float) -> bool:
        """Take the account's refresh lock for every process on this host.

        A lock lapses after `seconds`, or at once when the process holding it is gone (a killed worker
        must not make the others wait out its lock).
        """
        now, me = self.clock(), os.getpid()
        with self._write() as conn:
            row = conn.execute(
                "SELECT refresh_lock_until, refresh_lock_pid FROM accounts WHERE id = ?", (account_id,)
            ).fetchone()
            if row is None or (row[0] > now and row[1] != me and _alive(row[1])):
                return False
            conn.execute(
                "UPDATE accounts SET refresh_lock_until = ?, refresh_lock_pid = ? WHERE id = ?",
                (now + seconds, me, account_id),
            )
        return True


class OwnTable:
    """A table of a part's own in the store's database (its SCHEMA), through the store's connection."""

    SCHEMA = ""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._ready: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        conn = self.store.conn  # one per process: a new one after a fork
        if conn is not self._ready:
            conn.executescript(self.SCHEMA)
            self._ready = conn
        return conn


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _add_columns(conn: sqlite3.Connection) -> None:
    """Bring a database made by an older version up to the current columns."""
    present = {row["name"] for row in conn.execute("PRAGMA table_info(accounts)")}
    for name, definition in ADDED_COLUMNS:
        if name not in present:
            try:
                conn.execute(f"ALTER TABLE accounts ADD COLUMN {name} {definition}")
            except sqlite3.OperationalError as exc:  # another worker added it first
                if "duplicate column" not in str(exc):
                    raise


def _update(conn: sqlite3.Connection, account_id: int, fields: dict) -> None:
    if not fields:
        return
    values = {k: json.dumps(v) if k in JSON_FIELDS else v for k, v in fields.items()}
    columns = ", ".join(f"{name} = :{name}" for name in values)  # names come from our code, not input
    conn.execute(f"UPDATE accounts SET {columns} WHERE id = :id", {**values, "id": account_id})


def _account(row: sqlite3.Row) -> Account:
    return Account(
        id=row["id"],
        email=row["email"],
        refresh_token=row["refresh_token"],
        access_token=row["access_token"],
        token_expiry=row["token_expiry"],
        project=row["project"],
        tier=row["tier"],
        enabled=bool(row["enabled"]),
        disabled_reason=row["disabled_reason"],
        models=json.loads(row["models"] or "{}"),
        last_used=row["last_used"],
        quota_groups=json.loads(row["quota_groups"] or "[]"),
        proxy=row["proxy"],
        appeal_url=row["appeal_url"],
        last_geo_block=row["last_geo_block"],
    )
