"""``make compose-test`` (``python -m devstack.composetest``): the compose stack for real.

Installs what is missing, starts podman's Docker API and the healthcheck loop (each by its
own pid), builds the stand-in base images when their recipe changed, builds the project's
images from the real Dockerfiles with the real compose v2, brings the stack up, runs the
asserts (pytest tests/compose -m compose), and always ends with ``down -v`` and both processes
stopped. Timings and image sizes are printed and written to var/composetest/report.md.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from devstack.composetest.podman import (
    WORK_DIR,
    ApiService,
    PodmanError,
    image_size,
    install_missing_packages,
    podman,
    podman_environ,
    stop_process,
)
from devstack.composetest.stack import BUILT_SERVICES, COMPOSE_LOG, ComposeStack, StackError
from devstack.composetest.standins import PYTHON, STANDINS, StandIn, ensure_standins
from devstack.gateway import REPO_ROOT
from devstack.ports import free_port

REPORT_PATH = WORK_DIR / "report.md"
OTHER_STANDINS = tuple(standin for standin in STANDINS if standin is not PYTHON)
LOGS_DIR = WORK_DIR / "logs"
ASSERTS_DIR = REPO_ROOT / "tests" / "compose"
ASSERT_TIMEOUT_S = 600


@dataclass
class Timings:
    steps: list[tuple[str, float]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        print(f"compose-test: {name}", flush=True)
        start = time.monotonic()
        try:
            yield
        finally:
            self.steps.append((name, time.monotonic() - start))

    @property
    def total_s(self) -> float:
        return time.monotonic() - self.started


def _mib(size: int | None) -> str:
    return "missing" if size is None else f"{size / 2**20:.0f} MiB"


def timed(timings: Timings, name: str, standins: Sequence[StandIn]) -> list[str]:
    with timings.step(name):
        return ensure_standins(standins)


def report(stack: ComposeStack, timings: Timings, built: list[str], outcome: str) -> str:
    lines = [
        "# make compose-test",
        "",
        f"Outcome: {outcome}. Total {timings.total_s:.0f} s; stand-ins "
        + (f"built: {', '.join(built)}" if built else "reused from podman's storage")
        + ".",
        "",
        "| step | seconds |",
        "|---|---:|",
        *(f"| {name} | {seconds:.1f} |" for name, seconds in timings.steps),
        "",
        "| image | size |",
        "|---|---:|",
        *(
            f"| {stack.image_of(service)} | {_mib(image_size(stack.image_of(service)))} |"
            for service in BUILT_SERVICES
        ),
        *(
            f"| {standin.image} (stand-in) | {_mib(image_size(standin.image))} |"
            for standin in STANDINS
        ),
    ]
    return "\n".join(lines) + "\n"


def check_images_built(stack: ComposeStack) -> None:
    """compose can exit 0 without building (see podman.compose's environment): check."""
    missing = [
        stack.image_of(service)
        for service in BUILT_SERVICES
        if podman("image", "exists", stack.image_of(service), check=False).returncode != 0
    ]
    if missing:
        raise StackError(f"docker compose build exited 0 but built no {', '.join(missing)}")


def save_container_logs(stack: ComposeStack) -> None:
    """Every container's output, before ``down`` removes it (CI keeps var/)."""
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    try:
        containers = stack.containers()
    except PodmanError as exc:
        print(f"compose-test: no container logs: {exc}", file=sys.stderr)
        return
    for container in containers:
        name = str(container.get("Name", container["Id"])).lstrip("/")
        (LOGS_DIR / f"{name}.log").write_text(stack.logs(str(container["Id"])))


def run_asserts(stack: ComposeStack, pytest_args: list[str]) -> int:
    command = [
        sys.executable, "-m", "pytest", "-m", "compose", "-p", "no:cacheprovider",
        f"--timeout={ASSERT_TIMEOUT_S}", "--durations=0", str(ASSERTS_DIR), *pytest_args,
    ]  # fmt: skip
    env = {**podman_environ(), **stack.environ_for_tests()}
    return subprocess.run(command, env=env, cwd=REPO_ROOT, check=False).returncode


def main(pytest_args: list[str]) -> int:
    # A CI timeout's SIGTERM unwinds like Ctrl-C, so the finally below still cleans up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    timings = Timings()
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    COMPOSE_LOG.write_text("")
    service = ApiService(WORK_DIR / "podman.sock", WORK_DIR / "podman-service.log")
    stack = ComposeStack(service.docker_host, free_port())
    health_loop: subprocess.Popen[bytes] | None = None
    built: list[str] = []
    outcome = "failed"
    try:
        with timings.step("packages"):
            install_missing_packages()
        service.start()
        # Whatever an interrupted run left behind.
        stack.compose("down", "-v", "--remove-orphans", check=False)
        # Only the python stand-in is a build's base: the others are made alongside the
        # project's builds.
        with ThreadPoolExecutor(max_workers=1) as alongside:
            others = alongside.submit(timed, timings, "postgres + nginx stand-ins", OTHER_STANDINS)
            try:
                with timings.step("python stand-in"):
                    built = ensure_standins([PYTHON])
                with timings.step("docker compose build"):
                    stack.compose("build")
                    check_images_built(stack)
            finally:
                built += others.result()
        with (WORK_DIR / "healthloop.log").open("wb") as log:
            health_loop = subprocess.Popen(
                [sys.executable, "-m", "devstack.composetest.healthloop", stack.project],
                env=podman_environ(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
            )
        with timings.step("docker compose up (every container healthy)"):
            stack.up()
        with timings.step("asserts (tests/compose)"):
            returncode = run_asserts(stack, pytest_args)
        outcome = "passed" if returncode == 0 else "failed"
        return returncode
    except (PodmanError, StackError, subprocess.SubprocessError) as exc:
        print(f"compose-test: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        try:
            save_container_logs(stack)
            with timings.step("docker compose down -v"):
                stack.compose("down", "-v", "--remove-orphans", "--timeout", "10", check=False)
        finally:
            stop_process(health_loop)
            service.stop()
            text = report(stack, timings, built, outcome)
            REPORT_PATH.write_text(text)
            print(text, flush=True)
