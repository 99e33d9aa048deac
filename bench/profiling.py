"""A py-spy profile of one service process while a short workload runs, in three lines.

Taken only for a missed target and only after every measurement, so the profiler's overhead
is in no measured figure. ``Runner.run`` as an innermost frame is the uvloop event loop's own
C code (socket I/O, HTTP parsing).
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

RATE_HZ = 100
_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_THREAD = re.compile(r"^thread \(\d+\)(?:: (?P<name>.*))?$")
OWN_CODE = ("audio_service/", "quiz_service/", "shared/", "jservice_emulator/")
_ENTRY_POINTS = ("<module> (", "main (")  # on every stack of the main thread: no information
# Innermost frames of a thread that waits rather than works: py-spy's idle detection misses
# some (a worker parked in Condition.wait), and they are not what the CPU was spent on.
WAITING = {
    *("Condition.wait", "Event.wait", "Thread.join", "Thread._wait_for_tstate_lock", "_worker"),
    *("Queue.get", "SimpleQueue.get", "select", "poll", "epoll", "sleep", "BaseSelector.select"),
    "EpollSelector.select",
}


def _label(frame: str, with_line: bool) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    file = match["file"]
    for marker in ("site-packages/", "lib/python3.11/", "lib/python3.12/", *OWN_CODE):
        if marker in file:
            file = (marker if marker in OWN_CODE else "") + file.split(marker, 1)[1]
            break
    line = f":{match['line']}" if with_line and match["line"] else ""
    return f"{match['func']} ({file}{line})"


def summarise(raw: str, seconds: float, top: int = 6) -> list[str]:
    """py-spy's raw (collapsed) stacks as: busy threads, innermost frames, project code."""
    innermost: Counter[str] = Counter()
    own: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for row in raw.splitlines():
        stack, _, count_text = row.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [frame for frame in stack.split(";") if not frame.startswith("process ")]
        thread = _THREAD.match(frames[0]) if frames else None
        if thread:
            frames = frames[1:]
        if not frames or _label(frames[-1], False).split(" (")[0] in WAITING:
            continue
        threads[((thread and thread["name"]) or "thread").strip()] += count
        innermost[_label(frames[-1], True)] += count
        for label in {_label(frame, False) for frame in frames}:
            if label.split(" (", 1)[-1].startswith(OWN_CODE) and not label.startswith(
                _ENTRY_POINTS
            ):
                own[label] += count
    busy = sum(threads.values())
    if not busy:
        return [f"no busy samples ({total} in all)"]

    def shares(counter: Counter[str]) -> str:
        return "; ".join(f"{key} {100 * n / busy:.0f}%" for key, n in counter.most_common(top))

    return [
        f"{busy} busy of {total} samples over {seconds:.1f} s at {RATE_HZ} Hz; busy threads "
        "on average: "
        + ", ".join(f"{k} {n / (RATE_HZ * seconds):.2f}" for k, n in threads.most_common(4)),
        "busy, innermost frame: " + shares(innermost),
        "busy, project code on the stack: " + shares(own),
    ]


def record(py_spy: Path, pid: int, out: Path, workload: Callable[[], None]) -> list[str]:
    """``py-spy record`` of ``pid`` (and its children) while ``workload()`` runs."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    argv = [str(py_spy), "record", "--pid", str(pid), "--format", "raw", "--output", str(out)]
    argv += ["--rate", str(RATE_HZ), "--duration", "600", "--threads", "--subprocesses"]
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)  # attaching takes a moment; the workload's start should be in the profile
    started = time.perf_counter()
    try:
        workload()
    finally:
        seconds = time.perf_counter() - started
        spy.send_signal(signal.SIGINT)  # py-spy stops sampling and writes what it has
        _, stderr = spy.communicate(timeout=60)
    if not out.exists():
        return [f"py-spy failed: {stderr.decode(errors='replace').strip()[-300:]}"]
    return summarise(out.read_text(encoding="utf-8", errors="replace"), seconds)
