"""``python -m devstack.composetest.healthloop PROJECT``: run the healthchecks of a compose
project's containers, which podman leaves to systemd timers (and there is no systemd here).

A container still "starting" is checked every second, so its dependants start as soon as it
is ready (failures in its start period do not count, as under Docker); a healthy or unhealthy
one at its own interval. The runner starts this as its own process and stops it by its pid.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from devstack.composetest.podman import inspect, podman

STARTING_PERIOD_S = 1.0
DEFAULT_INTERVAL_S = 30.0
LOOP_PERIOD_S = 0.5
NANOSECONDS = 1_000_000_000


def _interval_s(container: dict[str, Any]) -> float | None:
    """The healthcheck's interval; None for a container without one."""
    config = (container.get("Config") or {}).get("Healthcheck") or {}
    test = config.get("Test") or []
    if not test or test == ["NONE"]:
        return None
    interval = config.get("Interval") or 0
    return interval / NANOSECONDS if interval else DEFAULT_INTERVAL_S


def _health_status(container: dict[str, Any]) -> str:
    state = container.get("State") or {}
    health = state.get("Health") or state.get("Healthcheck") or {}
    status = health.get("Status")
    return status if isinstance(status, str) else "starting"


@dataclass
class HealthLoop:
    project: str
    stop: threading.Event = field(default_factory=threading.Event)
    _last_run: dict[str, float] = field(default_factory=dict)

    def running_containers(self) -> list[dict[str, Any]]:
        listed = podman(
            "ps",
            "--filter",
            f"label=com.docker.compose.project={self.project}",
            "--format",
            "{{.ID}}",
            check=False,
        )
        ids = listed.stdout.split()
        return [c for c in inspect("container", ids) if (c.get("State") or {}).get("Running")]

    def due(self, container: dict[str, Any], now: float) -> bool:
        interval = _interval_s(container)
        if interval is None:
            return False
        if _health_status(container) == "starting":
            interval = min(interval, STARTING_PERIOD_S)
        return now - self._last_run.get(str(container["Id"]), 0.0) >= interval

    def run(self) -> None:
        # One check at a time: side by side, the probes (each a python start in a container)
        # would slow each other past their timeouts on a 2-core machine.
        while not self.stop.is_set():
            for container in self.running_containers():
                container_id = str(container["Id"])
                if self.stop.is_set() or not self.due(container, time.monotonic()):
                    continue
                self._last_run[container_id] = time.monotonic()
                podman("healthcheck", "run", container_id, check=False, timeout=60)
            self.stop.wait(LOOP_PERIOD_S)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m devstack.composetest.healthloop PROJECT", file=sys.stderr)
        return 2
    loop = HealthLoop(argv[0])
    signal.signal(signal.SIGTERM, lambda *_: loop.stop.set())
    signal.signal(signal.SIGINT, lambda *_: loop.stop.set())
    print(json.dumps({"healthloop": "started", "project": loop.project}), flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
