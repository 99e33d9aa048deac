"""audio.parallel: concurrent uploads on one instance, bare lame side by side, and the latency
of ``GET /services/audio/health`` and ``POST /quiz {0}`` while conversions run.

Each client uploads the short WAV ``uploads_per_client`` times back to back; throughput is
audio seconds converted per wall second. Right before or after each upload run (alternating),
as many bare ``lame`` processes at once do the same encodes with the same probes running: what
the machine delivered at that moment (on a shared 2-core machine often far from 2x).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.client import Probe, in_parallel, lame_encode
from bench.model import Line, Measure, Panel, Profile, Row, Section, Table, Target
from bench.sampling import CpuMeter
from bench.stats import median, paired, percentile
from bench.wavgen import label

if TYPE_CHECKING:
    from bench.runner import Bench

SCALING = Target(">=", 1.8, "x")
P99 = Target("<", 50, " ms")


@dataclass
class Run:
    level: int
    wall_s: float
    lame_wall_s: float
    failed: list[str]
    convert_s: list[float]  # from the service's conversion log lines
    health_ms: list[float]
    quiz_ms: list[float]
    probe_errors: int
    cores: dict[str, float]


@dataclass
class Parallel:
    seconds: float
    uploads_per_client: int
    idle_health_ms: list[float]
    idle_quiz_ms: list[float]
    runs: list[Run]


def _probes(bench: Bench) -> tuple[Probe, Probe]:
    url = bench.system.gateway_url
    return Probe(url, "GET", "/services/audio/health"), Probe(
        url, "POST", "/quiz", {"questions_num": 0}
    )


def _lame(bench: Bench, level: int) -> float:
    wav, lame = bench.wav(bench.scale.short_s), bench.tools["lame"]

    def client(index: int) -> None:
        out = bench.scratch / f"parallel_{index}.mp3"
        for _ in range(bench.scale.uploads_per_client):
            lame_encode(lame, wav, out)
        out.unlink(missing_ok=True)

    health, quiz = _probes(bench)  # their load is part of the scenario, not of the service
    with health, quiz:
        return in_parallel(level, client)[0]


def _uploads(bench: Bench, level: int) -> Run:
    wav, user, system = bench.wav(bench.scale.short_s), bench.user(), bench.system

    def client(_: int) -> list[int]:
        with bench.api() as api:
            return [api.upload(user, wav).status for _ in range(bench.scale.uploads_per_client)]

    meter, mark = CpuMeter(system.cpu_groups()), system.log_mark("audio-0")
    health, quiz = _probes(bench)
    with health, quiz:
        meter.start()
        wall, statuses = in_parallel(level, client)
        cores = meter.stop()
    failed = [f"HTTP {status}" for each in statuses for status in each if status != 201]
    done = level * bench.scale.uploads_per_client - len(failed)
    convert_s = [line["convert_s"] for line in system.log_since(mark, "convert_s", done)]
    errors = health.errors + quiz.errors
    return Run(
        level, wall, 0.0, failed, convert_s, health.latencies_ms, quiz.latencies_ms, errors, cores
    )


def run(bench: Bench) -> Parallel:
    bench.user()
    health, quiz = _probes(bench)
    with health, quiz:  # the probes' idle baseline: no upload in flight
        time.sleep(2.0)
    runs = []
    for index in range(bench.scale.repeats):
        for level in bench.scale.levels:
            lame_wall = _lame(bench, level) if index % 2 == 0 else 0.0
            result = _uploads(bench, level)
            result.lame_wall_s = lame_wall if index % 2 == 0 else _lame(bench, level)
            runs.append(result)
            bench.log(
                f"  x{level}: uploads {result.wall_s:.2f} s, bare lame {result.lame_wall_s:.2f} s"
                f"{', FAILED ' + ', '.join(result.failed) if result.failed else ''}"
            )
    return Parallel(
        bench.scale.short_s,
        bench.scale.uploads_per_client,
        health.latencies_ms,
        quiz.latencies_ms,
        runs,
    )


def summarise(data: Parallel) -> Section:
    levels = sorted({r.level for r in data.runs})
    by_level = {level: [r for r in data.runs if r.level == level] for level in levels}

    def service(level: int) -> list[float]:
        per_run = level * data.uploads_per_client
        return [data.seconds * (per_run - len(r.failed)) / r.wall_s for r in by_level[level]]

    def lame(level: int) -> list[float]:
        return [
            data.seconds * level * data.uploads_per_client / r.lame_wall_s for r in by_level[level]
        ]

    def p50_p99(values: list[float]) -> str:
        return f"{percentile(values, 50):.1f} / {percentile(values, 99):.1f}"

    base = levels[0]
    table = []
    for level in levels:
        runs = by_level[level]
        cores = {k: median([r.cores[k] for r in runs]) for k in runs[0].cores}
        in_flight = median([sum(r.convert_s) / r.wall_s for r in runs])
        table.append(
            [
                str(level),
                f"{median(service(level)):.1f}",
                f"{paired(service(level), service(base)):.2f}",
                f"{median(lame(level)):.1f} / {paired(lame(level), lame(base)):.2f}",
                p50_p99([v for r in runs for v in r.health_ms]),
                p50_p99([v for r in runs for v in r.quiz_ms]),
                f"{in_flight:.2f} / {median([c for r in runs for c in r.convert_s]):.2f}",
                " / ".join(
                    f"{cores.get(k, 0.0):.2f}"
                    for k in ("audio", "quiz", "nginx", "postgres", "bench", "other")
                ),
                str(sum(r.probe_errors for r in runs)),
            ]
        )
    scaling = paired(service(2), service(base))
    rows = [
        Row(
            "scaling",
            "throughput at 2 concurrent uploads ÷ 1 (one instance, 2 cores)",
            scaling,
            f"{scaling:.2f}x ({median(service(2)):.1f} vs {median(service(base)):.1f} audio-s/s)",
            SCALING,
        ),
        Row(
            "lame",
            "side by side: 2 bare lame processes ÷ 1, and the service's throughput ÷ bare "
            "lame's at 2",
            paired(lame(2), lame(base)),
            f"{paired(lame(2), lame(base)):.2f}x; service at x2 = "
            f"{paired(service(2), lame(2)):.2f}x of bare lame x2",
        ),
    ]
    for key, name in (("health_ms", "GET /services/audio/health"), ("quiz_ms", "POST /quiz {0}")):
        p99 = {
            level: percentile([v for r in by_level[level] for v in getattr(r, key)], 99)
            for level in levels
        }
        worst = max(levels, key=lambda level: p99[level])
        detail = ", ".join(f"x{level}: {p99[level]:.1f}" for level in levels)
        rows.append(
            Row(
                key.removesuffix("_ms") + "_p99",
                f"{name} p99 while conversions run (worst level)",
                p99[worst],
                f"{p99[worst]:.1f} ms at x{worst} ({detail} ms)",
                P99,
            )
        )
    header = ["uploads", "audio-s per s", "x vs 1 (paired)", "bare lame: audio-s per s / x vs 1"]
    header += ["health p50/p99 ms", "quiz p50/p99 ms", "conversions in flight / convert s"]
    header += ["cores: audio / quiz / nginx / postgres / bench client / other", "probe errors"]
    return Section(
        rows,
        f"{label(data.seconds)} WAV, {data.uploads_per_client} back-to-back uploads per client; "
        "probes every 20 ms through the gateway, latency pooled over the repeats. *bare lame*: "
        "the same encodes by as many lame processes at once, same probes running, right before "
        "or after (alternating). The bench client runs on the same cores. Idle probes: health "
        f"p50/p99 {p50_p99(data.idle_health_ms)} ms, quiz {p50_p99(data.idle_quiz_ms)} ms.",
        [Table(header, table)],
        [
            Panel(
                f"Conversion throughput, one audio instance ({label(data.seconds)} WAV)",
                "concurrent uploads",
                "audio seconds converted per wall second",
                [
                    Line(
                        "service, end to end",
                        [float(x) for x in levels],
                        [median(service(x)) for x in levels],
                    ),
                    Line(
                        "bare lame, same run",
                        [float(x) for x in levels],
                        [median(lame(x)) for x in levels],
                        "s:",
                    ),
                ],
            )
        ],
    )


def _profile(bench: Bench, data: Parallel) -> None:
    wav, user = bench.wav(bench.scale.short_s), bench.user()

    def client(_: int) -> None:
        with bench.api() as api:
            api.upload_ok(user, wav)

    in_parallel(2, client)


MEASURE = Measure(
    "audio.parallel",
    "concurrent uploads, bare lame side by side, latency meanwhile",
    Parallel,
    run,
    summarise,
    tools=("lame",),
    profile=Profile("audio-0", _profile),
)
