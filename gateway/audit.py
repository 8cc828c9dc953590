"""The audit log: who did what to the pool and the team keys, from the console or the CLI.

Kept beside the activity log, where it lives too (this host's activity file, or Redis when hosts share state,
so every host's actions are in one log), trimmed to the last KEEP entries. An entry names its target (an
account's email, a key's name), never a key, token or password. Written at once, not batched: administrative
actions are rare, and the CLI's process ends right after.
"""

from __future__ import annotations

import getpass
import json
import logging
from pathlib import Path
from typing import Protocol

from .accounts.redis_state import connect
from .accounts.report import iso
from .activity import FAILURES
from .clock import Clock
from .localdb import LocalDb

log = logging.getLogger(__name__)
KEEP = 10_000


class Backend(Protocol):
    clock: Clock

    def add(self, entry: dict) -> None: ...

    def newest(self, limit: int) -> list[dict]: ...


def cli_actor() -> str:
    """How a command run from a shell is named: `cli` and the OS user who ran it."""
    try:
        return f"cli {getpass.getuser()}"
    except (KeyError, OSError):  # a container's uid with no passwd entry
        return "cli"


def console_actor(address: str) -> str:
    return f"console {address}"


class AuditLog:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def record(self, actor: str, action: str, target: str) -> None:
        """Note one action; a store that cannot be written logs a warning and never undoes the action."""
        entry = {"at": self.backend.clock(), "actor": actor, "action": action, "target": target}
        log.info("audit: %s %s %s", actor, action, target, extra={"fields": {"audit_action": action}})
        try:
            self.backend.add(entry)
        except FAILURES as exc:
            log.warning("could not write the audit log: %s", exc)

    def newest(self, limit: int) -> list[dict]:
        """The last `limit` entries, newest first, as `gateway audit --json` prints them."""
        try:
            entries = self.backend.newest(limit)
        except FAILURES as exc:
            log.warning("could not read the audit log: %s", exc)
            return []
        entries.sort(key=lambda e: e["at"], reverse=True)
        return [
            {"time": iso(e["at"]), "actor": e["actor"], "action": e["action"], "target": e["target"]} for e in entries
        ]


SCHEMA = "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL);"


class SqliteAudit:
    def __init__(self, path: Path, clock: Clock) -> None:
        self.db = LocalDb(path, SCHEMA)
        self.clock = clock

    def add(self, entry: dict) -> None:
        self.db.write(
            ("INSERT INTO audit (entry) VALUES (?)", (json.dumps(entry),)),
            ("DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?", (KEEP,)),
        )

    def newest(self, limit: int) -> list[dict]:
        rows = self.db.conn.execute("SELECT entry FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        return [json.loads(row[0]) for row in rows]


class RedisAudit:
    def __init__(self, url: str, clock: Clock, key: str = "gateway:audit") -> None:
        self.redis = connect(url)
        self.clock = clock
        self.key = key

    def add(self, entry: dict) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.lpush(self.key, json.dumps(entry))
        pipe.ltrim(self.key, 0, KEEP - 1)
        pipe.execute()

    def newest(self, limit: int) -> list[dict]:
        return [json.loads(item) for item in self.redis.lrange(self.key, 0, limit - 1)]


def record(actor: str, action: str, target: str) -> None:
    """Note an administrative action in the current app's audit log (the one hook every action calls)."""
    from .services import services  # at call time: services imports this module

    services().audit.record(actor, action, target)
