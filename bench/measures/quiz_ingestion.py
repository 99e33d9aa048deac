"""quiz.ingestion: ``POST /quiz {"questions_num": 100}`` with the emulator at 50 ms latency
and 0 / 30 / 90 % duplicates.

The rates are interleaved within each repeat. Per request: upstream calls (the emulator's own
counter), rounds and stored (the service's ingestion log line), and the wall time the client
saw through the gateway. Emulator: quirks off (an item with an empty question is not stored
and would cost a round that has nothing to do with duplicates), a pool of 10^8 ids (so 0 %
really repeats nothing), and one priming request first, so there are served ids to repeat.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from bench.client import in_parallel
from bench.model import Measure, Profile, Row, Section, Table, Target, method
from bench.stats import median

if TYPE_CHECKING:
    from bench.runner import Bench

QUESTIONS = 100
LATENCY_MS = 50.0
RATES = (0.0, 0.3, 0.9)
POOL_SIZE = 100_000_000
CALLS_AT_0 = Target("==", 1)
ROUNDS_AT_30 = Target("<=", 3)
WALL = Target("<=", 1.5, "x")


@dataclass
class Request:
    rate: float
    status: int
    wall_s: float
    upstream_calls: int
    rounds: int | None
    stored: int | None


@dataclass
class Ingestion:
    round_trip_ms: float  # one direct call of count=100 to the emulator
    concurrent_ms: dict[int, float]  # that many direct calls at once
    requests: list[Request]


def _post(client: httpx.Client) -> tuple[int, float]:
    started = time.perf_counter()
    status = client.post("/quiz", json={"questions_num": QUESTIONS}).status_code
    return status, time.perf_counter() - started


def _round_trips(url: str) -> tuple[float, dict[int, float]]:
    """What one upstream call really costs (latency + the emulator generating 100 clues), and
    batches of concurrent calls (one round may send several; the emulator partly serialises)."""

    def call(_: int) -> float:
        with httpx.Client(base_url=url, timeout=30) as client:
            started = time.perf_counter()
            client.get("/api/random", params={"count": QUESTIONS}).raise_for_status()
            return time.perf_counter() - started

    single = median([call(0) for _ in range(5)]) * 1000
    return single, {n: median([in_parallel(n, call)[0] for _ in range(3)]) * 1000 for n in (3, 9)}


def run(bench: Bench) -> Ingestion:
    system = bench.system
    base = {"duplicate_rate": 0, "quirk_rate": 0, "pool_size": POOL_SIZE}
    system.emulator("POST", "/_control/reset")
    system.emulator("PUT", "/_control/config", {**base, "latency_ms": LATENCY_MS})
    single, concurrent = _round_trips(system.emulator_url)
    system.emulator("POST", "/_control/reset")  # duplicates must be ids the service stored
    system.emulator("PUT", "/_control/config", {**base, "latency_ms": 0})
    requests = []
    with httpx.Client(base_url=system.gateway_url, timeout=60) as client:
        if (status := _post(client)[0]) != 200:
            raise RuntimeError(f"the priming POST /quiz answered {status}")
        system.emulator("PUT", "/_control/config", {"latency_ms": LATENCY_MS})
        for _ in range(bench.scale.repeats):
            for rate in RATES:
                system.emulator("PUT", "/_control/config", {"duplicate_rate": rate})
                calls = system.emulator("GET", "/_control/stats")["calls"]
                mark = system.log_mark("quiz-0")
                status, wall = _post(client)
                calls = system.emulator("GET", "/_control/stats")["calls"] - calls
                line = (system.log_since(mark, "rounds") or [{}])[-1]
                requests.append(
                    Request(rate, status, wall, calls, line.get("rounds"), line.get("stored"))
                )
                bench.log(f"  {rate:.0%}: HTTP {status}, {calls} calls, {wall * 1000:.0f} ms")
    system.emulator("PUT", "/_control/config", {"latency_ms": 0, "duplicate_rate": 0})
    return Ingestion(single, concurrent, requests)


def summarise(data: Ingestion) -> Section:
    rows, table = [], []
    for rate in sorted({r.rate for r in data.requests}):
        requests = [r for r in data.requests if r.rate == rate]
        statuses = sorted({r.status for r in requests})
        failed = statuses != [200]  # failed requests count too: their rounds and time are real
        note = f", HTTP {statuses}" if failed else ""
        calls = [float(r.upstream_calls) for r in requests]
        rounds = [float(r.rounds) for r in requests if r.rounds]
        factor = median([r.wall_s / (r.rounds * LATENCY_MS / 1000) for r in requests if r.rounds])
        upstream_s = data.round_trip_ms / 1000
        measured = median([r.wall_s / (r.rounds * upstream_s) for r in requests if r.rounds])
        wall_ms = median([r.wall_s for r in requests]) * 1000
        pct = f"{rate:.0%}"

        def checked(value: float, failed: bool = failed) -> float | None:
            return None if failed or math.isnan(value) else value

        if rate == 0.0:
            shown = f"{median(calls):.0f} (max {max(calls):.0f}){note}"
            what = f"upstream calls, {QUESTIONS} questions at {pct} duplicates"
            rows.append(Row("calls_0", what, checked(max(calls)), shown, CALLS_AT_0))
        if rate == 0.3:
            top = max(rounds, default=math.nan)
            shown = f"{median(rounds):.0f} (max {top:.0f}){note}"
            what = f"fetch rounds, {QUESTIONS} questions at {pct} duplicates"
            rows.append(Row("rounds_30", what, checked(top), shown, ROUNDS_AT_30))
        shown = f"{factor:.2f}x ({wall_ms:.0f} ms, {median(rounds):.0f} rounds, "
        shown += f"{median(calls):.0f} calls; {measured:.2f}x of rounds x the measured upstream "
        what = f"wall ÷ (rounds x {LATENCY_MS:g} ms), {pct} duplicates"
        rows.append(Row(f"wall_{pct}", what, checked(factor), f"{shown}round trip){note}", WALL))
        stored = median([float(r.stored) for r in requests if r.stored is not None])
        ok = sum(r.status == 200 for r in requests)
        table.append([pct, f"{median(calls):.0f}", f"{median(rounds):.0f}", f"{wall_ms:.0f}"])
        table[-1] += [f"{factor:.2f}", f"{measured:.2f}", f"{stored:.0f}", f"{ok}/{len(requests)}"]
    concurrent = "; ".join(f"{n} at once {ms:.1f} ms" for n, ms in data.concurrent_ms.items())
    header = ["duplicates", "upstream calls", "rounds", "wall ms", "wall ÷ (rounds x latency)"]
    header += ["wall ÷ (rounds x measured round trip)", "stored", "HTTP 200"]
    text = f"{method(__doc__)} One direct call of count={QUESTIONS} to the emulator takes "
    text += f"{data.round_trip_ms:.1f} ms (the latency plus the emulator's own work; {concurrent}):"
    text += " the target is judged against the configured latency, the measured round trip is"
    return Section(rows, f"{text} shown beside.", [Table(header, table)])


def _profile(bench: Bench, data: Ingestion) -> None:
    bench.system.emulator("PUT", "/_control/config", {"latency_ms": LATENCY_MS})
    with httpx.Client(base_url=bench.system.gateway_url, timeout=60) as client:
        for rate in RATES:
            bench.system.emulator("PUT", "/_control/config", {"duplicate_rate": rate})
            for _ in range(3):
                _post(client)
    bench.system.emulator("PUT", "/_control/config", {"latency_ms": 0, "duplicate_rate": 0})


MEASURE = Measure(
    "quiz.ingestion",
    "POST /quiz 100 at 0/30/90 % duplicates",
    Ingestion,
    run,
    summarise,
    profile=Profile("quiz-0", _profile),
)
