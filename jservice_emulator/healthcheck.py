"""Container health probe: ``python -m jservice_emulator.healthcheck`` exits 0 when healthy.

A module rather than an inline ``python -c``, so the probe follows ``EMULATOR_PORT`` too. It
reads that one variable itself: importing the settings class (pydantic) costs seconds of CPU
on a busy machine, which a probe with a 3 s timeout, run every 10 s, cannot afford.
"""

from __future__ import annotations

import os
import sys
import urllib.request

DEFAULT_PORT = 9000
"""EmulatorSettings.port's default (jservice_emulator/tests/test_server.py checks it)."""


def main() -> int:
    port = os.environ.get("EMULATOR_PORT") or DEFAULT_PORT
    url = f"http://127.0.0.1:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
