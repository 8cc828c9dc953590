"""What each team key used today: counted in memory per worker, written at most once a second."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from typing import Protocol

from .limiter import utc_day
from .store import KeyTally

log = logging.getLogger(__name__)
FLUSH_INTERVAL = 1.0


class UsageSink(Protocol):
    def add_usage(self, tallies: dict[tuple[int, str], KeyTally]) -> None: ...


class KeyUsage:
    def __init__(self, sink: UsageSink, errors: tuple[type[Exception], ...], interval: float = FLUSH_INTERVAL) -> None:
        self.sink = sink
        self.errors = errors  # what the sink raises when it cannot write: logged, never a failed request
        self.interval = interval
        self._pending: defaultdict[tuple[int, str], KeyTally] = defaultdict(KeyTally)
        self._timer: threading.Timer | None = None

    def record(self, key_id: int, tokens_in: int, tokens_out: int) -> None:
        now = time.time()
        tally = self._pending[(key_id, utc_day(now))]
        tally.requests += 1
        tally.tokens_in += tokens_in
        tally.tokens_out += tokens_out
        tally.last_used = now
        if self._timer is None:
            # Under gunicorn's gevent worker this timer is a greenlet (threading is patched).
            self._timer = threading.Timer(self.interval, self.flush)
            self._timer.daemon = True
            self._timer.start()

    def pending_tokens(self, key_id: int, day: str) -> int:
        """Tokens of this worker not yet written, so its own requests see them at once."""
        tally = self._pending.get((key_id, day))
        return tally.tokens_in + tally.tokens_out if tally else 0

    def flush(self) -> None:
        pending, self._pending, self._timer = self._pending, defaultdict(KeyTally), None
        if not pending:
            return
        try:
            self.sink.add_usage(pending)
        except self.errors as exc:
            log.warning("could not record team key usage: %s", exc)
