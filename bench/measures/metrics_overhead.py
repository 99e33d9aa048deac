"""http.metrics: what the Prometheus metrics cost: throughput with them on ÷ with them off.

A second stack beside the measured one, the same in every way but ``QUIZ_METRICS=off`` and
``AUDIO_METRICS=off`` (no request middleware, no ``/metrics``; the few counters the service
layer bumps per conversion or ingestion stay). wrk runs each case on both stacks, side by
side in every repeat (on then off, off then on in the next): ``POST /quiz {0}``, and
``GET /record`` of a 1 MiB MP3 from the gateway's cache and bypassing it (``Cache-Control:
no-cache``: the audio service and PostgreSQL). A scrape of ``/metrics`` every 15 s
(Prometheus's default interval) costs nothing next to this; the figure is the middleware's
cost per request. A cached download never reaches a service: its ratio is the noise floor.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from bench import wrk
from bench.client import AudioApi
from bench.model import Measure, Row, Section, Target, method
from bench.sampling import CpuMeter, process_tree
from bench.stack import running_system

if TYPE_CHECKING:
    from bench.runner import Bench

WITHIN_5_PERCENT = Target(">=", 0.95, "x")
WAV_S = 65.5  # 1 MiB of MP3 at 128 kbps
JSON = {"Content-Type": "application/json"}
UNCACHED = {"Cache-Control": "no-cache"}
CASES = {
    "quiz_zero": "POST /quiz {0}",
    "record_cached": "GET /record (1 MiB, gateway cache)",
    "record_uncached": "GET /record (1 MiB, bypassing the cache)",
}


@dataclass
class MetricsOverhead:
    mp3_bytes: int
    matrix: wrk.Matrix


def _cases(gateway_url: str, record_path: str, size: int, suffix: str) -> list[wrk.Case]:
    record = gateway_url + record_path
    return [
        wrk.Case(
            f"quiz_zero_{suffix}", f"{gateway_url}/quiz", "POST", JSON, '{"questions_num": 0}'
        ),
        wrk.Case(f"record_cached_{suffix}", record, length=size),
        wrk.Case(f"record_uncached_{suffix}", record, headers=UNCACHED, length=size),
    ]


def run(bench: Bench) -> MetricsOverhead:
    wav = bench.wav(WAV_S)
    with bench.api() as api:
        on = api.upload(bench.user(), wav)
        size = len(api.get(on.path).raise_for_status().content)
    metrics_off = running_system(
        bench.scratch / "metrics_off", QUIZ_METRICS="off", AUDIO_METRICS="off"
    )
    with metrics_off as off_system:
        with AudioApi(off_system.gateway_url) as api:
            off = api.upload(api.create_user(), wav)
        on_cases = _cases(bench.system.gateway_url, on.path, size, "on")
        off_cases = _cases(off_system.gateway_url, off.path, size, "off")
        pairs = list(zip(on_cases, off_cases, strict=True))
        gateway = off_system.stack.gateway
        groups = {
            "quiz_off": lambda: process_tree(off_system.pid("quiz-0")),
            "audio_off": lambda: process_tree(off_system.pid("audio-0")),
            "nginx_off": lambda: process_tree(gateway.pid) if gateway and gateway.pid else [],
        }
        for case in on_cases + off_cases:
            case.check()
        # Paired, ABBA: each case on then off in one repeat, off then on in the next.
        runs = []
        for repeat in range(bench.scale.repeats):
            for conns in bench.scale.connections:
                for pair in pairs:
                    for case in pair if repeat % 2 == 0 else reversed(pair):
                        meter = CpuMeter(bench.system.cpu_groups(**groups), children="wrk")
                        meter.start()
                        run = wrk.run_wrk(
                            bench.tools["wrk"], case, conns, bench.scale.wrk_s, bench.scratch
                        )
                        runs.append(replace(run, cores=meter.stop()))
        matrix = wrk.Matrix(list(bench.scale.connections), runs)
    return MetricsOverhead(size, matrix)


def summarise(data: MetricsOverhead) -> Section:
    matrix, rows = data.matrix, []
    for case, what in CASES.items():
        ratios = matrix.over(f"{case}_on", f"{case}_off")
        rps = {c: (matrix.median(f"{case}_on", c), matrix.median(f"{case}_off", c)) for c in ratios}
        shown = ", ".join(
            f"c={c}: {ratios[c]:.3f}x ({on:,.0f} vs {off:,.0f} req/s)"
            for c, (on, off) in rps.items()
        )
        rows.append(
            Row(
                case,
                f"{what}: req/s with metrics ÷ without",
                min(ratios.values()),
                shown,
                WITHIN_5_PERCENT,
            )
        )

    def serving(case: str) -> tuple[str, str]:
        service = "quiz" if case.startswith("quiz") else "audio"
        if case.endswith("_on"):
            return service, "nginx"
        return f"{service}_off", "nginx_off"

    table = matrix.table(serving)
    return Section(rows, method(__doc__), [table], [matrix.panel("Metrics on vs off")])


MEASURE = Measure(
    "http.metrics",
    "Prometheus metrics on vs off",
    MetricsOverhead,
    run,
    summarise,
    tools=("wrk",),
)
