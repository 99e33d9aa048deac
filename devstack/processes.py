"""Child processes of the local stack: start, wait until healthy, stop gracefully."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import httpx


class ProcessFailedError(RuntimeError):
    pass


class ManagedProcess:
    """One child whose output goes to a log file (or our own stderr when ``log_path`` is None)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = {**os.environ, **(env or {})}
        self.log_path = log_path
        self.cwd = cwd
        self._log: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> None:
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT if self._log else None,
            # Own process group: Ctrl-C in the terminal reaches us, and we stop children in order.
            start_new_session=True,
        )

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def wait_http_ok(self, url: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.running():
                raise ProcessFailedError(
                    f"{self.name} exited early; see {self.log_path or 'stderr'}"
                )
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise ProcessFailedError(f"{self.name} not healthy at {url} after {timeout_s:.0f} s")

    def send_signal(self, sig: signal.Signals) -> None:
        if self.running():
            assert self._process is not None
            self._process.send_signal(sig)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 35.0) -> int | None:
        """Waits past the services' 30 s graceful shutdown before it kills."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        self._process = None
        return process.returncode


def stop_process_group(
    process: subprocess.Popen[bytes], graceful: signal.Signals, timeout_s: float
) -> None:
    """``graceful`` to a leader started with ``start_new_session``, then SIGTERM, then SIGKILL
    to its whole group (nginx's workers included)."""
    if process.poll() is not None:
        return
    for sig, wait_s in ((graceful, timeout_s), (signal.SIGTERM, 2.0)):
        process.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait_s)
            return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
