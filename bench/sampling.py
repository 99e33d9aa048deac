"""What processes use while a measurement runs: resident memory (sampled) and CPU (by group).

On a 2-core machine shared with other work, "the service scaled to 1.6x" means little without
knowing who else used the cores meanwhile, hence ``CpuMeter``'s "other": busy CPU time of the
machine that none of our process groups accounts for.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Self

import psutil

from bench.stats import median

MIB = 1024 * 1024
PidSource = Callable[[], Iterable[int]]


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants that exist right now."""
    try:
        return [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def processes_named(name: str) -> list[int]:
    return [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == name]


def own_process() -> list[int]:
    return [os.getpid()]


def tree_rss(pid: int) -> int:
    """Resident set size of ``pid`` and its descendants, in bytes."""
    total = 0
    for each in process_tree(pid):
        try:
            total += int(psutil.Process(each).memory_info().rss)
        except psutil.NoSuchProcess:
            continue
    return total


def idle_rss(pid: int, samples: int = 5) -> int:
    """The median RSS over a short quiet period (nothing in flight)."""
    values = []
    for _ in range(samples):
        values.append(tree_rss(pid))
        time.sleep(0.06)
    return round(median(values))


class RssSampler:
    """The peak RSS of a process tree, sampled every ``interval_s`` in a background thread."""

    def __init__(self, pid: int, interval_s: float = 0.02) -> None:
        self.pid, self.interval_s = pid, interval_s
        self.peak_bytes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, tree_rss(self.pid))
            self.samples += 1
            self._stop.wait(self.interval_s)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()


def _cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    seconds: dict[int, float] = {}
    for pid in set(pids):
        try:
            times = psutil.Process(pid).cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        seconds[pid] = times.user + times.system
    return seconds


def _machine_busy_seconds() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """Average cores used per process group between ``start()`` and ``stop()``, plus
    "machine" (all busy CPU) and "other" (what no group accounts for: other tenants).

    Groups are resolved at both ends, per pid (a PostgreSQL backend started in between counts
    from zero). ``children``: a group name for the CPU of child processes started and reaped
    in between (``lame``, ``wrk`` run by subprocess), from getrusage.
    """

    def __init__(self, groups: dict[str, PidSource], children: str | None = None) -> None:
        self.groups, self.children = groups, children

    def _snapshot(self) -> dict[str, dict[int, float]]:
        return {name: _cpu_seconds(source()) for name, source in self.groups.items()}

    def start(self) -> None:
        self._start = self._snapshot()
        self._machine = _machine_busy_seconds()
        self._reaped = _children_seconds()
        self._wall = time.perf_counter()

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self._wall
        end = self._snapshot()
        cores = {
            name: max(0.0, sum(s - self._start[name].get(pid, 0.0) for pid, s in pids.items()))
            / wall
            for name, pids in end.items()
        }
        if self.children is not None:
            cores[self.children] = (_children_seconds() - self._reaped) / wall
        machine = (_machine_busy_seconds() - self._machine) / wall
        cores["other"] = max(0.0, machine - sum(cores.values()))
        return {name: round(value, 2) for name, value in cores.items()}


def cores_cell(runs: list[dict[str, float]], *groups: str) -> str:
    """ "a / b / … / other": the median cores of each group over ``runs``, for a table cell
    (an empty group name shows 0: a process that has no part in that case)."""
    return " / ".join(
        f"{median([r.get(g, 0.0) for r in runs]) if g else 0.0:.2f}" for g in (*groups, "other")
    )
