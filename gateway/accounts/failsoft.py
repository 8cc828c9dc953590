"""The account store as requests use it: a database that stops taking writes (disk full, read-only) never
fails a request. Requests are served from what it still reads, writes they need (a fresh access token) are
kept in this worker's memory, and `problem` tells /healthz why the gateway is degraded.

Outside a request (the CLI, the usage flush) a failed write still raises: nobody should be told a change
was stored when it was not.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import fields as dataclass_fields
from dataclasses import replace
from pathlib import Path

from flask import has_request_context

from ..errors import GatewayError
from .store import Account, Snapshot, Store, Tally

log = logging.getLogger(__name__)
ACCOUNT_FIELDS = frozenset(f.name for f in dataclass_fields(Account))
LOG_EVERY = 60.0  # seconds between two warnings about the same database failure


class FailSoft:
    """A PoolState over a Store; everything it does not override goes to the Store unchanged."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.problem = ""  # the last database failure, until a write succeeds again
        self._logged = (0.0, "")
        self._newer: dict[int, dict] = {}  # account fields the database refused: newer than what it holds
        self._last_read: Snapshot | None = None
        self._overlaid: tuple[Snapshot | None, int, Snapshot | None] = (None, 0, None)
        self._changes = 0

    def __getattr__(self, name: str):
        return getattr(self.store, name)

    # ---- reads: the last good snapshot when the database cannot be read ----

    def snapshot(self) -> Snapshot:
        try:
            self._last_read = self.store.snapshot()
        except sqlite3.Error as exc:
            self._failed(exc)
            if not has_request_context():
                raise
            if self._last_read is None:
                raise GatewayError(503, "The gateway's account database cannot be read; see /healthz.") from None
        return self._with_newer(self._last_read)

    def accounts(self) -> tuple[Account, ...]:
        return self.snapshot().accounts

    def get(self, account_id: int) -> Account | None:
        try:
            account = self.store.get(account_id)
        except sqlite3.Error as exc:
            self._failed(exc)
            return next((a for a in self.snapshot().accounts if a.id == account_id), None)
        return self._newer_account(account) if account else None

    # ---- writes: swallowed during a request, remembered when the request needs them ----

    def update(self, account_id: int, **fields: object) -> None:
        if self._write(self.store.update, account_id, **fields):
            if pending := self._newer.get(account_id):  # the database holds these fields again
                for name in fields:
                    pending.pop(name, None)
                if not pending:
                    del self._newer[account_id]
                self._changes += 1
            return
        kept = {name: value for name, value in fields.items() if name in ACCOUNT_FIELDS}
        if kept:
            self._newer.setdefault(account_id, {}).update(kept)
            self._changes += 1

    def set_cooldown(self, account_id: int, model: str, seconds: float, reason: str) -> None:
        self._write(self.store.set_cooldown, account_id, model, seconds, reason)

    def clear_cooldown(self, account_id: int, model: str) -> None:
        self._write(self.store.clear_cooldown, account_id, model)

    def try_lock_refresh(self, account_id: int, seconds: float) -> bool:
        # No process can write the database either: this worker's own lock (in the pool) is what is left.
        return self._write(self.store.try_lock_refresh, account_id, seconds, unwritten=True)

    def add_usage(self, tallies: dict[tuple[int, str], Tally]) -> None:
        """Usage is bookkeeping, flushed outside requests: lost (and logged, once a minute) when refused."""
        try:
            self.store.add_usage(tallies)
        except sqlite3.Error as exc:
            self._failed(exc)
        else:
            self.problem = ""

    def _write(self, write, *args, unwritten: object = False, **kwargs) -> object:
        """The write's result (True when it returns nothing); `unwritten` when the database refused it."""
        try:
            result = write(*args, **kwargs)
        except sqlite3.Error as exc:
            self._failed(exc)
            if not has_request_context():
                raise
            return unwritten
        self.problem = ""
        return True if result is None else result

    def _failed(self, error: sqlite3.Error) -> None:
        # /healthz is public: its reason names the problem; where it lies (the path) goes to the log only.
        self.problem = f"the account database fails: {error}"
        now = time.monotonic()
        if self.problem != self._logged[1] or now - self._logged[0] > LOG_EVERY:
            self._logged = (now, self.problem)
            log.error("the database %s fails: %s; serving from what it still reads", self.store.path, error)

    # ---- what the database refused, laid over what it holds ----

    def _with_newer(self, snapshot: Snapshot) -> Snapshot:
        if not self._newer:
            return snapshot
        base, changes, overlaid = self._overlaid
        if base is not snapshot or changes != self._changes:
            overlaid = Snapshot(tuple(self._newer_account(a) for a in snapshot.accounts), snapshot.cooldowns)
            self._overlaid = (snapshot, self._changes, overlaid)
        return overlaid

    def _newer_account(self, account: Account) -> Account:
        newer = self._newer.get(account.id)
        if not newer:
            return account
        if "enabled" in newer:
            newer = {**newer, "enabled": bool(newer["enabled"])}
        return replace(account, **newer)


def storage_problem(database: Path) -> tuple[str, Path | None]:
    """Why the database cannot take writes now, seen from outside SQLite, and the path it concerns (for the
    log: the reason is for the public /healthz and names no path); ("", None) when nothing is wrong.

    Cheap (a statvfs and two access checks), so /healthz notices a full or read-only disk before a write
    has to fail on it."""
    directory = database.parent
    try:
        stats = os.statvfs(directory)
    except OSError as exc:
        return f"the data directory cannot be reached: {exc.strerror}", directory
    if stats.f_flag & os.ST_RDONLY:
        return "the data directory is on a read-only file system", directory
    if stats.f_bavail == 0:
        return "no space left on the device holding the data directory", directory
    if not os.access(directory, os.W_OK) or (database.exists() and not os.access(database, os.W_OK)):
        return "the account database is not writable", database
    return "", None


def log_storage_problem(reason: str, where: Path | None) -> None:
    """The storage problem /healthz reports, with its path, at most once a LOG_EVERY per reason."""
    now = time.monotonic()
    if where is not None and now - _storage_logged.get(reason, -LOG_EVERY) >= LOG_EVERY:
        _storage_logged[reason] = now
        log.error("%s: %s", reason, where)


_storage_logged: dict[str, float] = {}
