"""CPU time and memory of process trees, read from /proc (steadier than wall time on a shared machine)."""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

TICKS = os.sysconf("SC_CLK_TCK")
T = TypeVar("T")


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def family(pid: int) -> list[int]:
    """A process and all its descendants (a gunicorn or nginx master and its workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            children.setdefault(int(_stat(int(stat.parent.name))[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo.extend(children.get(found[-1], ()))
    return found


class Tree:
    """A process tree; its members are looked up again for every CPU reading and whenever one is gone."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.members = family(pid)

    def refresh(self) -> list[int]:
        """Look the members up again (a master forks its workers after it starts listening)."""
        self.members = family(self.pid)
        return self.members

    def cpu_seconds(self) -> float:
        """User + system CPU time of every member, in seconds."""
        self.refresh()
        return sum(int(fields[11]) + int(fields[12]) for fields in self._read(_stat)) / TICKS

    def rss_mib(self) -> float:
        """Resident memory (VmRSS) summed over the members, in MiB (cheap: no lookup unless one is gone)."""
        return sum(self._read(_rss_kib)) / 1024

    def _read(self, reader: Callable[[int], T]) -> list[T]:
        """`reader` applied to every member."""
        try:
            return [reader(pid) for pid in self.members]
        except (OSError, ValueError):
            return [reader(pid) for pid in self.refresh()]


def _rss_kib(pid: int) -> int:
    """VmRSS of one process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def own_cpu_seconds() -> float:
    """CPU time of this process (the streaming load generator)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu_seconds() -> float:
    """CPU time of this process's finished children (wrk runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
