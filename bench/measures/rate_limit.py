"""http.rate_limit: one address flooding ``POST /record`` does not hurt another's uploads.

A second gateway with the rate limits on (``POST /record``: 120 a minute, bursts of 5) in
front of the measured stack's services. One client at 127.0.0.2 uploads a 0.5 s WAV every
0.6 s (within its limit) and times each upload; meanwhile, or not, a flooder at 127.0.0.1
sends ``POST /record`` at 10x the limit (20 a second, the same WAV, a valid user). Every
127/8 address is this machine's, so both reach the gateway on 127.0.0.1; nginx keys its
limit by the client address. Quiet and flooded runs alternate (ABBA over the repeats), so
the ratio of their p99s is paired.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from bench.client import AudioApi, User
from bench.model import Measure, Row, Section, Table, Target, method
from bench.stats import median, paired, percentile
from devstack.gateway import Gateway

if TYPE_CHECKING:
    from bench.runner import Bench

NO_429 = Target("==", 0, "")
P99_WITHIN = Target("<=", 1.5, "x")
RATE_PER_MINUTE = 120
FLOOD_FACTOR = 10
VICTIM_ADDRESS = "127.0.0.2"
VICTIM_INTERVAL_S = 0.6
WAV_S = 0.5


@dataclass
class VictimRun:
    flooded: bool
    latencies_ms: list[float]
    statuses: dict[str, int]  # the victim's answers by status
    flood_statuses: dict[str, int]  # the flooder's answers by status (empty when quiet)
    flood_seconds: float


@dataclass
class RateLimit:
    uploads_per_run: int
    runs: list[VictimRun]

    def of(self, flooded: bool) -> list[VictimRun]:
        return [run for run in self.runs if run.flooded == flooded]


def _upload(client: httpx.Client, user: User, wav: bytes) -> httpx.Response:
    return client.post(
        "/record",
        data={"user_id": str(user.user_id), "token": user.token},
        files={"file": ("tone.wav", wav, "audio/wav")},
    )


def _count(statuses: dict[str, int], status: int) -> None:
    statuses[str(status)] = statuses.get(str(status), 0) + 1


class Flood:
    """``POST /record`` at a fixed rate from 127.0.0.1 until stopped, from a few threads (an
    admitted upload takes longer than the gap between two requests)."""

    THREADS = 4

    def __init__(self, url: str, user: User, wav: bytes, per_second: float) -> None:
        self.url, self.user, self.wav = url, user, wav
        self.interval = self.THREADS / per_second
        self.statuses: dict[str, int] = {}
        self.seconds = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(n,), name=f"flood-{n}", daemon=True)
            for n in range(self.THREADS)
        ]

    def _run(self, n: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            next_at = time.perf_counter() + n * self.interval / self.THREADS
            while not self._stop.wait(max(0.0, next_at - time.perf_counter())):
                try:
                    status = _upload(client, self.user, self.wav).status_code
                except httpx.HTTPError:
                    status = 0
                with self._lock:
                    _count(self.statuses, status)
                next_at += self.interval

    def __enter__(self) -> Flood:
        self._started = time.perf_counter()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self.seconds = time.perf_counter() - self._started


def _victim(url: str, user: User, wav: bytes, uploads: int) -> tuple[list[float], dict[str, int]]:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    transport = httpx.HTTPTransport(local_address=VICTIM_ADDRESS)
    with httpx.Client(base_url=url, timeout=60, transport=transport) as client:
        next_at = time.perf_counter()
        for _ in range(uploads):
            started = time.perf_counter()
            response = _upload(client, user, wav)
            _count(statuses, response.status_code)
            if response.status_code == 201:
                latencies.append(round((time.perf_counter() - started) * 1000, 2))
            next_at += VICTIM_INTERVAL_S
            time.sleep(max(0.0, next_at - time.perf_counter()))
    return latencies, statuses


def run(bench: Bench) -> RateLimit:
    config = bench.system.stack.config
    workdir: Path = bench.scratch / "limited_gateway"
    settings = {
        "GATEWAY_RATE_LIMITS": "on",
        "GATEWAY_RECORD_RATE_PER_MINUTE": str(RATE_PER_MINUTE),
        "GATEWAY_RECORD_BURST": "5",
    }
    gateway = Gateway.local(
        workdir,
        quiz_servers=[f"127.0.0.1:{port}" for port in config.quiz_ports],
        audio_servers=[f"127.0.0.1:{port}" for port in config.audio_ports],
        max_body_size=str(config.gateway_max_body_bytes),
        settings=settings,
        nginx=bench.tools["nginx"],
    )
    wav = bench.wav(WAV_S).read_bytes()
    uploads = max(5, round(bench.scale.wrk_s * 8))  # 24 a run at full scale
    runs = []
    with gateway, AudioApi(gateway.url) as api:
        victim, flooder = api.create_user("victim"), api.create_user("flood")
        _victim(gateway.url, victim, wav, 3)  # warm-up: the new gateway's first connections
        order = [False, True, True, False] * bench.scale.repeats
        for flooded in order[: 2 * bench.scale.repeats]:
            if flooded:
                per_second = FLOOD_FACTOR * RATE_PER_MINUTE / 60
                with Flood(gateway.url, flooder, wav, per_second) as flood:
                    latencies, statuses = _victim(gateway.url, victim, wav, uploads)
                runs.append(VictimRun(True, latencies, statuses, flood.statuses, flood.seconds))
            else:
                latencies, statuses = _victim(gateway.url, victim, wav, uploads)
                runs.append(VictimRun(False, latencies, statuses, {}, 0.0))
            time.sleep(60 / RATE_PER_MINUTE * 5)  # the flooder's burst refills
    return RateLimit(uploads, runs)


def _p99(run: VictimRun) -> float:
    return percentile(run.latencies_ms, 99)


def summarise(data: RateLimit) -> Section:
    quiet, flooded = data.of(False), data.of(True)
    victim_429 = sum(run.statuses.get("429", 0) for run in data.runs)
    victim_other = sum(
        count for run in data.runs for status, count in run.statuses.items() if status != "201"
    )
    p99_ratio = paired([_p99(run) for run in flooded], [_p99(run) for run in quiet])
    flood_sent = sum(sum(run.flood_statuses.values()) for run in flooded)
    flood_429 = sum(run.flood_statuses.get("429", 0) for run in flooded)
    flood_s = sum(run.flood_seconds for run in flooded)
    rows = [
        Row(
            "victim_429",
            "uploads from another address answered 429 during the flood",
            float(victim_429),
            f"{victim_429} of {sum(len(r.latencies_ms) for r in flooded) + victim_other}"
            f" (other non-201: {victim_other - victim_429})",
            NO_429,
        ),
        Row(
            "victim_p99",
            f"their p99 under a {FLOOD_FACTOR}x flood ÷ quiet",
            p99_ratio,
            f"{p99_ratio:.2f}x ({median([_p99(r) for r in flooded]):.0f} vs "
            f"{median([_p99(r) for r in quiet]):.0f} ms)",
            P99_WITHIN,
        ),
        Row(
            "flood",
            "the flood: requests/s sent, share refused with 429",
            flood_sent / flood_s if flood_s else float("nan"),
            f"{flood_sent / flood_s if flood_s else 0:.1f}/s, "
            f"{flood_429 / flood_sent if flood_sent else 0:.0%} refused",
        ),
    ]
    table_rows = [
        [
            "flooded" if run.flooded else "quiet",
            str(len(run.latencies_ms)),
            f"{percentile(run.latencies_ms, 50):.0f}",
            f"{_p99(run):.0f}",
            ", ".join(f"{k}: {v}" for k, v in sorted(run.statuses.items())),
            ", ".join(f"{k}: {v}" for k, v in sorted(run.flood_statuses.items())) or "-",
        ]
        for run in data.runs
    ]
    header = ["run", "uploads", "p50 ms", "p99 ms", "victim statuses", "flood statuses"]
    return Section(rows, method(__doc__), [Table(header, table_rows)])


MEASURE = Measure(
    "http.rate_limit",
    "POST /record rate limit under a flood",
    RateLimit,
    run,
    summarise,
    tools=("nginx",),
)
