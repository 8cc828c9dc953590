"""One SQLite file shared by this host's workers, beside the pool's database: a connection per process."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path


class LocalDb:
    """Opened on first use in each process (a connection must not cross gunicorn's fork), WAL, owner-only."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = Path(path)
        self.schema = schema
        self.lock = threading.Lock()  # one writer per process at a time: BEGIN IMMEDIATE on a shared connection
        self._conn: sqlite3.Connection | None = None
        self._pid = 0

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(self.schema)
            os.chmod(self.path, 0o600)  # emails, addresses, request paths: the operator's, not the host's users'
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def write(self, *statements: tuple[str, tuple | list]) -> None:
        """Run statements in one transaction; a `list` of parameter tuples runs as executemany."""
        with self.lock:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    (conn.executemany if isinstance(params, list) else conn.execute)(sql, params)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
