"""What each team key used today: counted in memory per worker, written at most once a second."""

from __future__ import annotations

from collections import defaultdict
from typing import Protocol

from ..batch import FLUSH_INTERVAL, Batch
from ..clock import Clock
from .limiter import utc_day
from .store import KeyTally


class UsageSink(Protocol):
    clock: Clock

    def add_usage(self, tallies: dict[tuple[int, str], KeyTally]) -> None: ...


class KeyUsage(Batch[defaultdict]):
    def __init__(self, sink: UsageSink, errors: tuple[type[Exception], ...], interval: float = FLUSH_INTERVAL) -> None:
        # `errors`: what the sink raises when it cannot write: logged, never a failed request
        super().__init__(lambda: defaultdict(KeyTally), sink.add_usage, errors, "team key usage", interval)
        self.clock = sink.clock  # the day a request counts on is the day its sink prunes by

    def record(self, key_id: int, tokens_in: int, tokens_out: int) -> None:
        now = self.clock()
        tally = self.pending()[(key_id, utc_day(now))]
        tally.requests += 1
        tally.tokens_in += tokens_in
        tally.tokens_out += tokens_out
        tally.last_used = now

    def pending_tokens(self, key_id: int, day: str) -> int:
        """Tokens of this worker not yet written, so its own requests see them at once."""
        tally = self.held.get((key_id, day))
        return tally.tokens_in + tally.tokens_out if tally else 0
