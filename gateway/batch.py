"""Bookkeeping gathered in memory and written at most once a second, off the request path."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
FLUSH_INTERVAL = 1.0
P = TypeVar("P")


class Batch(Generic[P]):
    """What requests note goes into `pending()`; one interval after the first note it is written in one go.

    The timer is a greenlet under gunicorn's gevent worker (threading is patched there). A write that fails is
    logged and dropped: bookkeeping never fails or slows a request.
    """

    def __init__(
        self,
        empty: Callable[[], P],
        write: Callable[[P], None],
        errors: tuple[type[Exception], ...],
        what: str,
        interval: float = FLUSH_INTERVAL,
    ) -> None:
        self._empty, self._write, self._errors, self._what = empty, write, errors, what
        self.interval = interval
        self.held: P = empty()  # what is noted and not yet written
        self._timer: threading.Timer | None = None

    def pending(self) -> P:
        """The notes to add to; the next write is due one interval from the first."""
        if self._timer is None:
            self._timer = threading.Timer(self.interval, self.flush)
            self._timer.daemon = True
            self._timer.start()
        return self.held

    def flush(self) -> None:
        """Write what is held now (the timer does; so does a stopping worker)."""
        held, self.held, self._timer = self.held, self._empty(), None
        if not held:
            return
        try:
            self._write(held)
        except self._errors as exc:
            log.warning("could not record %s: %s", self._what, exc)
