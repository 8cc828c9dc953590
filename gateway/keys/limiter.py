"""A team key's limits: requests in the last 60 s, tokens in the UTC day; refused with Google's 429."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from ..clock import Clock
from ..errors import too_many_requests
from .store import TeamKey

WINDOW = 60.0  # --rpm counts the requests of the last minute, sliding (no burst at a minute's turn)


class Counters(Protocol):
    """Where hits and tokens are counted, seen by every worker (SQLite) or every host (Redis), by its clock."""

    clock: Clock

    def take_slot(self, key_id: int, now: float, window: float, limit: int) -> float | None: ...

    def tokens_on(self, key_id: int, day: str) -> int: ...


def utc_day(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).date().isoformat()


def seconds_to_next_day(now: float) -> float:
    moment = datetime.fromtimestamp(now, UTC)
    midnight = datetime.combine(moment.date() + timedelta(days=1), datetime.min.time(), UTC)
    return midnight.timestamp() - now


class Limiter:
    def __init__(self, counters: Counters) -> None:
        self.counters = counters

    def admit(self, key: TeamKey, pending_tokens: int = 0) -> None:
        """Let one request of this key through, or raise the 429 naming the limit it hit.

        `pending_tokens` are this worker's tokens not yet written; other workers' arrive within a second.
        """
        now = self.counters.clock()  # the clock its counters prune and count by
        if key.daily_tokens is not None:
            used = self.counters.tokens_on(key.id, utc_day(now)) + pending_tokens
            if used >= key.daily_tokens:
                raise too_many_requests(
                    f"Team key {key.name!r} has used its {key.daily_tokens} tokens for today (UTC): "
                    "try again after midnight UTC.",
                    seconds_to_next_day(now),
                )
        if key.rpm is not None:
            oldest = self.counters.take_slot(key.id, now, WINDOW, key.rpm)
            if oldest is not None:
                raise too_many_requests(
                    f"Team key {key.name!r} is limited to {key.rpm} requests per minute.",
                    oldest + WINDOW - now,
                )
