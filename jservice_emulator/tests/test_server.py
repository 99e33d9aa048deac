"""The real command line: ``python -m jservice_emulator`` serving over real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from jservice_emulator import healthcheck
from jservice_emulator.settings import EmulatorSettings

REPO_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "emulator exited during start-up"
        try:
            if httpx.get(f"{base_url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("emulator did not become healthy in time")


def test_module_serves_random_over_http(monkeypatch: pytest.MonkeyPatch) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMULATOR_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "jservice_emulator", "--port", str(port), "--log-level", "warning"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_healthy(base_url, process, deadline_s=15)
        response = httpx.get(f"{base_url}/api/random", params={"count": 3}, timeout=5)
        assert response.status_code == 200
        items = response.json()
        assert len(items) == 3
        assert len({item["id"] for item in items}) == 3
        # The container's HEALTHCHECK probe, against the live server and against nothing.
        monkeypatch.setenv("EMULATOR_PORT", str(port))
        assert healthcheck.main() == 0
        monkeypatch.setenv("EMULATOR_PORT", str(_free_port()))
        assert healthcheck.main() == 1
        assert EmulatorSettings.model_fields["port"].default == healthcheck.DEFAULT_PORT
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    # uvicorn shuts down cleanly, then re-raises SIGTERM so the exit status tells why it stopped.
    assert process.returncode in (0, -signal.SIGTERM), stderr.decode(errors="replace")
    assert b"Traceback" not in stderr
