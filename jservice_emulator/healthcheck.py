"""Container health probe: ``python -m jservice_emulator.healthcheck`` exits 0 when healthy.

A module rather than an inline ``python -c``, so the probe follows ``EMULATOR_PORT`` too.
"""

from __future__ import annotations

import sys
import urllib.request

from jservice_emulator.settings import EmulatorSettings


def main() -> int:
    url = f"http://127.0.0.1:{EmulatorSettings().port}/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
