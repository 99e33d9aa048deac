"""audio.parallel: concurrent uploads on one instance, bare lame side by side, and the
latency of the health check and ``POST /quiz {0}`` while conversions run.

Each client uploads the short WAV back to back (twice in a full run); throughput is audio
seconds converted per wall second. Right before or after each upload run (alternating), as
many bare ``lame`` processes at once do the same encodes with the same probes running: what
the machine delivered at that moment (on a shared 2-core machine often far from 2x). Probes:
``GET /services/audio/health`` and ``POST /quiz {0}`` every 20 ms through the gateway, p99
pooled over the repeats. The bench client runs on the same cores.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.client import Probe, in_parallel, lame_encode
from bench.model import Line, Measure, Panel, Profile, Row, Section, Table, Target, method
from bench.sampling import CpuMeter, cores_cell
from bench.stats import median, paired, percentile
from bench.wavgen import label

if TYPE_CHECKING:
    from bench.runner import Bench

SCALING = Target(">=", 1.8, "x")
P99 = Target("<", 50, " ms")
PROBES = {"health_ms": "GET /services/audio/health", "quiz_ms": "POST /quiz {0}"}


@dataclass
class Run:
    level: int
    wall_s: float
    lame_wall_s: float
    uploads_ok: int
    errors: int  # uploads and probes that did not answer 201 / 200
    convert_s: list[float]  # from the service's conversion log lines
    health_ms: list[float]
    quiz_ms: list[float]
    cores: dict[str, float]


@dataclass
class Parallel:
    seconds: float
    uploads_per_client: int
    idle_health_ms: list[float]  # the probes alone, no upload in flight
    idle_quiz_ms: list[float]
    runs: list[Run]


def _probes(bench: Bench) -> tuple[Probe, Probe]:
    url = bench.system.gateway_url
    return Probe(url, "GET", "/services/audio/health"), Probe(
        url, "POST", "/quiz", {"questions_num": 0}
    )


def _measured(bench: Bench, level: int, upload: bool) -> Run:
    """``level`` clients at once, uploading or running bare lame, with the probes running."""
    wav, user, system = bench.wav(bench.scale.short_s), bench.user(), bench.system
    repeat = bench.scale.uploads_per_client

    def client(index: int) -> int:
        if upload:
            with bench.api() as api:
                return sum(api.upload(user, wav, False).status == 201 for _ in range(repeat))
        for _ in range(repeat):
            lame_encode(bench.tools["lame"], wav, bench.scratch / f"parallel_{index}.mp3")
        return repeat

    meter, mark = CpuMeter(system.cpu_groups()), system.log_mark("audio-0")
    health, quiz = _probes(bench)
    with health, quiz:
        meter.start()
        wall, done = in_parallel(level, client)
        cores = meter.stop()
    ok = sum(done) if upload else 0
    converted = (
        [line["convert_s"] for line in system.log_since(mark, "convert_s", ok)] if ok else []
    )
    errors = level * repeat - sum(done) + health.errors + quiz.errors
    return Run(
        level, wall, 0.0, ok, errors, converted, health.latencies_ms, quiz.latencies_ms, cores
    )


def run(bench: Bench) -> Parallel:
    bench.user()
    health, quiz = _probes(bench)
    with health, quiz:  # the probes' idle baseline
        time.sleep(2.0)
    runs = []
    for index in range(bench.scale.repeats):
        for level in bench.scale.levels:
            # bare lame right before the uploads in even repeats, right after in odd ones
            lame_first = _measured(bench, level, False).wall_s if index % 2 == 0 else 0.0
            result = _measured(bench, level, True)
            result.lame_wall_s = lame_first or _measured(bench, level, False).wall_s
            runs.append(result)
            bench.log(
                f"  x{level}: uploads {result.wall_s:.2f} s, bare lame {result.lame_wall_s:.2f} s"
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
    at = {level: [r for r in data.runs if r.level == level] for level in levels}
    service = {x: [data.seconds * r.uploads_ok / r.wall_s for r in at[x]] for x in levels}
    per_level = {x: data.seconds * x * data.uploads_per_client for x in levels}
    lame = {x: [per_level[x] / r.lame_wall_s for r in at[x]] for x in levels}
    p99 = {
        key: {x: percentile([v for r in at[x] for v in getattr(r, key)], 99) for x in levels}
        for key in PROBES
    }

    def p50_p99(values: list[float]) -> str:
        return f"{percentile(values, 50):.1f} / {percentile(values, 99):.1f}"

    scaling, lame_scaling = paired(service[2], service[1]), paired(lame[2], lame[1])
    shown = f"{scaling:.2f}x ({median(service[2]):.1f} vs {median(service[1]):.1f} audio-s/s)"
    what = "throughput at 2 concurrent uploads ÷ 1 (one instance, 2 cores)"
    rows = [Row("scaling", what, scaling, shown, SCALING)]
    versus = f"{lame_scaling:.2f}x; service at x2 = {paired(service[2], lame[2]):.2f}x of lame x2"
    what = "side by side: 2 bare lame processes ÷ 1, and the service's throughput ÷ lame's at 2"
    rows.append(Row("lame", what, lame_scaling, versus))
    for key, name in PROBES.items():
        worst = max(levels, key=lambda x: p99[key][x])
        detail = ", ".join(f"x{x}: {p99[key][x]:.1f}" for x in levels)
        shown = f"{p99[key][worst]:.1f} ms at x{worst} ({detail} ms)"
        what = f"{name} p99 while conversions run (worst level)"
        rows.append(Row(key.replace("_ms", "_p99"), what, p99[key][worst], shown, P99))
    table = [
        [
            str(x),
            f"{median(service[x]):.1f} / {paired(service[x], service[1]):.2f}",
            f"{median(lame[x]):.1f} / {paired(lame[x], lame[1]):.2f}",
            p50_p99([v for r in at[x] for v in r.health_ms]),
            p50_p99([v for r in at[x] for v in r.quiz_ms]),
            f"{median([sum(r.convert_s) / r.wall_s for r in at[x]]):.2f}",
            cores_cell([r.cores for r in at[x]], "audio", "quiz", "nginx", "postgres", "bench"),
            str(sum(r.errors for r in at[x])),
        ]
        for x in levels
    ]
    header = ["uploads", "service: audio-s per s / x vs 1", "bare lame: audio-s per s / x vs 1"]
    header += ["health p50/p99 ms", "quiz p50/p99 ms", "conversions in flight"]
    header += ["cores: audio / quiz / nginx / postgres / bench client / other", "errors"]
    idle = f"Idle probes: health {p50_p99(data.idle_health_ms)} ms, "
    idle += f"quiz {p50_p99(data.idle_quiz_ms)} ms."
    xs = [float(x) for x in levels]
    lines = [Line("service, end to end", xs, [median(service[x]) for x in levels])]
    lines.append(Line("bare lame, same run", xs, [median(lame[x]) for x in levels], "s:"))
    title = f"Conversion throughput, one audio instance ({label(data.seconds)} WAV)"
    panel = Panel(title, "concurrent uploads", "audio seconds converted per wall second", lines)
    return Section(rows, f"{method(__doc__)} {idle}", [Table(header, table)], [panel])


def _profile(bench: Bench, data: Parallel) -> None:
    _measured(bench, 2, True)


MEASURE = Measure(
    "audio.parallel",
    "concurrent uploads, bare lame side by side, latency meanwhile",
    Parallel,
    run,
    summarise,
    tools=("lame",),
    profile=Profile("audio-0", _profile),
)
