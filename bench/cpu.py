"""Where the CPU went during a measurement: cores used per process group, and the machine.

On a 2-core machine shared with other work, "the service scaled to 1.6x" means little without
knowing who else used the cores meanwhile: the gateway, PostgreSQL, the benchmark's own
client, or other tenants (machine busy time not accounted for by any of our groups).
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psutil

PidSource = Callable[[], Iterable[int]]


def _cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    seconds: dict[int, float] = {}
    for pid in set(pids):
        try:
            times = psutil.Process(pid).cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        seconds[pid] = times.user + times.system
    return seconds


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (that exist right now)."""
    try:
        process = psutil.Process(pid)
        return [pid, *(child.pid for child in process.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def processes_named(name: str) -> list[int]:
    return [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == name]


def _reaped_children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine_busy_seconds() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


@dataclass
class CpuReport:
    wall_s: float
    cores: dict[str, float]  # group -> average cores used over the wall time

    def as_dict(self) -> dict[str, float]:
        return {"wall_s": round(self.wall_s, 3), **{k: round(v, 2) for k, v in self.cores.items()}}


class CpuMeter:
    """Snapshot per-group CPU seconds at ``start()`` and ``stop()``.

    Groups are re-resolved at both ends (processes can start in between: a worker, a
    PostgreSQL backend); "machine" is all busy CPU time and "other" what is left of it
    (other tenants of a shared machine, and any process not in a group).
    """

    def __init__(self, groups: dict[str, PidSource], *, reaped_children: str | None = None) -> None:
        """``reaped_children``: a group name for the CPU of child processes that were started
        and waited for in between (e.g. wrk run by subprocess.run), from getrusage."""
        self.groups = groups
        self.reaped_children = reaped_children
        self._start_children = 0.0
        self._start: dict[str, dict[int, float]] = {}
        self._start_machine = 0.0
        self._start_wall = 0.0

    def _snapshot(self) -> dict[str, dict[int, float]]:
        return {name: _cpu_seconds(source()) for name, source in self.groups.items()}

    def start(self) -> None:
        self._start = self._snapshot()
        self._start_machine = _machine_busy_seconds()
        self._start_children = _reaped_children_seconds()
        self._start_wall = time.perf_counter()

    def stop(self) -> CpuReport:
        wall = time.perf_counter() - self._start_wall
        end = self._snapshot()
        machine = _machine_busy_seconds() - self._start_machine
        cores: dict[str, float] = {}
        for name in self.groups:
            before = self._start.get(name, {})
            # Per pid: a process that started in between counts from zero, one that ended
            # in between is lost (rare here: the services and PostgreSQL keep their pools).
            used = sum(seconds - before.get(pid, 0.0) for pid, seconds in end[name].items())
            cores[name] = max(0.0, used) / wall
        if self.reaped_children is not None:
            reaped = _reaped_children_seconds() - self._start_children
            cores[self.reaped_children] = reaped / wall
        cores["machine"] = machine / wall
        ours = sum(value for name, value in cores.items() if name != "machine")
        cores["other"] = max(0.0, cores["machine"] - ours)
        return CpuReport(wall, cores)


def own_process() -> list[int]:
    return [os.getpid()]
