"""The compose project ``make compose-test`` runs: compose and podman calls on it, shared by
the runner and the asserts (tests/compose), which get it from the environment the runner
sets (``ComposeStack.from_environ``)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devstack.composetest.podman import CONTAINERS_CONF, WORK_DIR, inspect, podman
from devstack.gateway import REPO_ROOT
from devstack.static_checks import COMPOSE_FILE, compose_binary, compose_environ

PROJECT = "quiz-audio-composetest"
ENV_DOCKER_HOST = "COMPOSE_TEST_DOCKER_HOST"
ENV_GATEWAY_PORT = "COMPOSE_TEST_GATEWAY_PORT"
BUILT_SERVICES = ("jservice-emulator", "quiz", "audio")
# The worker runs the audio image with another command.
SERVICES = ("postgres", *BUILT_SERVICES, "worker", "gateway")
WAIT_TIMEOUT_S = 240
COMPOSE_LOG = WORK_DIR / "compose.log"


class StackError(Exception):
    """A compose step failed; the message has its output."""


def _clean_environ() -> dict[str, str]:
    """static_checks' environment (no setting compose would read from this process), and no
    DOCKER_* either: the stack runs with docker-compose.yml's own defaults on our socket."""
    return {k: v for k, v in compose_environ().items() if not k.startswith("DOCKER_")}


@dataclass(frozen=True)
class ComposeStack:
    docker_host: str
    gateway_port: int
    project: str = PROJECT

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> ComposeStack:
        return cls(environ[ENV_DOCKER_HOST], int(environ[ENV_GATEWAY_PORT]))

    def environ_for_tests(self) -> dict[str, str]:
        return {ENV_DOCKER_HOST: self.docker_host, ENV_GATEWAY_PORT: str(self.gateway_port)}

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def compose(
        self, *args: str, timeout: float = 900, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env = {
            **_clean_environ(),
            "CONTAINERS_CONF": str(CONTAINERS_CONF),
            "DOCKER_HOST": self.docker_host,
            # The classic builder: compose's Bake path pulls a buildkit image, which cannot
            # be pulled here, fails, and still exits 0.
            "COMPOSE_BAKE": "false",
            "DOCKER_BUILDKIT": "0",
            "GATEWAY_PORT": str(self.gateway_port),
        }
        command = [
            str(compose_binary()),
            "--project-directory",
            str(REPO_ROOT),
            "-f",
            str(COMPOSE_FILE),
            "-p",
            self.project,
            *args,
        ]
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        with COMPOSE_LOG.open("a") as log:
            log.write(f"$ docker compose {' '.join(args)}  # exit {result.returncode}\n")
            log.write(result.stdout + result.stderr)
        if check and result.returncode != 0:
            raise StackError(
                f"docker compose {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def up(self, *args: str) -> None:
        """``up -d --wait``: returns once every container is healthy."""
        self.compose("up", "-d", "--wait", "--wait-timeout", str(WAIT_TIMEOUT_S), *args)

    def containers(self, service: str | None = None) -> list[dict[str, Any]]:
        """``podman inspect`` of the project's containers (of one service), running or not."""
        filters = ["--filter", f"label=com.docker.compose.project={self.project}"]
        if service is not None:
            filters += ["--filter", f"label=com.docker.compose.service={service}"]
        listed = podman("ps", "-a", *filters, "--format", "{{.ID}}")
        return inspect("container", listed.stdout.split())

    def container_id(self, service: str) -> str:
        found = self.containers(service)
        if len(found) != 1:
            raise StackError(f"expected one {service} container, found {len(found)}")
        return str(found[0]["Id"])

    def exec(self, service: str, *command: str) -> str:
        """A command in the service's (one) container; its stdout."""
        return podman("exec", self.container_id(service), *command).stdout

    def logs(self, container_id: str) -> str:
        result = podman("logs", container_id, check=False)
        return result.stdout + result.stderr

    def psql(self, database: str, sql: str) -> str:
        return self.exec(
            "postgres", "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-U", "postgres", "-d", database, "-c", sql,
        )  # fmt: skip

    def image_of(self, service: str) -> str:
        return f"{self.project}-{service}"

    def wait_for(self, what: str, probe: Any, timeout_s: float) -> float:
        """Calls ``probe()`` until it returns True; the seconds that took. StackError after
        ``timeout_s``: polling is the only way to see a remote service come back."""
        start = time.monotonic()
        last_error = ""
        while time.monotonic() - start < timeout_s:
            try:
                if probe():
                    return time.monotonic() - start
            except Exception as exc:
                last_error = repr(exc)
            time.sleep(0.25)
        raise StackError(f"{what}: not within {timeout_s:g} s (last error: {last_error})")
