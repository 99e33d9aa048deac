"""http.api: requests per second of ``POST /quiz {0}`` and ``POST /user`` through the gateway.

wrk, 2 threads, at each connection count, interleaved over the repeats; ``POST /user`` sends
a new name with every request (a Lua script).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench import wrk
from bench.model import Measure, Row, Section, method

if TYPE_CHECKING:
    from bench.runner import Bench

JSON = {"Content-Type": "application/json"}
CASES = {"quiz_zero": ("POST /quiz {0}", "quiz"), "user_create": ("POST /user", "audio")}


def run(bench: Bench) -> wrk.Matrix:
    url = bench.system.gateway_url
    quiz = wrk.Case("quiz_zero", f"{url}/quiz", "POST", JSON, '{"questions_num": 0}')
    user = wrk.Case("user_create", f"{url}/user", "POST", JSON, unique_names=True, status=201)
    return wrk.measure(bench, [quiz, user])


def summarise(data: wrk.Matrix) -> Section:
    rows = []
    for case, (what, _) in CASES.items():
        rps = {c: data.median(case, c) for c in data.connections}
        shown = ", ".join(f"c={c}: {value:,.0f}" for c, value in rps.items())
        rows.append(Row(case, f"{what} req/s through the gateway", min(rps.values()), shown))
    table = data.table(lambda case: (CASES[case][1], "nginx"))
    return Section(rows, method(__doc__), [table], [data.panel("API requests through nginx")])


MEASURE = Measure("http.api", "API requests per second", wrk.Matrix, run, summarise, ("wrk",))
