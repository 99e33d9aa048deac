"""A real Prometheus (Debian's ``prometheus`` package) on loopback, with the project's config.

``render_config`` takes ``deploy/prometheus/prometheus.yml`` (compose's) and swaps each job's
service discovery for the given static targets; the rule files, jobs and every other
setting stay as they are. ``Prometheus`` runs the binary on a free loopback port with its
own storage in a work directory, and answers queries of its HTTP API::

    with Prometheus(workdir, {"quiz": ["127.0.0.1:8001"]}, scrape_interval="1s") as prom:
        prom.query('sum(http_requests_total{job="quiz"})')

The Debian package would also start a system service of its own on 9090; nothing here
uses it (``.ci/run`` installs the package without starting it).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import httpx
import yaml

from devstack.gateway import REPO_ROOT
from devstack.ports import LOOPBACK, free_port
from devstack.processes import stop_process_group

DEPLOY_DIR = REPO_ROOT / "deploy" / "prometheus"
CONFIG_PATH = DEPLOY_DIR / "prometheus.yml"
RULES_PATH = DEPLOY_DIR / "alerts.yml"
INSTALL_HINT = (
    "Prometheus is not installed: `sudo apt-get install -y --no-install-recommends prometheus "
    "prometheus-nginx-exporter`"
)
_DISCOVERY_KEYS = ("static_configs", "dns_sd_configs", "file_sd_configs")


class PrometheusError(RuntimeError):
    """Prometheus is missing, refused its configuration, or did not come up."""


def binary(name: str = "prometheus") -> Path | None:
    found = shutil.which(name)
    return Path(found) if found else None


def render_config(
    targets: Mapping[str, Sequence[str]],
    *,
    scrape_interval: str | None = None,
    source: Path = CONFIG_PATH,
) -> dict[str, Any]:
    """The project's config with static ``targets`` per job; a job not in ``targets`` is
    left out. Rule files become absolute paths (the rendered file lives elsewhere)."""
    config: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    unknown = set(targets) - {job["job_name"] for job in config["scrape_configs"]}
    if unknown:
        raise PrometheusError(f"{source} has no job {', '.join(sorted(unknown))}")
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] not in targets:
            continue
        job = {key: value for key, value in job.items() if key not in _DISCOVERY_KEYS}
        job["static_configs"] = [{"targets": list(targets[job["job_name"]])}]
        jobs.append(job)
    config["scrape_configs"] = jobs
    config["rule_files"] = [str(source.parent / name) for name in config.get("rule_files", [])]
    if scrape_interval is not None:
        config["global"] = {
            **config.get("global", {}),
            "scrape_interval": scrape_interval,
            "evaluation_interval": scrape_interval,
        }
    return config


class Prometheus:
    def __init__(
        self,
        workdir: Path,
        targets: Mapping[str, Sequence[str]],
        *,
        scrape_interval: str = "1s",
        port: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.config = render_config(targets, scrape_interval=scrape_interval)
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "prometheus.log"

    def start(self, timeout: float = 30.0) -> None:
        prometheus = binary()
        if prometheus is None:
            raise PrometheusError(INSTALL_HINT)
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_path = self.workdir / "prometheus.yml"
        # JSON is YAML: Prometheus reads it as it is.
        config_path.write_text(json.dumps(self.config, indent=2), encoding="utf-8")
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [
                str(prometheus),
                f"--config.file={config_path}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address={LOOPBACK}:{self.port}",
                "--web.enable-lifecycle",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self._process.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                self.stop()
                raise PrometheusError(f"Prometheus did not become ready:\n{tail}")
            time.sleep(0.1)

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_process_group(process, signal.SIGTERM, 10)
        if self._log is not None:
            self._log.close()
            self._log = None

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

    # --- the HTTP API ---
    def api(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        response.raise_for_status()
        body = response.json()
        if body.get("status") != "success":
            raise PrometheusError(f"{path}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector of ``expr`` now: [{"metric": {...}, "value": [t, "v"]}, ...]."""
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    def scalar(self, expr: str) -> float | None:
        """The one value of ``expr`` (a vector of one sample); None when it has none."""
        result = self.query(expr)
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusError(f"{expr} has {len(result)} samples, not one")
        return float(result[0]["value"][1])

    def metric_names(self) -> set[str]:
        return set(self.api("label/__name__/values"))


@contextlib.contextmanager
def nginx_exporter(status_url: str, workdir: Path, timeout: float = 10.0) -> Iterator[str]:
    """Debian's ``prometheus-nginx-exporter`` reading nginx's stub_status at ``status_url``;
    yields the address it serves its metrics on."""
    exporter = binary("prometheus-nginx-exporter")
    if exporter is None:
        raise PrometheusError(INSTALL_HINT)
    address = f"{LOOPBACK}:{free_port()}"
    workdir.mkdir(parents=True, exist_ok=True)
    with (workdir / "nginx-exporter.log").open("ab") as log:
        process = subprocess.Popen(
            [str(exporter), f"-nginx.scrape-uri={status_url}", f"-web.listen-address={address}"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://{address}/metrics", timeout=1).status_code == 200:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise PrometheusError(f"the nginx exporter did not serve on {address}")
                time.sleep(0.05)
            yield address
        finally:
            stop_process_group(process, signal.SIGTERM, 5)
