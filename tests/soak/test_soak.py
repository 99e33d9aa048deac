"""Soak: a bounded mixed load through the gateway for a fixed time (``make soak``, not CI).

A pool of asyncio workers (one shared ``httpx.AsyncClient``) loops until the deadline, each
iteration one of: ``POST /quiz`` with ``questions_num`` 0-5, a WAV upload, or a download of a
record uploaded earlier. Every answer must be the expected success (no error of any kind).
Meanwhile the RSS of every process of the stack (both instances of each service, the
emulator, nginx's master and workers) is sampled. The figures (throughput, p50/p99 latency
per kind and overall, errors, peak RSS per process) are printed and written to
``var/soak/latest.json``.

Knobs: ``SOAK_DURATION_S`` (default 60), ``SOAK_CONCURRENCY`` (default 16), ``SOAK_SEED``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pytest

from devstack.stack import LocalStack
from testkit.audio import AudioUser, create_user
from testkit.wav import tone_wav
from tests.e2e.helpers import (
    skip_stored_upstream_ids,
)

pytestmark = pytest.mark.soak

REPO_ROOT = Path(__file__).resolve().parents[2]
SUMMARY_PATH = REPO_ROOT / "var" / "soak" / "latest.json"

DURATION_S = float(os.environ.get("SOAK_DURATION_S", "60"))
CONCURRENCY = int(os.environ.get("SOAK_CONCURRENCY", "16"))
SEED = int(os.environ.get("SOAK_SEED", "20240601"))
WEIGHTS = {"quiz": 0.45, "download": 0.35, "upload": 0.20}
EXPECTED = {"quiz": 200, "download": 200, "upload": 201}
USERS = 8
MIB = 1024 * 1024


@dataclass
class Load:
    users: list[AudioUser]
    wav: bytes
    records: list[tuple[str, int]] = field(default_factory=list)  # (record id, user id)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    errors: list[str] = field(default_factory=list)
    bytes_down: int = 0


async def one_request(
    client: httpx.AsyncClient, load: Load, rng: random.Random, kind: str | None = None
) -> None:
    """One request of ``kind`` (by default drawn with ``WEIGHTS``), recorded in ``load``."""
    kind = kind or rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    if kind == "download" and not load.records:
        kind = "upload"
    started = time.perf_counter()
    try:
        if kind == "quiz":
            response = await client.post("/quiz", json={"questions_num": rng.randint(0, 5)})
        elif kind == "upload":
            user = rng.choice(load.users)
            response = await client.post(
                "/record",
                data={"user_id": str(user.user_id), "token": user.token},
                files={"file": (f"soak-{uuid.uuid4().hex[:8]}.wav", load.wav, "audio/wav")},
            )
            if response.status_code == 201:
                load.records.append((response.json()["record_id"], user.user_id))
        else:
            record_id, user_id = rng.choice(load.records)
            response = await client.get("/record", params={"id": record_id, "user": user_id})
            load.bytes_down += len(response.content)
    except httpx.HTTPError as exc:
        load.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
        load.statuses[kind][0] += 1
        return
    load.latencies[kind].append(time.perf_counter() - started)
    load.statuses[kind][response.status_code] += 1
    if response.status_code != EXPECTED[kind]:
        load.errors.append(f"{kind}: {response.status_code} {response.text[:300]}")


async def worker(client: httpx.AsyncClient, load: Load, seed: int, deadline: float) -> None:
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        await one_request(client, load, rng)


def stack_processes(stack: LocalStack) -> dict[str, psutil.Process]:
    """Every process of the stack by name; nginx as its master plus one entry per worker."""
    found: dict[str, psutil.Process] = {}
    for name, managed in stack.processes.items():
        if managed.running():
            found[name] = psutil.Process(managed.pid)
    if stack.gateway is not None and stack.gateway.pid_path.exists():
        master = psutil.Process(int(stack.gateway.pid_path.read_text().strip()))
        found["nginx-master"] = master
        for index, child in enumerate(master.children()):
            found[f"nginx-worker-{index}"] = child
    return found


def rss_mib(processes: dict[str, psutil.Process]) -> dict[str, float]:
    sizes: dict[str, float] = {}
    for name, process in processes.items():
        try:
            # A service's conversion threads live in its own process; count children too.
            rss = process.memory_info().rss
            rss += sum(child.memory_info().rss for child in process.children(recursive=True))
        except psutil.Error:
            continue
        sizes[name] = round(rss / MIB, 1)
    return sizes


async def sample_memory(
    processes: dict[str, psutil.Process], peaks: dict[str, float], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        for name, size in rss_mib(processes).items():
            peaks[name] = max(peaks.get(name, 0.0), size)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.5)


def percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"count": 0}
    values = np.array(samples) * 1000
    return {
        "count": len(samples),
        "p50_ms": round(float(np.percentile(values, 50)), 1),
        "p90_ms": round(float(np.percentile(values, 90)), 1),
        "p99_ms": round(float(np.percentile(values, 99)), 1),
        "max_ms": round(float(values.max()), 1),
    }


@pytest.mark.timeout(int(DURATION_S) + 240)
async def test_mixed_load(stack: LocalStack) -> None:
    async with httpx.AsyncClient(base_url=stack.emulator_url, timeout=10) as emulator:
        await skip_stored_upstream_ids(emulator, stack.config.env["QUIZ_DATABASE_URL"])
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60, limits=limits) as client:
        users = [await create_user(client, f"soak-{uuid.uuid4().hex[:12]}") for _ in range(USERS)]
        load = Load(users=users, wav=tone_wav(440.0, 1.0, sample_rate=44_100, channels=2))
        setup_rng = random.Random(SEED)
        for _ in range(4):  # something to download from the first second on
            await one_request(client, load, setup_rng, "upload")
        assert not load.errors, load.errors
        load.latencies.clear()
        load.statuses.clear()

        processes = stack_processes(stack)
        baseline = rss_mib(processes)
        peaks: dict[str, float] = dict(baseline)
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_memory(processes, peaks, stop))
        started = time.monotonic()
        deadline = started + DURATION_S
        await asyncio.gather(
            *(worker(client, load, SEED + index, deadline) for index in range(CONCURRENCY))
        )
        elapsed = time.monotonic() - started
        stop.set()
        await sampler

    all_latencies = [value for values in load.latencies.values() for value in values]
    total = sum(sum(counter.values()) for counter in load.statuses.values())
    summary: dict[str, Any] = {
        "duration_s": round(elapsed, 1),
        "concurrency": CONCURRENCY,
        "seed": SEED,
        "requests": total,
        "throughput_rps": round(total / elapsed, 1),
        "errors": len(load.errors),
        "error_samples": load.errors[:20],
        "statuses": {kind: dict(sorted(c.items())) for kind, c in load.statuses.items()},
        "latency": {
            "all": percentiles(all_latencies),
            **{kind: percentiles(values) for kind, values in sorted(load.latencies.items())},
        },
        "records_uploaded": len(load.records),
        "download_mib": round(load.bytes_down / MIB, 1),
        "rss_mib_baseline": baseline,
        "rss_mib_peak": peaks,
    }
    SUMMARY_PATH.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY_PATH.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(
        f"\nsoak: {total} requests in {elapsed:.1f} s = {summary['throughput_rps']} req/s, "
        f"p50 {summary['latency']['all'].get('p50_ms')} ms, "
        f"p99 {summary['latency']['all'].get('p99_ms')} ms, errors {len(load.errors)}"
    )
    print(json.dumps(summary, indent=2))

    assert not load.errors, "\n".join(load.errors[:20])
    assert all(load.statuses[kind][EXPECTED[kind]] > 0 for kind in WEIGHTS), summary["statuses"]
    assert all(process.is_running() for process in processes.values()), "a process died"
