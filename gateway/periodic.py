"""Jobs a worker runs in the background, on a timer: re-reading what Google serves, its current client version."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Run `job` every `interval` seconds, the first time `delay` seconds after `start()`.

    A greenlet under gunicorn's gevent worker (threading is patched there), started only once a worker has forked
    (gunicorn.conf.py's post_worker_init): the CLI, and tests that build the app in-process, start none. A run
    that raises is logged and the next one comes at its time: a background job never takes a worker down, and
    a start never waits for one.
    """

    def __init__(self, name: str, interval: float, job: Callable[[], None], delay: float = 0.0) -> None:
        self.name, self.interval, self.job, self.delay = name, interval, job, delay
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None and self.interval > 0:  # 0: the operator switched the job off
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _loop(self) -> None:
        wait = self.delay
        while not self._stopped.wait(wait):
            try:
                self.job()
            except Exception:
                log.exception("background job %s failed; it runs again in %.0f s", self.name, self.interval)
            wait = self.interval
