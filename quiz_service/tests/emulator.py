"""The project's jservice emulator as a real HTTP server in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from testkit.postgres import unavailable

ROOT = Path(__file__).parents[2]
_STARTUP_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Emulator:
    base_url: str

    @property
    def random_url(self) -> str:
        return f"{self.base_url}/api/random"

    async def configure(self, **config: Any) -> None:
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            (await client.put("/_control/config", json=config)).raise_for_status()

    async def reset(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            (await client.post("/_control/reset")).raise_for_status()

    async def stats(self) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            response = await client.get("/_control/stats")
            response.raise_for_status()
            stats: dict[str, Any] = response.json()
            return stats


@contextmanager
def start_emulator() -> Iterator[Emulator]:
    port = free_port()
    env = {**os.environ, "EMULATOR_SEED": "7", "EMULATOR_QUIRK_RATE": "0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "jservice_emulator", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    try:
        emulator = Emulator(f"http://127.0.0.1:{port}")
        _wait_until_up(emulator, process)
        yield emulator
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(emulator: Emulator, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            unavailable(f"the jservice emulator exited with {process.returncode} on start")
        try:
            if httpx.get(f"{emulator.base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    unavailable(f"the jservice emulator did not answer within {_STARTUP_TIMEOUT_S:g} s")
