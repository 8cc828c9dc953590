"""The suite's in-process tests, rerun a year and ten years ahead: a date bomb cannot come back unseen.

Every store, limiter and pruning rule is tested in-process against a real SQLite file or redis-server; the tests
that need a gunicorn gateway skip themselves in these reruns (they ran at today's date already, and a full run
under Debian's `faketime` checks them before a release). What reads the date behind the clock's back (the
system's clock called directly) is refused in the source itself.
"""

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.clock import SYSTEM_CLOCK
from tests.conftest import IN_PROCESS_ONLY, ROOT
from tests.shifted_clock import SHIFT

DAY = 86400
SHIFTS_DAYS = (365, 3650)
PYTEST = (sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "tests.shifted_clock")
# Wall time read anywhere but gateway/clock.py: "now" that no test can move.
DIRECT_READS = re.compile(r"time\.time\(|datetime\.now\(|datetime\.utcnow\(|date\.today\(|\btime\.time\b(?!\()|'now'")


@pytest.fixture(scope="module")
def reruns(tmp_path_factory) -> Iterator[dict[int, tuple[subprocess.Popen, Path]]]:
    """Both reruns started at once: each is one core's work for a minute or two, and they share nothing (each
    has its own temporary directory), so together they take the time of one."""
    reruns = {}
    for days in SHIFTS_DAYS:
        base = tmp_path_factory.mktemp(f"shift-{days}")
        output = base / "output"
        with output.open("w") as sink:
            process = subprocess.Popen(
                [*PYTEST, f"--basetemp={base / 'tmp'}", "tests"],
                env={**os.environ, IN_PROCESS_ONLY: "1", SHIFT: str(days * DAY)},
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        reruns[days] = process, output
    yield reruns
    for process, _ in reruns.values():
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.skipif(bool(os.environ.get(IN_PROCESS_ONLY)), reason="this is the rerun itself")
@pytest.mark.parametrize("days", SHIFTS_DAYS)
def test_the_in_process_tests_pass_years_ahead(reruns, days):
    process, output = reruns[days]
    returncode = process.wait(timeout=600)
    printed = output.read_text()
    assert returncode == 0, printed[-6000:]
    assert " passed" in printed.splitlines()[-1]


def test_the_shift_moves_the_gateways_clock():
    """In a rerun the gateway's clock reads the shifted time (the plugin ran before the gateway was imported)."""
    shift = float(os.environ.get(SHIFT) or 0)
    assert abs(SYSTEM_CLOCK() - shift - time.clock_gettime(time.CLOCK_REALTIME)) < 5


def test_only_the_clock_module_reads_the_system_clock():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "gateway").rglob("*.py"))
        if path.name != "clock.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if DIRECT_READS.search(line.split("#")[0])
    ]
    assert not found, "read now from the component's clock (gateway/clock.py):\n" + "\n".join(found)
