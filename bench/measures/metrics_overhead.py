"""http.metrics: what the Prometheus metrics cost: throughput with them on ÷ with them off.

A second stack beside the measured one, the same in every way but ``QUIZ_METRICS=off`` and
``AUDIO_METRICS=off`` (no request middleware, no ``/metrics``; the few counters the service
layer bumps per conversion or ingestion stay). wrk runs each case on both stacks, side by
side in every repeat (on then off, off then on in the next): ``POST /quiz {0}``, and
``GET /record`` of a 1 MiB MP3 from the gateway's cache and bypassing it (``Cache-Control:
no-cache``: the audio service and PostgreSQL). A scrape of ``/metrics`` every 15 s
(Prometheus's default interval) costs nothing next to this; the figure is the middleware's
cost per request. A cached download never reaches a service: its ratio is the noise floor.
Because a shared machine's noise can exceed 5 %, the middleware's CPU per request is also
measured on its own: the quiz app in this process, ``GET /health`` called straight through
ASGI (no sockets) 2000 times with metrics on, then off, five times each alternately, in CPU
time of this process; that difference over the quiz service's CPU per ``POST /quiz {0}``
(its cores ÷ its req/s in the wrk runs with metrics off) is the share metrics add.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from starlette.types import Message

from bench import wrk
from bench.client import AudioApi
from bench.model import Measure, Row, Section, Target, method
from bench.sampling import CpuMeter, process_tree
from bench.stack import running_system
from bench.stats import median
from quiz_service.main import create_app
from quiz_service.settings import QuizSettings

if TYPE_CHECKING:
    from bench.runner import Bench

WITHIN_5_PERCENT = Target(">=", 0.95, "x")
CPU_SHARE_WITHIN = Target("<=", 5.0, " %")
IN_PROCESS_CALLS = 2000
IN_PROCESS_ROUNDS = 5
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
    # CPU µs per in-process GET /health, one figure per round, metrics on and off.
    cpu_us_on: list[float] = field(default_factory=list)
    cpu_us_off: list[float] = field(default_factory=list)


async def _cpu_us_per_call(metrics: str) -> float:
    """CPU µs of this process per ``GET /health`` of a quiz app, straight through ASGI."""
    settings = QuizSettings(
        database_url="sqlite+aiosqlite:///:memory:", metrics=metrics, log_level="WARNING"
    )
    app = create_app(settings)
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/health",
        "raw_path": b"/health",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass

    async with app.router.lifespan_context(app):
        for _ in range(50):  # warm-up
            await app(dict(scope), receive, send)
        started = time.process_time()
        for _ in range(IN_PROCESS_CALLS):
            await app(dict(scope), receive, send)
        return (time.process_time() - started) / IN_PROCESS_CALLS * 1e6


def _in_process_costs() -> tuple[list[float], list[float]]:
    on: list[float] = []
    off: list[float] = []
    for round_ in range(IN_PROCESS_ROUNDS):
        for metrics in ("on", "off") if round_ % 2 == 0 else ("off", "on"):
            (on if metrics == "on" else off).append(asyncio.run(_cpu_us_per_call(metrics)))
    return on, off


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
    cpu_on, cpu_off = _in_process_costs()
    return MetricsOverhead(size, matrix, cpu_on, cpu_off)


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

    if data.cpu_us_on:
        extra_us = median(data.cpu_us_on) - median(data.cpu_us_off)
        # The quiz service's CPU per POST /quiz {0} with metrics off, at the fewest connections.
        conns = matrix.connections[0]
        off_runs = matrix.of("quiz_zero_off", conns)
        per_request_us = median([r.cores.get("quiz_off", 0.0) / r.rps * 1e6 for r in off_runs])
        share = 100 * extra_us / per_request_us if per_request_us else float("nan")
        rows.append(
            Row(
                "cpu_share",
                "the middleware's CPU per request ÷ the quiz service's CPU per POST /quiz {0}",
                share,
                f"{share:.2f} % ({extra_us:.1f} µs of {per_request_us:,.0f} µs; in-process GET "
                f"/health: {median(data.cpu_us_on):.1f} vs {median(data.cpu_us_off):.1f} µs)",
                CPU_SHARE_WITHIN,
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
