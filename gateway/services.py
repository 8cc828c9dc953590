"""The long-lived parts of one worker, built once per app and shared by its requests."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from flask import current_app

from .accounts.egress import Egresses
from .accounts.failsoft import FailSoft
from .accounts.leases import RedisLeases, SqliteLeases
from .accounts.model_lists import ModelLists
from .accounts.pool import Pool
from .accounts.sessions import RedisSessions, Sessions, SqliteSessions
from .accounts.signatures import RedisSignatures, Signatures, SqliteSignatures
from .accounts.store import Store
from .accounts.usage import UsageLog
from .activity import ActivityLog, RedisActivity, SqliteActivity
from .audit import AuditLog, RedisAudit, SqliteAudit
from .catalog import Catalog
from .clock import SYSTEM_CLOCK, Clock
from .config import Settings
from .console.throttle import LoginThrottle, RedisFailures, SqliteFailures
from .files.store import FileStore
from .files.uploads import Uploads
from .keys.gate import Keys
from .keys.store import KeyStore
from .periodic import Periodic
from .relay import Relay
from .trace import account_label
from .upstream.identity import REFRESH_EVERY, ClientIdentity, SharedRelease
from .upstream.translate import BUILT_IN, active_rules

FILES_SWEEP_EVERY = 600  # seconds; an expired file is refused from its expiry on, the sweep only frees the disk


class Services:
    def __init__(self, settings: Settings, clock: Clock = SYSTEM_CLOCK) -> None:
        self.settings = settings
        self.clock = clock  # every part below reads "now" from it alone
        # Account records: this host's SQLite file in every mode. A database that stops taking writes (disk
        # full, read-only) degrades /healthz and never fails a request.
        self.records = FailSoft(Store(settings.database, clock))
        identity = ClientIdentity(settings.user_agent, settings.client_manifest_url, SharedRelease(self.records))
        # One connection pool per egress (accounts/egress.py), for Google's API and its token endpoint alike.
        self.egresses = Egresses(settings, clock, identity)
        self.client = self.egresses.default.client
        self.oauth = self.egresses.default.oauth
        self.store = self.records
        self.signatures: Signatures = SqliteSignatures(self.records)
        self.sessions: Sessions = SqliteSessions(self.records)
        leases = SqliteLeases(self.records)
        if settings.redis_url:
            from .accounts.redis_state import RedisState  # the redis client is needed only in this mode

            self.store = RedisState(settings.redis_url, self.records)
            self.signatures = RedisSignatures(self.store)
            self.sessions = RedisSessions(self.store, self.sessions)
            leases = RedisLeases(self.store, leases)
        self.keys = Keys(key_backend(settings, self.records))
        self.pool = Pool(self.store, self.egresses)
        self.model_lists = ModelLists(self.pool, leases, settings.models_refresh)
        self.pool.on_not_found = self.model_lists.after_not_found
        self.usage = UsageLog(self.store)
        self.activity = ActivityLog(
            RedisActivity(settings.redis_url, clock=clock)
            if settings.redis_url
            else SqliteActivity(self.activity_file, clock)
        )
        failures = RedisFailures if settings.redis_url else SqliteFailures
        self.login_throttle = LoginThrottle(failures(settings.redis_url or self.activity_file, clock))
        self.audit = AuditLog(
            (RedisAudit if settings.redis_url else SqliteAudit)(settings.redis_url or self.activity_file, clock)
        )
        self.relay = Relay(
            self.pool,
            self.client,
            self.usage,
            settings.max_retry_attempts,
            functools.partial(account_label, how=settings.log_accounts),
            self.signatures,
            self.sessions,
        )
        self.rules = active_rules(settings.translate_off)
        self.families = settings.model_families or BUILT_IN
        self._catalog = Catalog(settings.model_aliases, settings.model_fallbacks)
        # Uploaded files: on disk, where every worker (and host sharing GATEWAY_FILES_DIR) reads them
        self.files = FileStore(settings.files_root, clock)
        self.uploads = Uploads(self.files, settings.files_max_bytes)
        self.background: list[Periodic] = []  # started by a serving worker, never by the CLI
        self.background.append(Periodic("files-sweep", FILES_SWEEP_EVERY, self.sweep_files, delay=60))
        # The first round a minute after the start (the lease keeps restarts from repeating it).
        refresh = settings.models_refresh
        self.background.append(Periodic("models-refresh", refresh, self.model_lists.refresh_all, min(refresh, 60)))
        if self.client.identity.auto:
            self.background.append(Periodic("client-version", REFRESH_EVERY, self.client.refresh_identity, delay=0))

    @property
    def activity_file(self) -> Path:
        """Where the console's bookkeeping lives in SQLite mode: its own file beside the pool's database."""
        return self.settings.database.with_suffix(".activity.db")

    def _beside_activity(self, in_redis: Callable, in_sqlite: Callable):
        """The console's bookkeeping (login failures, audit log) lives where the activity log does: in Redis
        when hosts share state, so every host sees it, else in this host's activity file."""
        if self.settings.redis_url:
            return in_redis(self.settings.redis_url, self.clock)
        return in_sqlite(self.activity_file, self.clock)

    def sweep_files(self) -> None:
        """Expired files and abandoned uploads off the disk, and this worker's hashes of uploads gone."""
        self.files.sweep()
        self.uploads.prune()

    def start_background(self) -> None:
        """Start this worker's background jobs (gunicorn.conf.py's post_worker_init, after the fork)."""
        for job in self.background:
            job.start()

    @property
    def catalog(self) -> Catalog:
        """The catalog as of this host's account records (rebuilt only when they changed).

        Read from the records, not the shared state: with Redis that is a round trip per read and a new
        account list each time, which rebuilt the catalog on every request."""
        self._catalog.refresh(self.records.accounts())
        return self._catalog


def key_backend(settings: Settings, records: Store):
    """Team keys live where the shared state does: Redis when several hosts share it, else SQLite."""
    if settings.redis_url:
        from .keys.redis_store import RedisKeyStore

        return RedisKeyStore(settings.redis_url, records.clock)
    return KeyStore(records)


def services() -> Services:
    return current_app.extensions["gateway"]
