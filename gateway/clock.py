""" "Now", read from one place per component, so a test sets it and no calendar date can break one.

A component is handed a `Clock` when it is built and reads wall time from it alone: whatever is stored or
compared across processes and hosts (token expiry, cooldowns, a team key's UTC day, what pruning keeps). Its
parts share that one clock, so no path mixes an injected "now" with the system's. Stopwatch time within one
process (cache ages, waits, a request's duration) stays on `time.monotonic`, which no date moves.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]  # seconds since the epoch, as time.time() counts them
SYSTEM_CLOCK: Clock = time.time
