"""Profiles of a service process with py-spy, summarised for the results file.

``SpyRecorder`` runs ``py-spy record --format raw`` (collapsed stacks, one line per distinct
stack with its sample count) on a pid while a workload runs; ``summarise_collapsed`` turns
that into the few numbers a reader needs: where the samples are, by the innermost frame
("self") and by every function on the stack ("inclusive"), and per thread. ``dump`` takes a
one-shot ``py-spy dump`` (every thread's stack right now), e.g. at a memory peak.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_THREAD = re.compile(r"^thread \(\d+\)(?:: (?P<name>.*))?$")
# Path fragments that mark "our" code, for the inclusive view.
OWN_CODE = ("audio_service/", "quiz_service/", "shared/", "jservice_emulator/")


def _short_file(path: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/", "lib/python3.12/", "lib/python3.13/"):
        if marker in path:
            return path.split(marker, 1)[1]
    for own in OWN_CODE:
        if own in path:
            return own + path.split(own, 1)[1]
    return path


def _frame_label(frame: str, with_line: bool) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    file = _short_file(match["file"])
    if with_line and match["line"]:
        return f"{match['func']} ({file}:{match['line']})"
    return f"{match['func']} ({file})"


# Innermost frames of a thread that is blocked, not working. py-spy's own idle detection
# misses many of them (a worker parked in Condition.wait still shows up), so they are
# counted here as "waiting" and left out of the busy figures.
WAIT_FUNCTIONS = frozenset(
    {
        "Condition.wait",
        "Event.wait",
        "Thread.join",
        "Thread._wait_for_tstate_lock",
        "_worker",
        "Queue.get",
        "SimpleQueue.get",
        "select",
        "poll",
        "epoll",
        "sleep",
        "BaseSelector.select",
        "EpollSelector.select",
    }
)
# Frames on the stack of every sample of the main thread: no information.
_ROOT_FUNCTIONS = frozenset({"<module>", "main", "_run_module_as_main", "_run_code", "run"})


@dataclass
class ProfileSummary:
    samples: int
    busy_samples: int
    seconds: float
    rate_hz: int
    top_self: list[tuple[str, float]]  # (innermost frame, % of busy samples)
    top_inclusive: list[tuple[str, float]]  # (function on the stack, % of busy samples)
    top_own_inclusive: list[tuple[str, float]]  # the same, restricted to this project's code
    threads_busy: list[tuple[str, float]]  # (thread name, average busy threads of that name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "busy_samples": self.busy_samples,
            "seconds": round(self.seconds, 2),
            "rate_hz": self.rate_hz,
            "top_self": [{"frame": f, "pct_of_busy": p} for f, p in self.top_self],
            "top_inclusive": [{"function": f, "pct_of_busy": p} for f, p in self.top_inclusive],
            "top_own_inclusive": [
                {"function": f, "pct_of_busy": p} for f, p in self.top_own_inclusive
            ],
            "threads_busy": [{"thread": t, "busy_threads": b} for t, b in self.threads_busy],
        }

    def lines(self, top: int = 6) -> list[str]:
        if not self.samples:
            return ["no samples"]
        return [
            f"{self.busy_samples} busy of {self.samples} samples over {self.seconds:.1f} s "
            f"at {self.rate_hz} Hz; busy threads on average: "
            + ", ".join(f"{name} {busy:.2f}" for name, busy in self.threads_busy[:4]),
            "busy, innermost frame: " + "; ".join(f"{f} {p:.0f}%" for f, p in self.top_self[:top]),
            "busy, project code on the stack: "
            + "; ".join(f"{f} {p:.0f}%" for f, p in self.top_own_inclusive[:top]),
        ]


def _function(label: str) -> str:
    return label.split(" (", 1)[0]


def summarise_collapsed(
    path: Path, *, seconds: float = 0.0, rate_hz: int = 100, top: int = 10
) -> ProfileSummary:
    """Summary of py-spy's raw (collapsed-stack) output, recorded with ``--threads``.

    Percentages are of the busy samples (waiting leaves removed, see WAIT_FUNCTIONS);
    ``threads_busy`` is busy samples / (rate x seconds): how many threads of that name were
    working on average, i.e. the cores the Python-visible work of that kind used.
    """
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = busy = 0
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    for row in text.splitlines():
        stack, _, count_text = row.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        thread_name = "?"
        if frames and frames[0].startswith("process "):
            frames = frames[1:]
        if frames and (match := _THREAD.match(frames[0])):
            thread_name = (match["name"] or "thread").strip()
            frames = frames[1:]
        if not frames or _function(_frame_label(frames[-1], with_line=False)) in WAIT_FUNCTIONS:
            continue
        busy += count
        threads[thread_name] += count
        self_counts[_frame_label(frames[-1], with_line=True)] += count
        seen = {_frame_label(frame, with_line=False) for frame in frames}
        for label in seen:
            if _function(label) in _ROOT_FUNCTIONS:
                continue
            inclusive[label] += count
            if label.split(" (", 1)[-1].startswith(OWN_CODE):
                own[label] += count

    def pct(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(key, round(100 * value / busy, 1)) for key, value in counter.most_common(top)]

    if busy == 0:
        return ProfileSummary(total, 0, seconds, rate_hz, [], [], [], [])
    expected = rate_hz * seconds
    threads_busy = [
        (name, round(count / expected, 2) if expected else float("nan"))
        for name, count in threads.most_common()
    ]
    return ProfileSummary(
        total, busy, seconds, rate_hz, pct(self_counts), pct(inclusive), pct(own), threads_busy
    )


class SpyRecorder:
    """``py-spy record`` on ``pid`` for at most ``max_duration_s`` or until ``stop()``."""

    def __init__(
        self,
        py_spy: Path,
        pid: int,
        out: Path,
        *,
        max_duration_s: float = 120.0,
        rate_hz: int = 100,
        idle: bool = False,
    ) -> None:
        self.out = out
        self.rate_hz = rate_hz
        self._started = 0.0
        self.argv = [
            str(py_spy),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--output",
            str(out),
            "--rate",
            str(rate_hz),
            "--duration",
            str(max(1, round(max_duration_s))),
            "--threads",
            "--subprocesses",
            *(["--idle"] if idle else []),
        ]
        self._process: subprocess.Popen[bytes] | None = None
        self.error: str | None = None

    def start(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.unlink(missing_ok=True)
        self._process = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self._started = time.perf_counter()

    def stop(self) -> ProfileSummary:
        process = self._process
        if process is None:
            return ProfileSummary(0, 0, 0.0, self.rate_hz, [], [], [], [])
        seconds = time.perf_counter() - self._started
        if process.poll() is None:
            # SIGINT makes py-spy stop sampling and write what it has.
            process.send_signal(2)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        if not self.out.exists():
            self.error = stderr.decode(errors="replace").strip()[-500:]
        return summarise_collapsed(self.out, seconds=seconds, rate_hz=self.rate_hz)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()


def dump(py_spy: Path, pid: int) -> str:
    """Every thread's Python stack of ``pid`` right now (``py-spy dump``)."""
    try:
        result = subprocess.run(
            [str(py_spy), "dump", "--pid", str(pid)],
            capture_output=True,
            text=True,
            check=False,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        return "py-spy dump timed out"
    return (result.stdout or result.stderr).strip()


def summarise_dump(text: str, frames_per_thread: int = 4) -> list[str]:
    """The active threads of a ``py-spy dump`` with their innermost frames, one line each."""
    lines: list[str] = []
    current: list[str] = []
    header = ""
    for row in [*text.splitlines(), "Thread end"]:
        if row.startswith("Thread "):
            if header and "(idle)" not in header:
                short = [_frame_label(frame.strip(), with_line=True) for frame in current]
                lines.append(f"{header.strip()}: " + " <- ".join(short[:frames_per_thread]))
            header, current = row, []
        elif row.startswith("    ") and header:
            current.append(row)
    return lines
