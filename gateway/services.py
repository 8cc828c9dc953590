"""The long-lived parts of one worker, built once per app and shared by its requests."""

from __future__ import annotations

import functools

from flask import current_app

from .accounts.egress import Egresses
from .accounts.failsoft import FailSoft
from .accounts.pool import Pool
from .accounts.signatures import RedisSignatures, Signatures, SqliteSignatures
from .accounts.store import Store
from .accounts.usage import UsageLog
from .activity import ActivityLog, RedisActivity, SqliteActivity
from .catalog import Catalog
from .clock import SYSTEM_CLOCK, Clock
from .config import Settings
from .keys.gate import Keys
from .keys.store import KeyStore
from .periodic import Periodic
from .relay import Relay
from .trace import account_label
from .upstream.translate import active_rules


class Services:
    def __init__(self, settings: Settings, clock: Clock = SYSTEM_CLOCK) -> None:
        self.settings = settings
        self.clock = clock  # every part below reads "now" from it alone
        # One connection pool per egress (accounts/egress.py), for Google's API and its token endpoint alike.
        self.egresses = Egresses(settings, clock)
        self.client = self.egresses.default.client
        self.oauth = self.egresses.default.oauth
        # Account records: this host's SQLite file in every mode. A database that stops taking writes (disk
        # full, read-only) degrades /healthz and never fails a request.
        self.records = FailSoft(Store(settings.database, clock))
        self.store = self.records
        self.signatures: Signatures = SqliteSignatures(self.records)
        if settings.redis_url:
            from .accounts.redis_state import RedisState  # the redis client is needed only in this mode

            self.store = RedisState(settings.redis_url, self.records)
            self.signatures = RedisSignatures(self.store)
        self.keys = Keys(key_backend(settings, self.records))
        self.pool = Pool(self.store, self.egresses)
        self.usage = UsageLog(self.store)
        self.activity = ActivityLog(
            RedisActivity(settings.redis_url, clock=clock)
            if settings.redis_url
            else SqliteActivity(settings.database.with_suffix(".activity.db"), clock)
        )
        self.relay = Relay(
            self.pool,
            self.client,
            self.usage,
            settings.max_retry_attempts,
            functools.partial(account_label, how=settings.log_accounts),
            self.signatures,
        )
        self.rules = active_rules(settings.translate_off)
        self._catalog = Catalog(settings.model_aliases, settings.model_fallbacks)
        self.background: list[Periodic] = []  # started by a serving worker, never by the CLI

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
