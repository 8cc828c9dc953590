"""Every account's model list, kept current without a CLI step: Google adds and withdraws models every few weeks
(v1internal-rules.md §6), and peers re-read their catalog every 3 hours.

Two ways in: every GATEWAY_MODELS_REFRESH seconds, by one worker of one host (a lease), and at once when an
account answers 404 for a model its list names (its list is out of date), at most once a minute per account.
A re-read that fails keeps the old list and logs one line.
"""

from __future__ import annotations

import logging
import threading

from .actions import fetch_quota
from .leases import Leases
from .pool import Pool
from .store import Account

log = logging.getLogger(__name__)
AFTER_NOT_FOUND = 60.0  # seconds between two re-reads of one account's list prompted by 404s


class ModelLists:
    def __init__(self, pool: Pool, leases: Leases, interval: float) -> None:
        self.pool, self.leases, self.interval = pool, leases, interval

    def refresh_all(self) -> None:
        """Re-read every enabled account's list, unless another worker or host has done it this round."""
        # A little short of the interval: the next round's timer finds the lease lapsed, whoever held it.
        if not self.leases.take("models-refresh", self.interval * 0.9):
            return
        for account in self.pool.store.snapshot().accounts:
            if account.enabled:
                self.reread(account)

    def after_not_found(self, account: Account, model: str) -> None:
        """A 404 for a model the account's list names: re-read that list, in the background."""
        if model in account.models and self.leases.take(f"models:{account.id}", AFTER_NOT_FOUND):
            threading.Thread(target=self.reread, args=(account,), name="models-reread", daemon=True).start()

    def reread(self, account: Account) -> None:
        problem = fetch_quota(self.pool, account)
        if problem:
            log.warning("the model list of account %d was not re-read (%s); it keeps the last one", account.id, problem)
