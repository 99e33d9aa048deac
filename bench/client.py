"""The benchmark's clients: the audio API through the gateway, bare ``lame``, latency probes.

Every upload goes through the gateway (``POST /record``, multipart, streamed from disk by
httpx, so the client never holds the file) and is timed from the first byte sent to the last
byte of the answer: upload + validate + convert + store + answer.
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bench.stack import MP3_BITRATE_KBPS, MP3_QUALITY

T = TypeVar("T")


@dataclass(frozen=True)
class User:
    user_id: int
    token: str


@dataclass(frozen=True)
class Upload:
    status: int
    seconds: float
    body: dict[str, Any]

    @property
    def path(self) -> str:
        """The record's download path and query (``/record?id=…&user=…``)."""
        url = str(self.body["url"])
        return url[url.index("/record") :]


class AudioApi(httpx.Client):
    """A synchronous client of the audio service through the gateway (one per thread)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url=base_url, timeout=httpx.Timeout(900.0, connect=10.0))

    def create_user(self, prefix: str = "bench") -> User:
        body = self.post("/user", json={"name": f"{prefix}-{uuid.uuid4().hex[:12]}"})
        return User(body.raise_for_status().json()["user_id"], body.json()["token"])

    def upload(
        self,
        user: User,
        path: Path,
        check: bool = True,
        *,
        respond_async: bool = False,
        token: str | None = None,
    ) -> Upload:
        """``POST /record`` of ``path``; unless ``check`` is off, anything but a 201 (a 202
        with ``respond_async``: ``Prefer: respond-async``) raises. ``token`` replaces the
        user's."""
        headers = {"Prefer": "respond-async"} if respond_async else {}
        with path.open("rb") as file:
            started = time.perf_counter()
            response = self.post(
                "/record",
                data={"user_id": str(user.user_id), "token": token or user.token},
                files={"file": (path.name, file, "audio/wav")},
                headers=headers,
            )
            seconds = time.perf_counter() - started
        if check and response.status_code != (202 if respond_async else 201):
            raise RuntimeError(
                f"POST /record of {path.name}: {response.status_code} {response.text}"
            )
        json = response.headers.get("content-type", "").endswith("json")
        return Upload(response.status_code, seconds, response.json() if json else {})


def lame_encode(lame: Path, src: Path, dst: Path, vbr_quality: int | None = None) -> float:
    """Seconds bare ``lame`` takes to encode ``src`` at the service's settings (CBR, or VBR
    at ``-V vbr_quality``)."""
    mode = (
        ["--cbr", "-b", str(MP3_BITRATE_KBPS)] if vbr_quality is None else ["-V", str(vbr_quality)]
    )
    argv = [str(lame), "--quiet", *mode, "-q", str(MP3_QUALITY)]
    started = time.perf_counter()
    subprocess.run([*argv, str(src), str(dst)], check=True, timeout=3600)
    return time.perf_counter() - started


def in_parallel(count: int, work: Callable[[int], T]) -> tuple[float, list[T]]:
    """Wall seconds of ``work(0)`` … ``work(count - 1)`` run at once in threads, and results."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=count) as pool:
        results = list(pool.map(work, range(count)))
    return time.perf_counter() - started, results


class Probe:
    """Sends one request every ``interval_s`` in its own thread; keeps the latencies (ms)
    of the answers that were 200, and counts the others."""

    def __init__(self, base_url: str, method: str, path: str, body: Any = None) -> None:
        self.base_url, self.method, self.path, self.body = base_url, method, path, body
        self.latencies_ms: list[float] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"probe{path}", daemon=True)

    def _run(self, interval_s: float = 0.02) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10.0) as client:
            next_at = time.perf_counter()
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    ok = client.request(self.method, self.path, json=self.body).status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    self.latencies_ms.append(round((time.perf_counter() - started) * 1000, 2))
                else:
                    self.errors += 1
                next_at += interval_s
                self._stop.wait(max(0.0, next_at - time.perf_counter()))

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
