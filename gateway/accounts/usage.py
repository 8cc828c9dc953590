"""Per-account, per-model usage: counted in memory, written at most once a second (off the hot path)."""

from __future__ import annotations

import sqlite3
from collections import defaultdict

from ..batch import FLUSH_INTERVAL, Batch
from .state import PoolState
from .store import Tally


def token_counts(usage: dict | None) -> tuple[int, int]:
    """(tokens in, tokens out) of a usageMetadata; thinking counts as output, as Google bills it."""
    usage = usage or {}
    prompt = int(usage.get("promptTokenCount") or 0)
    return prompt, int(usage.get("candidatesTokenCount") or 0) + int(usage.get("thoughtsTokenCount") or 0)


class UsageLog(Batch[defaultdict]):
    def __init__(self, store: PoolState, interval: float = FLUSH_INTERVAL) -> None:
        # usage is bookkeeping: never fail a request over it
        super().__init__(lambda: defaultdict(Tally), store.add_usage, (sqlite3.Error,), "usage", interval)
        self.clock = store.clock

    def record(
        self, account_id: int, model: str, status: int, error: str = "", tokens: tuple[int, int] = (0, 0)
    ) -> None:
        """Count one upstream attempt: its status, and its (tokens in, tokens out) when it succeeded."""
        tally = self.pending()[(account_id, model)]
        tally.requests += 1
        tally.last_used = self.clock()
        if status >= 400:
            tally.failures[status] = tally.failures.get(status, 0) + 1
            tally.last_error = f"{status}: {error}"[:500]
        tally.tokens_in += tokens[0]
        tally.tokens_out += tokens[1]
