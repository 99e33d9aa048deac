"""http.api: requests per second of ``POST /quiz {0}`` and ``POST /user`` through the gateway.

wrk, 2 threads, each connection count in turn, interleaved over the repeats; ``POST /user``
sends a new name with every request (a Lua script).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.model import Line, Measure, Panel, Row, Section, Table, method
from bench.wrk import TABLE_HEADER, Case, WrkRun, median_of, run_matrix, table_row

if TYPE_CHECKING:
    from bench.runner import Bench

JSON = {"Content-Type": "application/json"}
CASES = {"quiz_zero": "POST /quiz {0}", "user_create": "POST /user"}


@dataclass
class Api:
    connections: list[int]
    runs: list[WrkRun]


def run(bench: Bench) -> Api:
    url = bench.system.gateway_url
    cases = [
        Case("quiz_zero", f"{url}/quiz", "POST", JSON, '{"questions_num": 0}'),
        Case("user_create", f"{url}/user", "POST", JSON, unique_names=True, status=201),
    ]
    scale = bench.scale
    runs = run_matrix(
        bench.tools["wrk"],
        cases,
        scale.connections,
        scale.repeats,
        scale.wrk_s,
        bench.system.cpu_groups(),
        bench.scratch / "wrk",
    )
    return Api(list(scale.connections), runs)


def summarise(data: Api) -> Section:
    rows = []
    for case, what in CASES.items():
        rps = {c: median_of(data.runs, case, c, "rps") for c in data.connections}
        shown = ", ".join(f"c={c}: {value:,.0f}" for c, value in rps.items())
        rows.append(Row(case, f"{what} req/s through the gateway", min(rps.values()), shown))
    table = [
        table_row(data.runs, case, c, "quiz" if case == "quiz_zero" else "audio", "nginx")
        for case in CASES
        for c in data.connections
    ]
    xs = [float(c) for c in data.connections]
    return Section(
        rows,
        method(__doc__),
        [Table(TABLE_HEADER, table)],
        [
            Panel(
                "API requests through nginx (wrk)",
                "connections",
                "requests per second",
                [
                    Line(case, xs, [median_of(data.runs, case, c, "rps") for c in data.connections])
                    for case in CASES
                ],
            )
        ],
    )


MEASURE = Measure("http.api", "API requests per second", Api, run, summarise, tools=("wrk",))
