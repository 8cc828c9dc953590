"""Background jobs: on their timer, past their failures, stopped on demand, and off when their interval is 0."""

import threading

import pytest

from gateway.periodic import Periodic
from tests.conftest import UNDER_FAKETIME, wait_for

# libfaketime moves the monotonic clock Python takes a timed wait's deadline from, not the sem_clockwait that
# waits for it: a real thread's timed wait never returns under `faketime`. The gateway's jobs are greenlets and
# wait on gevent's clock; test_model_lists.py runs them in a gunicorn gateway at any date.
pytestmark = pytest.mark.skipif(UNDER_FAKETIME, reason="a thread's timed wait never returns under faketime")


def test_a_job_runs_on_its_timer_and_outlives_its_failures(caplog):
    runs: list[int] = []

    def job() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("the first run fails")

    periodic = Periodic("test-job", 0.05, job)
    periodic.start()
    wait_for(lambda: len(runs) >= 3, 5)
    periodic.stop()
    assert "background job test-job failed" in caplog.text


def test_the_first_run_waits_for_its_delay_and_stop_ends_it():
    ran = threading.Event()
    periodic = Periodic("delayed", 60, ran.set, delay=0.2)
    periodic.start()
    assert not ran.wait(0.1)
    assert ran.wait(5)
    periodic.stop()
    periodic._thread.join(5)
    assert not periodic._thread.is_alive()


def test_an_interval_of_zero_starts_nothing():
    periodic = Periodic("off", 0, lambda: None)
    periodic.start()
    assert periodic._thread is None
