"""HTTP load with wrk (bounded runs, loopback only), and the static-file nginx ceiling.

Each run gets a generated Lua script that sets the request and, in ``done()``, prints one
``BENCH_JSON`` line (requests, errors, latency percentiles), which is what we parse. wrk only
counts statuses above 399 as errors, so ``check`` sends one request of each case by hand
first: a 2xx of the wrong kind (a 200 where a 206 was meant) cannot slip through.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from bench.model import Line, Panel, Table
from bench.sampling import CpuMeter, PidSource, cores_cell, process_tree
from bench.stats import median, paired
from devstack.gateway import Gateway
from devstack.ports import free_port

if TYPE_CHECKING:
    from bench.runner import Bench

STATIC_TEMPLATE = Path(__file__).with_name("static_nginx.conf.template")
_STATS = {"rps": ",.0f", "p50_ms": ".2f", "p99_ms": ".2f"}

_DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH_JSON {"requests":%d,"duration_us":%d,"errors":%d,' ..
    '"p50_us":%d,"p99_us":%d}\\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""
# POST /user needs a new name per request: "<prefix>-<thread>-<n>".
_UNIQUE_NAMES = """
local threads = 0
function setup(thread) threads = threads + 1; thread:set("id", threads) end
local sent = 0
function request()
  sent = sent + 1
  return wrk.format(nil, nil, nil, string.format('{"name":"%s-%d-%d"}', prefix, id, sent))
end
"""


@dataclass(frozen=True)
class Case:
    """One kind of request: what wrk sends, and what a correct answer looks like."""

    name: str
    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    unique_names: bool = False
    status: int = 200
    length: int | None = None

    def script(self) -> str:
        lines = [f"wrk.method = {json.dumps(self.method)}"]
        lines += [
            f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in self.headers.items()
        ]
        if self.body is not None:
            lines.append(f"wrk.body = {json.dumps(self.body)}")
        if self.unique_names:
            lines += [f'prefix = "wrk-{uuid.uuid4().hex[:12]}"', _UNIQUE_NAMES]
        return "\n".join([*lines, _DONE])

    def check(self) -> None:
        body = f'{{"name": "wrk-check-{uuid.uuid4().hex}"}}' if self.unique_names else self.body
        response = httpx.request(
            self.method, self.url, headers=self.headers, content=body, timeout=30
        )
        size = len(response.content)
        if response.status_code != self.status or self.length not in (None, size):
            raise RuntimeError(
                f"{self.name}: HTTP {response.status_code} with {size} bytes, expected "
                f"{self.status} with {self.length if self.length is not None else 'any'}"
            )


@dataclass(frozen=True)
class WrkRun:
    case: str
    connections: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cores: dict[str, float]


def run_wrk(wrk: Path, case: Case, connections: int, seconds: float, scratch: Path) -> WrkRun:
    if not case.url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise ValueError(f"wrk runs only against loopback, not {case.url}")
    script = scratch / f"{case.name}.lua"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(case.script(), encoding="utf-8")
    argv = [str(wrk), "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout=5s"]
    result = subprocess.run(
        [*argv, "-s", str(script), case.url], capture_output=True, text=True, timeout=seconds + 60
    )
    line = next((r for r in result.stdout.splitlines() if r.startswith("BENCH_JSON ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr or result.stdout}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    return WrkRun(
        case.name,
        connections,
        data["requests"],
        round(data["requests"] / (data["duration_us"] / 1e6), 1),
        data["p50_us"] / 1000,
        data["p99_us"] / 1000,
        data["errors"],
        {},
    )


@dataclass
class Matrix:
    """wrk runs of several cases at several connection counts, ``repeats`` times."""

    connections: list[int]
    runs: list[WrkRun]

    def of(self, case: str, conns: int) -> list[WrkRun]:
        return [r for r in self.runs if r.case == case and r.connections == conns]

    def median(self, case: str, conns: int, attr: str = "rps") -> float:
        return median([float(getattr(r, attr)) for r in self.of(case, conns)])

    def over(self, case: str, ceiling: str) -> dict[int, float]:
        """req/s of ``case`` ÷ ``ceiling`` per connection count, paired repeat by repeat."""
        return {
            c: paired([r.rps for r in self.of(case, c)], [r.rps for r in self.of(ceiling, c)])
            for c in self.connections
        }

    def cases(self) -> list[str]:
        return list(dict.fromkeys(r.case for r in self.runs))

    def table(self, serving: Callable[[str], tuple[str, str]]) -> Table:
        """Medians per case and connection count; ``serving(case)`` names the CPU groups
        (service, nginx) that serve it."""
        rows = []
        for case in self.cases():
            for conns in self.connections:
                stats = [f"{self.median(case, conns, a):{f}}" for a, f in _STATS.items()]
                errors = str(sum(r.errors for r in self.of(case, conns)))
                cores = [r.cores for r in self.of(case, conns)]
                cell = cores_cell(cores, *serving(case), "postgres", "wrk")
                rows.append([case, str(conns), *stats, errors, cell])
        header = ["case", "connections", "req/s", "p50 ms", "p99 ms", "errors"]
        return Table([*header, "cores: service / nginx / postgres / wrk / other"], rows)

    def panel(self, title: str, log_y: bool = False) -> Panel:
        xs = [float(c) for c in self.connections]
        lines = [Line(k, xs, [self.median(k, c) for c in self.connections]) for k in self.cases()]
        return Panel(title, "connections", "requests per second", lines, log_y)


def measure(bench: Bench, cases: list[Case], **groups: PidSource) -> Matrix:
    """Every case at every connection count, ``repeats`` times, interleaved: cases compared
    with each other are measured side by side, repeat by repeat."""
    for case in cases:
        case.check()
    scale, runs = bench.scale, []
    for _ in range(scale.repeats):
        for conns in scale.connections:
            for case in cases:
                meter = CpuMeter(bench.system.cpu_groups(**groups), children="wrk")
                meter.start()
                run = run_wrk(bench.tools["wrk"], case, conns, scale.wrk_s, bench.scratch / "wrk")
                runs.append(replace(run, cores=meter.stop()))
    return Matrix(list(scale.connections), runs)


def static_nginx(nginx: Path, workdir: Path, root: Path) -> Gateway:
    """A minimal nginx (one worker, the gateway's own main settings, no proxying) serving
    ``root``: what serving the same bytes from disk costs, the ceiling for downloads."""
    values = {"GATEWAY_LISTEN": f"127.0.0.1:{free_port()}", "STATIC_ROOT": str(root.resolve())}
    return Gateway(workdir, values, nginx=nginx, template=STATIC_TEMPLATE)


def static_group(server: Gateway) -> PidSource:
    return lambda: process_tree(server.pid) if server.pid else []
