"""Podman as ``make compose-test`` runs it: its settings file, its Docker API service, the
system packages it needs, and the few ``podman`` calls the runner and the asserts make."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from devstack.gateway import REPO_ROOT

CONTAINERS_CONF = REPO_ROOT / "deploy" / "podman" / "containers.conf"
WORK_DIR = REPO_ROOT / "var" / "composetest"

# What the target needs, as (a file the package provides, the Debian package).
REQUIRED_PACKAGES: tuple[tuple[str, str], ...] = (
    ("/usr/bin/podman", "podman"),
    ("/usr/sbin/runc", "runc"),
    ("/usr/lib/podman/netavark", "netavark"),
    ("/usr/lib/podman/aardvark-dns", "aardvark-dns"),
    ("/usr/bin/newuidmap", "uidmap"),
    ("/usr/sbin/iptables", "iptables"),
    ("/usr/bin/mmdebstrap", "mmdebstrap"),
)

SERVICE_START_TIMEOUT_S = 30.0


class PodmanError(Exception):
    """A podman step failed; the message says which and why."""


def missing_packages() -> list[str]:
    return sorted({package for path, package in REQUIRED_PACKAGES if not os.path.exists(path)})


def install_missing_packages() -> None:
    """apt-get install what REQUIRED_PACKAGES lacks (needs root, as the whole target does)."""
    missing = missing_packages()
    if not missing:
        return
    if os.geteuid() != 0:
        raise PodmanError(f"rootful podman needs root; missing packages: {' '.join(missing)}")
    print(f"compose-test: installing {' '.join(missing)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True,
        env=env,
    )


def podman_environ() -> dict[str, str]:
    """This process's environment with the project's containers.conf."""
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(
    *args: str, check: bool = True, timeout: float | None = 600
) -> subprocess.CompletedProcess[str]:
    """``podman ARGS`` with the project's settings; PodmanError with its stderr on failure."""
    binary = shutil.which("podman") or "/usr/bin/podman"
    result = subprocess.run(
        [binary, *args],
        env=podman_environ(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise PodmanError(f"podman {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def inspect(kind: str, names: Sequence[str]) -> list[dict[str, Any]]:
    """``podman <kind> inspect`` of each name (kind: "container" or "image"); [] for none."""
    if not names:
        return []
    result = podman(kind, "inspect", "--format", "json", *names, check=False)
    if result.returncode != 0 and not result.stdout.strip():
        return []
    found: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    return found


def image_label(image: str, label: str) -> str | None:
    """A label of a local image; None when the image or the label is missing."""
    found = inspect("image", [image])
    if not found:
        return None
    labels = (found[0].get("Config") or {}).get("Labels") or {}
    value = labels.get(label)
    return value if isinstance(value, str) else None


def image_size(image: str) -> int | None:
    found = inspect("image", [image])
    if not found:
        return None
    size = found[0].get("Size")
    return size if isinstance(size, int) else None


@dataclass
class ApiService:
    """``podman system service`` on a unix socket, started and stopped by its own pid."""

    socket_path: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self) -> None:
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                ["podman", "system", "service", "--time=0", self.docker_host],
                env=podman_environ(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + SERVICE_START_TIMEOUT_S
        transport = httpx.HTTPTransport(uds=str(self.socket_path))
        with httpx.Client(transport=transport, base_url="http://podman", timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise PodmanError(
                        f"podman system service exited ({self.process.returncode}); "
                        f"see {self.log_path}"
                    )
                try:
                    if client.get("/_ping").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                # Polling a socket that is about to appear: nothing to wait on instead.
                time.sleep(0.2)
        raise PodmanError(f"podman's API did not answer within {SERVICE_START_TIMEOUT_S:g} s")

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None
        self.socket_path.unlink(missing_ok=True)


def stop_process(process: subprocess.Popen[bytes] | None, grace_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``, to this one process (by its pid)."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
