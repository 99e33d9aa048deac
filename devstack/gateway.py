"""Run the real nginx gateway outside Docker, from the one template docker compose also uses.

``render_gateway_conf`` fills ``nginx/templates/gateway.conf.template`` like the nginx image's
envsubst does (only the given names are substituted; nginx's own ``$variables`` are left alone).
``Gateway`` writes a main ``nginx.conf`` around it in a work directory (pid, logs and every temp
path inside that directory), validates it with ``nginx -t`` and runs nginx in the foreground as
a child process::

    with Gateway.local(tmp_path, quiz_servers=["127.0.0.1:8001"],
                       audio_servers=["127.0.0.1:8002"]) as gateway:
        httpx.get(f"{gateway.url}/health")
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from devstack.ports import LOOPBACK, free_port
from devstack.processes import stop_process_group

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = REPO_ROOT / "nginx" / "templates" / "gateway.conf.template"
# The page's static files; compose mounts the same directory into the gateway container.
WEB_ROOT = REPO_ROOT / "web"
# AUDIO_MAX_UPLOAD_BYTES (256 MiB) + 1 MiB of multipart overhead; see the template.
DEFAULT_MAX_BODY_SIZE = "257m"
# An upstream group needs a server; this one is never contacted (and answers 503 if it were).
NO_S3_SERVERS = "server 127.0.0.1:9 down;"
# The gateway's settings that have a default (docker-compose.yml and .env.example use the
# same values); the README's gateway section says what each one does.
GATEWAY_DEFAULTS = {
    "GATEWAY_SMALL_BODY_MAX_SIZE": "16k",
    "GATEWAY_HEADER_TIMEOUT": "10s",
    "GATEWAY_BODY_IDLE_TIMEOUT": "10s",
    "GATEWAY_MAX_CONNECTIONS_PER_CLIENT": "128",
    "GATEWAY_PUBLIC_HOST": "",
    # nginx's set_real_ip_from needs a value; nothing here listens on a UNIX socket.
    "GATEWAY_TRUSTED_PROXY": "unix:",
    # The object store of S3 downloads; a placeholder that is never used on PostgreSQL.
    "GATEWAY_S3_SERVERS": NO_S3_SERVERS,
    # Per client address: POST /user, POST /record, POST /quiz (bursts pass at once).
    "GATEWAY_RATE_LIMITS": "on",
    "GATEWAY_USER_RATE_PER_MINUTE": "30",
    "GATEWAY_USER_BURST": "10",
    "GATEWAY_RECORD_RATE_PER_MINUTE": "60",
    "GATEWAY_RECORD_BURST": "20",
    "GATEWAY_QUIZ_RATE_PER_MINUTE": "120",
    "GATEWAY_QUIZ_BURST": "30",
    # Who may read nginx's counters (stub_status): compose's exporter shares the gateway's
    # network namespace, so loopback.
    "GATEWAY_STATUS_ALLOW": "127.0.0.1",
}
NO_RATE_LIMITS = {"GATEWAY_RATE_LIMITS": "off"}
"""For the tests and benchmarks that send many requests from one address on purpose."""
TEMPLATE_VARIABLES = (
    "GATEWAY_LISTEN",
    "QUIZ_SERVERS",
    "AUDIO_SERVERS",
    "GATEWAY_MAX_BODY_SIZE",
    "GATEWAY_CACHE_DIR",
    "GATEWAY_WEB_ROOT",
    *GATEWAY_DEFAULTS,
)
MIME_TYPES = Path("/etc/nginx/mime.types")
NGINX_INSTALL_HINT = (
    "nginx is not installed: install it with `sudo apt-get install nginx-light` "
    "(as root, e.g. in CI: `apt-get install -y nginx-light`)"
)

# envsubst syntax: ${NAME} or $NAME. Only ${NAME} must be provided; a bare $name is nginx's.
_REFERENCE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)
# Temp-path directives of the http modules a build may leave out (client_body is always there).
_OPTIONAL_TEMP_PATHS = {
    "proxy_temp_path": "http_proxy_module",
    "fastcgi_temp_path": "http_fastcgi_module",
    "uwsgi_temp_path": "http_uwsgi_module",
    "scgi_temp_path": "http_scgi_module",
}


class TemplateError(ValueError):
    """The template references a ``${NAME}`` that was not given a value."""


class GatewayError(RuntimeError):
    """nginx is missing, rejected its configuration, or did not come up."""


def template_variables(text: str) -> frozenset[str]:
    """The ``${NAME}`` variables a template needs."""
    return frozenset(m["braced"] for m in _REFERENCE.finditer(text) if m["braced"])


def render_gateway_conf(values: Mapping[str, str], template: Path = TEMPLATE_PATH) -> str:
    """The template with ``${NAME}``/``$NAME`` replaced for the names in ``values``.

    Behaves like ``envsubst`` restricted to those names, except that a ``${NAME}`` without a
    value is an error instead of an empty string. Other ``$names`` (nginx's) stay as they are.
    """
    text = template.read_text(encoding="utf-8")
    missing = template_variables(text) - values.keys()
    if missing:
        raise TemplateError(f"{template}: no value for {', '.join(sorted(missing))}")

    def substitute(match: re.Match[str]) -> str:
        name = match["braced"] or match["bare"]
        return values.get(name, match[0])

    return _REFERENCE.sub(substitute, text)


def upstream_servers(addresses: Iterable[str]) -> str:
    """The body of an upstream group: ``server a:1; server b:2;``."""
    servers = [f"server {address};" for address in addresses]
    if not servers:
        raise ValueError("an upstream group needs at least one server")
    return " ".join(servers)


def nginx_binary() -> Path | None:
    """nginx from PATH, else Debian's /usr/sbin/nginx (not on a normal user's PATH)."""
    found = shutil.which("nginx")
    if found:
        return Path(found)
    fallback = Path("/usr/sbin/nginx")
    return fallback if os.access(fallback, os.X_OK) else None


def listen_address(listen: str) -> tuple[str, int]:
    """Where to connect to reach a ``listen`` value: ``8080``, ``127.0.0.1:8080``, ``[::1]:80``."""
    token = listen.split()[0]
    if token.isdigit():
        return LOOPBACK, int(token)
    if token.startswith("["):
        host, _, port = token[1:].partition("]:")
        return host, int(port or 80)
    host, sep, port = token.rpartition(":")
    if not sep:
        host, port = token, "80"
    return (LOOPBACK if host in ("*", "0.0.0.0") else host), int(port)  # noqa: S104


def _quote(path: Path) -> str:
    escaped = str(path).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


class Gateway:
    """One nginx master (plus workers) serving the rendered gateway config from ``workdir``."""

    def __init__(
        self,
        workdir: Path,
        values: Mapping[str, str],
        *,
        worker_processes: int = 1,
        error_log_level: str = "warn",
        nginx: Path | None = None,
        template: Path = TEMPLATE_PATH,
    ) -> None:
        self.workdir = workdir.resolve()
        # The download cache lives in the work dir and the page comes from the repository's
        # web/, unless the caller says otherwise.
        self.values = {
            "GATEWAY_CACHE_DIR": str(self.workdir / "cache"),
            "GATEWAY_WEB_ROOT": str(WEB_ROOT),
            **GATEWAY_DEFAULTS,
            **values,
        }
        self.worker_processes = worker_processes
        self.error_log_level = error_log_level
        self.template = template
        self._nginx = nginx
        self._process: subprocess.Popen[bytes] | None = None
        self._log_files: list[IO[bytes]] = []

    @classmethod
    def local(
        cls,
        workdir: Path,
        *,
        quiz_servers: Sequence[str],
        audio_servers: Sequence[str],
        port: int | None = None,
        host: str = LOOPBACK,
        max_body_size: str = DEFAULT_MAX_BODY_SIZE,
        settings: Mapping[str, str] | None = None,
        worker_processes: int = 1,
        nginx: Path | None = None,
    ) -> Gateway:
        """A gateway on ``host:port`` (a free port by default) in front of the given servers.

        ``settings`` overrides ``GATEWAY_DEFAULTS`` (e.g. ``{"GATEWAY_HEADER_TIMEOUT": "1s"}``).
        """
        values = {
            "GATEWAY_LISTEN": f"{host}:{port or free_port()}",
            "QUIZ_SERVERS": upstream_servers(quiz_servers),
            "AUDIO_SERVERS": upstream_servers(audio_servers),
            "GATEWAY_MAX_BODY_SIZE": max_body_size,
            **(settings or {}),
        }
        return cls(workdir, values, worker_processes=worker_processes, nginx=nginx)

    # --- where things are ---
    @property
    def address(self) -> tuple[str, int]:
        return listen_address(self.values["GATEWAY_LISTEN"])

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    @property
    def conf_path(self) -> Path:
        return self.workdir / "nginx.conf"

    @property
    def gateway_conf_path(self) -> Path:
        return self.workdir / "gateway.conf"

    @property
    def error_log(self) -> Path:
        return self.workdir / "error.log"

    @property
    def access_log(self) -> Path:
        """nginx's stdout: the template logs one JSON object per request there."""
        return self.workdir / "access.log"

    @property
    def pid_path(self) -> Path:
        return self.workdir / "nginx.pid"

    def nginx(self) -> Path:
        binary = self._nginx or nginx_binary()
        if binary is None:
            raise GatewayError(NGINX_INSTALL_HINT)
        return binary

    # --- configuration ---
    def main_conf(self) -> str:
        """The main nginx.conf: process settings, temp paths, then the rendered gateway."""
        temp = self.workdir / "temp"
        configure = subprocess.run(
            [self.nginx(), "-V"], capture_output=True, text=True, check=False
        ).stderr
        temp_paths = {"client_body_temp_path": temp / "client_body"}
        for directive, module in _OPTIONAL_TEMP_PATHS.items():
            if f"--without-{module}" not in configure:
                temp_paths[directive] = temp / directive.removesuffix("_temp_path")
        lines = [
            "# Written by devstack.gateway; the gateway itself is in gateway.conf.",
            # As root without a user directive, workers would run as nobody and could not
            # reach a work dir under a private (0700) temp directory.
            *(["user root;"] if os.geteuid() == 0 else []),
            f"worker_processes {self.worker_processes};",
            f"pid {_quote(self.pid_path)};",
            f"error_log {_quote(self.error_log)} {self.error_log_level};",
            "events {",
            # A proxied request holds two connections (client and service): room for 2048
            # requests per worker, 16 clients at GATEWAY_MAX_CONNECTIONS_PER_CLIENT (128).
            "    worker_connections 4096;",
            "}",
            "http {",
            *([f"    include {_quote(MIME_TYPES)};"] if MIME_TYPES.is_file() else []),
            "    default_type application/octet-stream;",
            "    sendfile on;",
            "    keepalive_timeout 65s;",
            *(f"    {directive} {_quote(path)};" for directive, path in temp_paths.items()),
            f"    include {_quote(self.gateway_conf_path)};",
            "}",
        ]
        return "\n".join(lines) + "\n"

    def write(self) -> Path:
        """Render both config files into the work dir; returns the main conf's path."""
        gateway_conf = render_gateway_conf(self.values, self.template)
        main_conf = self.main_conf()
        (self.workdir / "temp").mkdir(parents=True, exist_ok=True)
        self.gateway_conf_path.write_text(gateway_conf, encoding="utf-8")
        self.conf_path.write_text(main_conf, encoding="utf-8")
        return self.conf_path

    def _command(self, *extra: str) -> list[str]:
        return [
            str(self.nginx()),
            "-p",
            str(self.workdir),
            "-c",
            str(self.conf_path),
            "-e",
            str(self.error_log),
            *extra,
        ]

    def check(self) -> None:
        """``nginx -t`` on the written config; raises GatewayError with nginx's message."""
        if not self.conf_path.exists():
            self.write()
        result = subprocess.run(
            self._command("-t", "-q"), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise GatewayError(
                f"nginx rejected {self.gateway_conf_path} (from {self.template}):\n"
                f"{result.stderr.strip() or result.stdout.strip()}"
            )

    # --- process ---
    @property
    def pid(self) -> int | None:
        """The nginx master's pid while it runs (its workers are its children)."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Write and check the config, run nginx, and wait until its port accepts connections."""
        if self._process is not None:
            raise GatewayError("this gateway was already started")
        host, port = self.address
        if _accepts(host, port):
            raise GatewayError(f"{host}:{port} is already in use by another process")
        self.write()
        self.check()
        self._log_files = [self.access_log.open("ab"), self.error_log.open("ab")]
        self._process = subprocess.Popen(
            self._command("-g", "daemon off;"),
            stdin=subprocess.DEVNULL,
            stdout=self._log_files[0],
            stderr=self._log_files[1],
            start_new_session=True,  # its own process group: the KILL fallback takes workers too
        )
        deadline = time.monotonic() + timeout
        while not _accepts(host, port):
            if self._process.poll() is not None:
                self.stop()
                raise GatewayError(f"nginx exited at start:\n{self.error_log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise GatewayError(f"nginx did not listen on {host}:{port} within {timeout} s")
            time.sleep(0.02)

    def stop(self, timeout: float = 5.0) -> None:
        """Graceful quit (SIGQUIT), then SIGTERM, then SIGKILL of nginx's process group."""
        process, self._process = self._process, None
        if process is not None:
            stop_process_group(process, signal.SIGQUIT, timeout)
        for log_file in self._log_files:
            log_file.close()
        self._log_files = []

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- logs ---
    def error_log_tail(self, lines: int = 20) -> str:
        if not self.error_log.exists():
            return ""
        return "\n".join(self.error_log.read_text(errors="replace").splitlines()[-lines:])

    def access_log_entries(self) -> list[dict[str, Any]]:
        """The access log so far, one dict per request (the template's JSON log format)."""
        if not self.access_log.exists():
            return []
        return [
            json.loads(line)
            for line in self.access_log.read_text(errors="replace").splitlines()
            if line.startswith("{")
        ]


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False
