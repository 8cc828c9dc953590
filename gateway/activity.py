"""The last requests and usage by the hour, for the console: kept bounded, written off the request path.

Each API request, once its response is sent (Trace.finish), is handed here; a timer writes what gathered
at most once a second, as the usage counts are. SQLite mode keeps it in its own file beside the pool's
database: writing it never takes the pool's write lock, nor makes every worker re-read the pool (SQLite's
data_version moves on any commit to a file). Redis mode keeps it in Redis, so each host sees every host's.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import redis

from .accounts.redis_state import connect
from .batch import FLUSH_INTERVAL, Batch
from .clock import SYSTEM_CLOCK, Clock
from .localdb import LocalDb

if TYPE_CHECKING:
    from .trace import Trace

log = logging.getLogger(__name__)
RECENT = 100  # requests the console lists
HOURS = 24  # hours of usage it shows
SEP = "\x1f"
COUNTS = ("requests", "failures", "tokens_in", "tokens_out")
FAILURES = (sqlite3.Error, redis.RedisError, OSError)  # a full disk, an unwritable directory, Redis gone


class Backend(Protocol):
    clock: Clock  # when a request ended, and which hours are kept

    def write(self, entries: list[dict]) -> None:
        """Add finished requests, oldest first: to their hour's counts, and the last ones to the bounded list."""

    def recent(self) -> list[dict]:
        """The last requests, newest first."""

    def hourly(self, since_hour: int) -> list[dict]:
        """Counts per hour (epoch hour), account and model, from `since_hour` on."""


def entry(trace: Trace, now: float) -> dict:
    """What the console shows of one request, ended at `now`: never a token, a key or prompt text."""
    return {
        "at": round(now, 3),
        "method": trace.method,
        "path": trace.path,
        "model": trace.model,
        "status": trace.status,
        "account": trace.email,
        "key": trace.key,
        "attempts": trace.attempts,
        "duration_ms": trace.duration_ms,
        "tokens_in": trace.tokens_in,
        "tokens_out": trace.tokens_out,
    }


class ActivityLog(Batch[list]):
    def __init__(self, backend: Backend, interval: float = FLUSH_INTERVAL) -> None:
        super().__init__(list, backend.write, FAILURES, "recent requests", interval)
        self.backend = backend

    def add(self, trace: Trace) -> None:
        """Keep one finished request for the next write."""
        self.pending().append(entry(trace, self.backend.clock()))

    def recent(self) -> list[dict]:
        """Newest first by the time they ended: workers write each second's requests in turn, not in order."""
        return sorted(self._read(self.backend.recent), key=lambda item: item["at"], reverse=True)

    def hourly(self, now: float) -> list[dict]:
        return self._read(lambda: self.backend.hourly(int(now // 3600) - HOURS + 1))

    @staticmethod
    def _read(read: Callable[[], list[dict]]) -> list[dict]:
        """What the log holds, or nothing when it cannot be read: the console still shows the pool."""
        try:
            return read()
        except FAILURES as exc:
            log.warning("could not read recent requests: %s", exc)
            return []


def _hour_counts(entries: list[dict]) -> dict[tuple[int, str, str], list[int]]:
    counts: dict[tuple[int, str, str], list[int]] = {}
    for item in entries:
        # Every client request counts, those refused before a model was chosen (bad key, /models) too, under
        # model "": the console's totals then count what its list of last requests shows.
        row = counts.setdefault((int(item["at"] // 3600), item["account"], item["model"]), [0, 0, 0, 0])
        failed = (item["status"] or 500) >= 400
        for index, value in enumerate((1, int(failed), item["tokens_in"], item["tokens_out"])):
            row[index] += value
    return counts


SCHEMA = """
CREATE TABLE IF NOT EXISTS recent (id INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hourly (
    hour INTEGER NOT NULL, account TEXT NOT NULL, model TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0,
    tokens_in INTEGER NOT NULL DEFAULT 0, tokens_out INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, account, model)
);
"""


class SqliteActivity:
    """One file shared by every worker of this host."""

    def __init__(self, path: Path, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = LocalDb(path, SCHEMA)
        self.path = self.db.path
        self.clock = clock

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    def write(self, entries: list[dict]) -> None:
        self.db.write(
            ("INSERT INTO recent (entry) VALUES (?)", [(json.dumps(e),) for e in entries[-RECENT:]]),
            ("DELETE FROM recent WHERE id <= (SELECT MAX(id) FROM recent) - ?", (RECENT,)),
            (
                "INSERT INTO hourly VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(hour, account, model) DO UPDATE SET "
                "requests = requests + excluded.requests, failures = failures + excluded.failures, "
                "tokens_in = tokens_in + excluded.tokens_in, tokens_out = tokens_out + excluded.tokens_out",
                [(*key, *values) for key, values in _hour_counts(entries).items()],
            ),
            ("DELETE FROM hourly WHERE hour < ?", (int(self.clock() // 3600) - HOURS,)),
        )

    def recent(self) -> list[dict]:
        rows = self.conn.execute("SELECT entry FROM recent ORDER BY id DESC LIMIT ?", (RECENT,))
        return [json.loads(row[0]) for row in rows]

    def hourly(self, since_hour: int) -> list[dict]:
        rows = self.conn.execute(
            "SELECT hour, account, model, requests, failures, tokens_in, tokens_out FROM hourly WHERE hour >= ?",
            (since_hour,),
        )
        return [dict(zip(("hour", "account", "model", *COUNTS), row, strict=True)) for row in rows]


class RedisActivity:
    """A list trimmed to RECENT, and a hash per hour that expires by itself, shared by every host."""

    def __init__(self, url: str, prefix: str = "gateway:", clock: Clock = SYSTEM_CLOCK) -> None:
        self.redis = connect(url)
        self.clock = clock
        self.recent_key, self.hour_prefix = prefix + "recent", prefix + "hourly:"

    def write(self, entries: list[dict]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.lpush(self.recent_key, *(json.dumps(e) for e in entries[-RECENT:]))
        pipe.ltrim(self.recent_key, 0, RECENT - 1)
        for (hour, account, model), values in _hour_counts(entries).items():
            key = f"{self.hour_prefix}{hour}"
            for name, value in zip(COUNTS, values, strict=True):
                pipe.hincrby(key, f"{account}{SEP}{model}{SEP}{name}", value)
            pipe.expire(key, (HOURS + 1) * 3600)
        pipe.execute()

    def recent(self) -> list[dict]:
        return [json.loads(item) for item in self._read(lambda r: r.lrange(self.recent_key, 0, RECENT - 1))]

    def hourly(self, since_hour: int) -> list[dict]:
        hours = range(since_hour, since_hour + HOURS)

        def read(r: redis.Redis) -> list:
            pipe = r.pipeline(transaction=False)
            for hour in hours:
                pipe.hgetall(f"{self.hour_prefix}{hour}")
            return pipe.execute()

        rows: dict[tuple[int, str, str], dict] = {}
        for hour, counts in zip(hours, self._read(read) or [{}] * HOURS, strict=True):
            for field, value in counts.items():
                account, model, name = field.decode().split(SEP)
                row = rows.setdefault((hour, account, model), {"hour": hour, "account": account, "model": model})
                row[name] = int(value)
        return [{name: 0 for name in COUNTS} | row for row in rows.values()]

    def _read(self, action):
        try:
            return action(self.redis)
        except redis.RedisError as exc:  # the console then shows nothing recent, and says nothing broke
            log.warning("Redis unavailable for the console (%s)", type(exc).__name__)
            return []
