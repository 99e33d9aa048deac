"""RSS of a process (and its children) sampled in a background thread with psutil.

    with RssSampler(pid, interval_s=0.02) as sampler:
        upload()
    sampler.result.peak_bytes

An optional ``threshold_bytes`` + ``on_threshold`` callback fires once, in a thread of its
own, the first time the RSS reaches the threshold: the benchmark uses it to take a
``py-spy dump`` of what the service was doing at that moment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import psutil

MIB = 1024 * 1024


def process_rss(pid: int, include_children: bool = True) -> int:
    """Resident set size of ``pid`` plus (by default) all its descendants, in bytes."""
    process = psutil.Process(pid)
    total: int = process.memory_info().rss
    if include_children:
        for child in process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.NoSuchProcess:
                continue
    return total


def idle_rss(pid: int, settle_s: float = 0.3, samples: int = 5) -> int:
    """The median RSS over a short quiet period (the service idle, nothing in flight)."""
    values: list[int] = []
    for _ in range(samples):
        values.append(process_rss(pid))
        time.sleep(settle_s / samples)
    values.sort()
    return values[len(values) // 2]


@dataclass
class RssResult:
    samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, rss)

    @property
    def peak_bytes(self) -> int:
        return max((rss for _, rss in self.samples), default=0)

    @property
    def peak_at_s(self) -> float:
        if not self.samples:
            return 0.0
        return max(self.samples, key=lambda sample: sample[1])[0]

    def timeline(self, points: int = 40) -> list[tuple[float, float]]:
        """A thinned (seconds, MiB) series for the results file, keeping the peak."""
        if not self.samples:
            return []
        step = max(1, len(self.samples) // points)
        chosen = {*range(0, len(self.samples), step), len(self.samples) - 1}
        peak_index = max(range(len(self.samples)), key=lambda i: self.samples[i][1])
        chosen.add(peak_index)
        return [
            (round(self.samples[i][0], 3), round(self.samples[i][1] / MIB, 1))
            for i in sorted(chosen)
        ]


class RssSampler:
    def __init__(
        self,
        pid: int,
        *,
        interval_s: float = 0.02,
        include_children: bool = True,
        threshold_bytes: int | None = None,
        on_threshold: Callable[[int], None] | None = None,
    ) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.include_children = include_children
        self.threshold_bytes = threshold_bytes
        self.on_threshold = on_threshold
        self.result = RssResult()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)
        self._fired = False
        self._callback: threading.Thread | None = None

    def _run(self) -> None:
        start = time.perf_counter()
        next_at = start
        while not self._stop.is_set():
            try:
                rss = process_rss(self.pid, self.include_children)
            except psutil.NoSuchProcess:
                return
            self.result.samples.append((time.perf_counter() - start, rss))
            if (
                not self._fired
                and self.threshold_bytes is not None
                and self.on_threshold is not None
                and rss >= self.threshold_bytes
            ):
                self._fired = True
                # In its own thread: a slow callback must not leave gaps in the samples.
                self._callback = threading.Thread(
                    target=self.on_threshold, args=(rss,), name=f"rss-{self.pid}-hook"
                )
                self._callback.start()
            next_at += self.interval_s
            self._stop.wait(max(0.0, next_at - time.perf_counter()))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> RssResult:
        self._stop.set()
        self._thread.join()
        if self._callback is not None:
            self._callback.join()
        return self.result

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
