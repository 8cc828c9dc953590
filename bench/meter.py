"""CPU accounting of one measurement window: each system's, the fake's, the load generator's, and everyone else's.

The machine is shared: CPU that none of the run's processes used (other people's tests, say) or that the
hypervisor took (steal) is reported, so a run disturbed by it can be told from a clean one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .procs import TICKS, Tree, children_cpu_seconds, own_cpu_seconds

SIDECARS = ("redis", "tinyproxy")  # servers a system leans on whose CPU is reported beside its own


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine since boot, from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq) / TICKS, steal / TICKS


def machine_busy_pct(seconds: float) -> float:
    """How busy the whole machine kept its CPUs over the next `seconds`, in % of one core."""
    busy, started = machine_cpu_seconds()[0], time.monotonic()
    time.sleep(seconds)
    return (machine_cpu_seconds()[0] - busy) / (time.monotonic() - started) * 100


@dataclass
class Reading:
    """Cumulative counters at one instant."""

    wall: float
    busy: float
    steal: float
    trees: dict[str, float]  # CPU seconds per system name
    loadgen: float  # this process and its finished children (wrk)

    @classmethod
    def now(cls, trees: dict[str, Tree]) -> Reading:
        """Read every counter."""
        cpu = {name: tree.cpu_seconds() for name, tree in trees.items()}
        busy, steal = machine_cpu_seconds()
        return cls(time.monotonic(), busy, steal, cpu, own_cpu_seconds() + children_cpu_seconds())


class Meter:
    """Counters read at start and at stop; the difference, per second and per owner."""

    def __init__(self, trees: dict[str, Tree]) -> None:
        self.trees = trees
        self.start = Reading.now(trees)

    def stop(self, system: str, fake: str = "direct") -> dict:
        """CPU seconds of `system`, of the fake it relays to and of the sidecars that run, and how busy each
        party kept a core, in %."""
        end = Reading.now(self.trees)
        wall = end.wall - self.start.wall
        spent = {name: end.trees[name] - self.start.trees[name] for name in self.trees}
        loadgen = end.loadgen - self.start.loadgen
        other = end.busy - self.start.busy - sum(spent.values()) - loadgen
        return {
            "wall_s": wall,
            "cpu_s": spent[system],
            "fake_cpu_s": spent[fake],
            "fake_busy_pct": spent[fake] / wall * 100,
            "loadgen_busy_pct": loadgen / wall * 100,
            "other_busy_pct": max(other, 0) / wall * 100,
            "steal_pct": (end.steal - self.start.steal) / wall * 100,
            **{f"{name}_cpu_s": spent.get(name, 0.0) for name in SIDECARS},  # Redis, the egress proxy
        }
