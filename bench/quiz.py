"""Quiz ingestion: ``POST /quiz {"questions_num": 100}`` against the emulator at 50 ms latency.

For each duplicate rate the benchmark reads three things per request: the emulator's call
count before and after (``GET /_control/stats``), the service's structured ingestion log line
(rounds, duplicates, upstream calls, duration; from ``logs/quiz-0.log``) and the wall time
the client saw through the gateway. The duplicate rates are interleaved within each repeat.

Emulator settings for this benchmark, and why:
- ``quirk_rate`` 0: quirky items with an empty question are not stored and would need extra
  rounds that have nothing to do with duplicates;
- ``pool_size`` 10^8: jservice draws at random from its pool, so with a small pool even the
  "0 %" case would repeat ids the service already stored; with 10^8 ids it (almost) never does;
- one priming request first, so the emulator has served ids to repeat ("duplicates" are
  drawn from ids it served before, which the service has stored).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.profiling import SpyRecorder
from bench.stats import median
from bench.system import BenchSystem

Log = Callable[[str], None]

POOL_SIZE = 100_000_000


def _find(entry: dict[str, Any], *fragments: str) -> Any:
    """The value of the first key containing any of ``fragments`` (field names may vary)."""
    for fragment in fragments:
        for key, value in entry.items():
            if fragment in key.lower():
                return value
    return None


def ingestion_log_line(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The structured ingestion line: the last entry with a "rounds"-like field."""
    for entry in reversed(entries):
        if any("round" in key.lower() for key in entry):
            return {k: v for k, v in entry.items() if k not in ("ts", "service", "logger")}
    return None


def _post_quiz(client: httpx.Client, questions_num: int) -> tuple[int, float, Any]:
    started = time.perf_counter()
    response = client.post("/quiz", json={"questions_num": questions_num})
    seconds = time.perf_counter() - started
    try:
        body = response.json()
    except ValueError:
        body = response.text[:300]
    return response.status_code, seconds, body


def _one_request(
    system: BenchSystem,
    client: httpx.Client,
    questions_num: int,
    latency_ms: float,
    upstream_s: float,
) -> dict[str, Any]:
    before = system.emulator("GET", "/_control/stats")
    offset = system.log_size("quiz-0")
    status, seconds, body = _post_quiz(client, questions_num)
    after = system.emulator("GET", "/_control/stats")
    time.sleep(0.05)  # the log line is written as the response goes out
    line = ingestion_log_line(system.log_entries_since("quiz-0", offset))
    rounds = _find(line, "rounds") if line else None
    calls = after["calls"] - before["calls"]
    run: dict[str, Any] = {
        "status": status,
        "wall_s": round(seconds, 4),
        "upstream_calls": calls,
        "items_served": after["items_served"] - before["items_served"],
        "rounds": rounds,
        "log": line,
    }
    if status != 200:
        run["problem"] = body
    if isinstance(rounds, int) and rounds > 0:
        run["wall_over_rounds_latency"] = round(seconds / (rounds * latency_ms / 1000), 3)
        run["wall_over_rounds_upstream"] = round(seconds / (rounds * upstream_s), 3)
    return run


def measure_upstream(
    system: BenchSystem, questions_num: int, calls: int = 5, batches: tuple[int, ...] = (3, 9)
) -> dict[str, Any]:
    """Round trip of direct ``GET /api/random?count=N`` calls to the emulator as configured:
    the configured latency plus the emulator's own work (generating and serialising N clues),
    i.e. what one upstream call really costs the service; and of batches of concurrent calls
    (one fetch round of the service may send several), which the emulator, one Python
    process, partly serialises."""

    def one(client: httpx.Client) -> float:
        started = time.perf_counter()
        client.get("/api/random", params={"count": questions_num}).raise_for_status()
        return time.perf_counter() - started

    with httpx.Client(base_url=system.emulator_url, timeout=30.0) as client:
        single = [one(client) for _ in range(calls)]
    concurrent: dict[str, float] = {}
    for size in batches:
        walls: list[float] = []
        for _ in range(3):
            clients = [
                httpx.Client(base_url=system.emulator_url, timeout=30.0) for _ in range(size)
            ]
            try:
                started = time.perf_counter()
                with ThreadPoolExecutor(max_workers=size) as pool:
                    list(pool.map(one, clients))
                walls.append(time.perf_counter() - started)
            finally:
                for each in clients:
                    each.close()
        concurrent[str(size)] = round(median(walls) * 1000, 1)
    return {
        "median_ms": round(median(single) * 1000, 1),
        "calls": calls,
        "concurrent_ms": concurrent,
    }


def bench_ingestion(
    system: BenchSystem,
    rates: list[float],
    repeats: int,
    log: Log,
    *,
    questions_num: int = 100,
    latency_ms: float = 50.0,
) -> dict[str, Any]:
    base_config = {"duplicate_rate": 0, "quirk_rate": 0, "pool_size": POOL_SIZE}
    system.emulator("POST", "/_control/reset")
    system.emulator("PUT", "/_control/config", {**base_config, "latency_ms": latency_ms})
    upstream = measure_upstream(system, questions_num)
    # Forget the ids served to that measurement: "duplicates" must be ids the service stored.
    system.emulator("POST", "/_control/reset")
    system.emulator("PUT", "/_control/config", {**base_config, "latency_ms": 0})
    upstream_s = upstream["median_ms"] / 1000
    runs: dict[str, list[dict[str, Any]]] = {str(rate): [] for rate in rates}
    with httpx.Client(base_url=system.gateway_url, timeout=60.0) as client:
        status, _, body = _post_quiz(client, questions_num)  # priming, see the module docstring
        if status != 200:
            raise RuntimeError(f"priming POST /quiz answered {status}: {body}")
        system.emulator("PUT", "/_control/config", {"latency_ms": latency_ms})
        for index in range(repeats):
            for rate in rates:
                system.emulator("PUT", "/_control/config", {"duplicate_rate": rate})
                run = _one_request(system, client, questions_num, latency_ms, upstream_s)
                runs[str(rate)].append(run)
                log(
                    f"  quiz dup {rate:.0%} #{index + 1}: HTTP {run['status']}, "
                    f"{run['upstream_calls']} upstream calls, rounds {run['rounds']}, "
                    f"{run['wall_s'] * 1000:.0f} ms"
                )
    system.emulator("PUT", "/_control/config", {"latency_ms": 0, "duplicate_rate": 0})
    summary: dict[str, Any] = {}
    for rate in rates:
        rate_runs = runs[str(rate)]
        ok = [r for r in rate_runs if r["status"] == 200]
        # Failed requests (503 when the upstream keeps repeating) count too: their rounds
        # and wall time are real, and the "ok" column says how many completed.
        rounds = [float(r["rounds"]) for r in rate_runs if isinstance(r["rounds"], int)]
        ratios = [
            float(r["wall_over_rounds_latency"])
            for r in rate_runs
            if "wall_over_rounds_latency" in r
        ]
        measured = [
            float(r["wall_over_rounds_upstream"])
            for r in rate_runs
            if "wall_over_rounds_upstream" in r
        ]
        stored = [r["log"].get("stored") for r in rate_runs if r["log"] and "stored" in r["log"]]
        summary[str(rate)] = {
            "ok": len(ok),
            "requests": len(rate_runs),
            "upstream_calls": median([float(r["upstream_calls"]) for r in rate_runs]),
            "upstream_calls_max": max(r["upstream_calls"] for r in rate_runs),
            "rounds": median(rounds) if rounds else None,
            "rounds_max": max(rounds) if rounds else None,
            "wall_ms": round(median([r["wall_s"] for r in rate_runs]) * 1000, 1),
            "wall_over_rounds_latency": round(median(ratios), 3) if ratios else None,
            "wall_over_rounds_upstream": round(median(measured), 3) if measured else None,
            "stored_median": median([float(x) for x in stored]) if stored else None,
            "statuses": sorted({r["status"] for r in rate_runs}),
        }
    return {
        "questions_num": questions_num,
        "latency_ms": latency_ms,
        "upstream_round_trip": upstream,
        "emulator": {"pool_size": POOL_SIZE, "quirk_rate": 0},
        "rates": summary,
        "repeats": runs,
    }


def profile_ingestion(
    system: BenchSystem,
    rate: float,
    requests: int,
    py_spy: Path,
    out: Path,
    log: Log,
    *,
    questions_num: int = 100,
    latency_ms: float = 50.0,
) -> dict[str, Any]:
    """``py-spy record`` of the quiz service over a few requests at one duplicate rate: what
    the service itself spends CPU on, beside waiting for the upstream."""
    system.emulator("PUT", "/_control/config", {"latency_ms": latency_ms, "duplicate_rate": rate})
    recorder = SpyRecorder(py_spy, system.pid("quiz-0"), out, max_duration_s=120)
    with recorder, httpx.Client(base_url=system.gateway_url, timeout=60.0) as client:
        time.sleep(0.3)
        started = time.perf_counter()
        statuses = [_post_quiz(client, questions_num)[0] for _ in range(requests)]
        wall = time.perf_counter() - started
        summary = recorder.stop()
    system.emulator("PUT", "/_control/config", {"latency_ms": 0, "duplicate_rate": 0})
    log(f"  profiled {requests} quiz requests at dup {rate:.0%}: {summary.samples} samples")
    return {
        "what": f"py-spy record, {requests} x POST /quiz 100 at {rate:.0%} duplicates",
        "wall_s": round(wall, 3),
        "statuses": statuses,
        "raw_file": str(out),
        "error": recorder.error,
        **summary.as_dict(),
        "summary_lines": summary.lines(),
    }
