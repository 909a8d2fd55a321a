"""CPU time of a process tree: the clock behind ``run.max_cpu_seconds`` and the research bench.

A budget in CPU seconds compares runs on a loaded or shared machine, where wall time does
not. `CPUClock` counts the CPU time (user + system) this process has used since the clock
started, plus that of its children: finished children through
``resource.getrusage(RUSAGE_CHILDREN)`` (once they have been waited for) and running ones
live from ``/proc/PID/stat`` (Linux; elsewhere running children count when they end).
`tree_cpu_seconds(pid)` measures another process and all its live descendants the same way
(the bench's watchdog uses it on a training subprocess).
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (field 3 onwards), or None."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


def _proc_seconds(fields: list[str], waited_children: bool) -> float:
    # fields[0] is field 3 (state): utime 14, stime 15, cutime 16, cstime 17
    ticks = int(fields[11]) + int(fields[12])
    if waited_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICKS


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    try:
        entries = [e for e in os.listdir(_PROC) if e.isdigit()]
    except OSError:
        return kids
    for entry in entries:
        fields = _stat_fields(int(entry))
        if fields is not None:
            kids.setdefault(int(fields[1]), []).append(int(entry))
    return kids


def live_descendants(pid: int) -> list[int]:
    """Pids of the running descendants of ``pid`` (empty where /proc is missing)."""
    kids = _children_map()
    out, todo = [], list(kids.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of process ``pid``, its waited-for children and its running descendants."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    total = _proc_seconds(fields, waited_children=True)
    for p in live_descendants(pid):
        f = _stat_fields(p)
        if f is not None:
            total += _proc_seconds(f, waited_children=True)
    return total


def children_seconds() -> float:
    """CPU seconds of this process's finished, waited-for children (and theirs)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def live_children_seconds() -> float:
    """CPU seconds so far of this process's running descendants."""
    total = 0.0
    for p in live_descendants(os.getpid()):
        f = _stat_fields(p)
        if f is not None:
            total += _proc_seconds(f, waited_children=True)
    return total


class CPUClock:
    """CPU seconds of this process and its children since the clock started, plus ``offset``
    (the seconds a resumed run had already used)."""

    def __init__(self, offset: float = 0.0):
        self.offset = float(offset)
        self._self0 = time.process_time()
        self._children0 = children_seconds() + live_children_seconds()

    def seconds(self) -> float:
        used = time.process_time() - self._self0
        used += children_seconds() + live_children_seconds() - self._children0
        return self.offset + max(used, 0.0)


__all__ = ["CPUClock", "children_seconds", "live_descendants", "tree_cpu_seconds"]
