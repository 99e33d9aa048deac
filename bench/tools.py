"""External tools the benchmark needs (``lame``, ``wrk``, nginx, py-spy) and the environment.

``lame`` (the conversion ceiling) and ``wrk`` (the HTTP load generator) are Debian packages:
when one is missing, the benchmark installs it with ``apt-get`` (as root, or through sudo),
as the issue asks, and stops with the exact command when it cannot.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from devstack.gateway import nginx_binary


class ToolError(RuntimeError):
    """A tool the benchmark needs is missing and could not be installed."""


def _apt_prefix() -> list[str] | None:
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo"):
        return ["sudo", "-n"]
    return None


def ensure_debian_package(command: str, package: str) -> Path:
    """The path of ``command``; installs ``package`` with apt-get first when it is missing."""
    found = shutil.which(command)
    if found:
        return Path(found)
    prefix = _apt_prefix()
    hint = f"`sudo apt-get install -y {package}`"
    if prefix is None or not shutil.which("apt-get"):
        raise ToolError(f"{command} is missing and cannot be installed here: run {hint}")
    print(f"bench: {command} is missing, installing the Debian package {package}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*prefix, "apt-get", "install", "-y", "--no-install-recommends", package]
    result = subprocess.run(install, env=env, check=False, capture_output=True, text=True)
    if result.returncode != 0:
        # The package lists may be missing (fresh container): refresh them once and retry.
        subprocess.run([*prefix, "apt-get", "update"], env=env, check=False, capture_output=True)
        result = subprocess.run(install, env=env, check=False, capture_output=True, text=True)
    found = shutil.which(command)
    if result.returncode != 0 or not found:
        raise ToolError(f"installing {package} failed ({result.stderr.strip()[-300:]}): run {hint}")
    return Path(found)


def ensure_nginx() -> Path:
    binary = nginx_binary()
    if binary is None:
        raise ToolError("nginx is missing: run `sudo apt-get install -y nginx-light`")
    return binary


def py_spy_binary() -> Path | None:
    """py-spy from the virtualenv running the benchmark, else from PATH."""
    local = Path(sys.executable).with_name("py-spy")
    if local.exists():
        return local
    found = shutil.which("py-spy")
    return Path(found) if found else None


def _first_line(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    text = (result.stdout or result.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown"


def environment(lame: Path | None, wrk: Path | None, nginx: Path | None) -> dict[str, Any]:
    """Versions and machine facts recorded with every result set."""
    loadavg = os.getloadavg()
    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "load_average_at_start": [round(value, 2) for value in loadavg],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "lame": _first_line([str(lame), "--version"]) if lame else "missing",
        "wrk": _first_line([str(wrk), "-v"]) if wrk else "missing",
        "nginx": _first_line([str(nginx), "-v"]) if nginx else "missing",
        "packages": {
            name: _package_version(name)
            for name in (
                "fastapi",
                "uvicorn",
                "sqlalchemy",
                "asyncpg",
                "httpx",
                "lameenc",
                "soundfile",
                "numpy",
                "psutil",
                "py-spy",
                "matplotlib",
            )
        },
    }
