"""A pytest plugin for test_any_date.py's reruns: the process's wall clock moved ahead by GATEWAY_TESTS_TIME_SHIFT
seconds, before anything (the gateway's clock among them) reads `time.time`.

Why not libfaketime for these reruns: on Debian 12's 0.9.10 either Python's `time.sleep` fails with EINVAL
(monotonic time left alone) or every timed wait of a lock or event waits the whole shift (moved with it).
"""

import os
import time

SHIFT = "GATEWAY_TESTS_TIME_SHIFT"

if seconds := float(os.environ.get(SHIFT) or 0):
    real_time = time.time

    def shifted_time() -> float:
        return real_time() + seconds

    time.time = shifted_time
