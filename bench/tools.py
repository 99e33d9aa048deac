"""The external commands the measures run, and the versions recorded with every result.

The benchmark installs nothing: ``make bench-tools`` (a prerequisite of ``make bench``)
installs the Debian packages; a tool still missing stops the run before it starts, with the
command that installs it.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from devstack.gateway import nginx_binary

PACKAGES = {"lame": "lame", "wrk": "wrk", "nginx": "nginx-light"}
VERSION_FLAGS = {"lame": "--version", "wrk": "-v", "nginx": "-v", "py-spy": "--version"}
PYTHON_PACKAGES = ("fastapi", "uvicorn", "sqlalchemy", "asyncpg", "lameenc", "numpy", "psutil")


class ToolError(RuntimeError):
    pass


def find(name: str) -> Path | None:
    if name == "nginx":
        return nginx_binary()
    beside_python = Path(sys.executable).with_name(name)  # py-spy from the bench extra
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    return Path(found) if found else None


def require(names: set[str]) -> dict[str, Path]:
    found = {name: find(name) for name in sorted(names)}
    missing = sorted(name for name, path in found.items() if path is None)
    if missing:
        packages = " ".join(PACKAGES.get(name, name) for name in missing)
        raise ToolError(
            f"missing: {', '.join(missing)}. Install with `make bench-tools` "
            f"(apt-get install -y {packages})"
        )
    return {name: path for name, path in found.items() if path is not None}


def _version(path: Path, flag: str) -> str:
    try:
        result = subprocess.run([path, flag], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def environment(tools: dict[str, Path]) -> dict[str, str]:
    def package(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    model = next(
        (r.split(":", 1)[1].strip() for r in cpuinfo.splitlines() if "model name" in r), ""
    )
    return {
        "cpus": f"{os.cpu_count()} x {model or platform.processor()}",
        "load_average": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **{
            name: _version(path, VERSION_FLAGS.get(name, "--version"))
            for name, path in tools.items()
        },
        "packages": ", ".join(f"{name} {package(name)}" for name in PYTHON_PACKAGES),
    }
