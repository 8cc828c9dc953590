"""Per-account, per-model usage: counted in memory, written at most once a second (off the hot path).

The flush runs on a timer: a greenlet under gunicorn's gevent worker (threading is patched there).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import defaultdict

from .state import PoolState
from .store import Tally

log = logging.getLogger(__name__)
FLUSH_INTERVAL = 1.0


def token_counts(usage: dict | None) -> tuple[int, int]:
    """(tokens in, tokens out) of a usageMetadata; thinking counts as output, as Google bills it."""
    usage = usage or {}
    prompt = int(usage.get("promptTokenCount") or 0)
    return prompt, int(usage.get("candidatesTokenCount") or 0) + int(usage.get("thoughtsTokenCount") or 0)


class UsageLog:
    def __init__(self, store: PoolState, interval: float = FLUSH_INTERVAL) -> None:
        self.store = store
        self.interval = interval
        self._pending: defaultdict[tuple[int, str], Tally] = defaultdict(Tally)
        self._timer: threading.Timer | None = None

    def record(
        self, account_id: int, model: str, status: int, error: str = "", tokens: tuple[int, int] = (0, 0)
    ) -> None:
        """Count one upstream attempt: its status, and its (tokens in, tokens out) when it succeeded."""
        tally = self._pending[(account_id, model)]
        tally.requests += 1
        tally.last_used = time.time()
        if status >= 400:
            tally.failures[status] = tally.failures.get(status, 0) + 1
            tally.last_error = f"{status}: {error}"[:500]
        tally.tokens_in += tokens[0]
        tally.tokens_out += tokens[1]
        if self._timer is None:
            self._timer = threading.Timer(self.interval, self.flush)
            self._timer.daemon = True
            self._timer.start()

    def flush(self) -> None:
        pending, self._pending, self._timer = self._pending, defaultdict(Tally), None
        if not pending:
            return
        try:
            self.store.add_usage(pending)
        except sqlite3.Error as exc:  # usage is bookkeeping: never fail a request over it
            log.warning("could not record usage: %s", exc)
