"""The whole system on loopback: emulator, N instances of each service, the nginx gateway.

``make run`` starts one of each in the foreground; the end-to-end tests and benchmarks start
two of each against PostgreSQL. Every instance is the real ``python -m <service>`` process
(it migrates, then serves), and the gateway runs the project's own nginx template.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path

from devstack.gateway import Gateway, nginx_binary
from devstack.processes import ManagedProcess, python_module

ONE_MIB = 1024 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 256 * ONE_MIB


@dataclass
class StackConfig:
    workdir: Path
    gateway_port: int
    quiz_ports: list[int]
    audio_ports: list[int]
    emulator_port: int | None
    env: dict[str, str] = field(default_factory=dict)
    # GATEWAY_* settings of the template (devstack.gateway.GATEWAY_DEFAULTS when unset).
    gateway_settings: dict[str, str] = field(default_factory=dict)
    with_gateway: bool = True
    nginx_workers: int = 1
    log_to_files: bool = True

    @property
    def max_upload_bytes(self) -> int:
        return int(self.env.get("AUDIO_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES))

    @property
    def gateway_max_body_bytes(self) -> int:
        # The multipart body is the file plus a little form overhead; 1 MiB covers it, so a
        # file just over the limit still reaches the service and gets its precise 413.
        return self.max_upload_bytes + ONE_MIB


class LocalStack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.processes: dict[str, ManagedProcess] = {}
        self.gateway: Gateway | None = None

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.config.gateway_port}"

    def service_url(self, name: str) -> str:
        kind, index = name.rsplit("-", 1)
        ports = self.config.quiz_ports if kind == "quiz" else self.config.audio_ports
        return f"http://127.0.0.1:{ports[int(index)]}"

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.config.emulator_port}"

    def _log_path(self, name: str) -> Path | None:
        return self.config.workdir / "logs" / f"{name}.log" if self.config.log_to_files else None

    def _process(self, name: str) -> ManagedProcess:
        """The process called ``name``: "emulator", or "<quiz|audio>-<index>"."""
        if name == "emulator":
            argv = ["--host", "127.0.0.1", "--port", str(self.config.emulator_port)]
            return ManagedProcess(
                name,
                python_module("jservice_emulator", *argv),
                env=self.config.env,
                log_path=self._log_path(name),
            )
        kind, index = name.rsplit("-", 1)
        return self._service_process(kind, int(index))

    def _health_url(self, name: str) -> str:
        base = self.emulator_url if name == "emulator" else self.service_url(name)
        return f"{base}/health"

    def _service_process(self, kind: str, index: int) -> ManagedProcess:
        prefix = kind.upper()
        ports = self.config.quiz_ports if kind == "quiz" else self.config.audio_ports
        env = {
            **self.config.env,
            f"{prefix}_HOST": "127.0.0.1",
            f"{prefix}_PORT": str(ports[index]),
        }
        if kind == "quiz" and self.config.emulator_port is not None:
            env.setdefault("QUIZ_UPSTREAM_URL", f"{self.emulator_url}/api/random")
        name = f"{kind}-{index}"
        return ManagedProcess(
            name, python_module(f"{kind}_service"), env=env, log_path=self._log_path(name)
        )

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self.config.workdir.mkdir(parents=True, exist_ok=True)
        if self.config.emulator_port is not None:
            self.processes["emulator"] = self._process("emulator")
            self.processes["emulator"].start()
        for kind, ports in (("quiz", self.config.quiz_ports), ("audio", self.config.audio_ports)):
            for index in range(len(ports)):
                process = self._service_process(kind, index)
                self.processes[process.name] = process
                process.start()
        for name, process in self.processes.items():
            process.wait_http_ok(self._health_url(name))
        if self.config.with_gateway:
            self.gateway = Gateway(
                workdir=self.config.workdir / "nginx",
                values={
                    "GATEWAY_LISTEN": f"127.0.0.1:{self.config.gateway_port}",
                    "QUIZ_SERVERS": _servers(self.config.quiz_ports),
                    "AUDIO_SERVERS": _servers(self.config.audio_ports),
                    "GATEWAY_MAX_BODY_SIZE": str(self.config.gateway_max_body_bytes),
                    **self.config.gateway_settings,
                },
                worker_processes=self.config.nginx_workers,
            )
            self.gateway.start()

    @property
    def service_names(self) -> list[str]:
        return [name for name in self.processes if name != "emulator"]

    def restart_service(self, name: str, sig: signal.Signals = signal.SIGTERM) -> None:
        self.stop_service(name, sig)
        self.start_service(name)

    def stop_service(self, name: str, sig: signal.Signals = signal.SIGTERM) -> int | None:
        return self.processes[name].stop(sig)

    def start_service(self, name: str) -> None:
        """Starts ``name`` (a service instance or the emulator) again, same port and settings."""
        process = self._process(name)
        self.processes[name] = process
        process.start()
        process.wait_http_ok(self._health_url(name))

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None
        for process in reversed(list(self.processes.values())):
            process.stop()


def _servers(ports: list[int]) -> str:
    return " ".join(f"server 127.0.0.1:{port};" for port in ports)


def gateway_available() -> bool:
    return nginx_binary() is not None
