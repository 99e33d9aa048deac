"""http.cache_bound: a deleted record stops being served through the gateway within the
gateway's documented cache lifetime (its ``proxy_cache_valid``).

Upload, download twice (the first fills the gateway's cache, the second should hit it),
DELETE, then GET once a second until 404, for at most the bound + 15 s. The cache's lifetime
runs from the download that filled it, so the last copy served after the DELETE is counted
from that download (nginx keeps time to the second: one second of slack). Runs in the
background beside the HTTP measures: one request a second is no load.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.model import Measure, Row, Section, Skipped, Target, method

if TYPE_CHECKING:
    from bench.runner import Bench

SLACK_S = 1.0
_CACHE_VALID = re.compile(r"proxy_cache_valid\s+[^;]*?\b(\d+)([smh]?)\s*;")


@dataclass
class CacheBound:
    bound_s: float  # the gateway's longest proxy_cache_valid
    delete_status: int
    cache_status: list[str]  # X-Cache-Status of the two downloads before the DELETE
    gone_after_s: float | None  # first 404 after the DELETE
    last_served_s: float  # the last copy served after the DELETE, since the cache was filled


def documented_bound_s(conf: str) -> float:
    units = {"": 1, "s": 1, "m": 60, "h": 3600}
    return float(max((int(n) * units[u] for n, u in _CACHE_VALID.findall(conf)), default=0))


def run(bench: Bench) -> CacheBound:
    if not bench.scale.cache_check:
        raise Skipped("it waits for the gateway cache to expire (a minute)")
    conf = (bench.system.workdir / "nginx" / "gateway.conf").read_text(encoding="utf-8")
    bound = documented_bound_s(conf)
    with bench.api() as api:
        user = api.create_user("bench-delete")
        path = api.upload(user, bench.wav(5.0)).path
        filled = time.perf_counter()
        cache = [api.get(path).headers.get("x-cache-status", "-") for _ in range(2)]
        deleted = api.delete(path, headers={"Authorization": f"Bearer {user.token}"})
        deleted_at = time.perf_counter()
        served, gone = filled, None
        while gone is None and time.perf_counter() < deleted_at + bound + 15:
            sent = time.perf_counter()
            if api.get(path).status_code == 404:
                gone = sent - deleted_at
            else:
                served = sent
                time.sleep(1.0)
    return CacheBound(bound, deleted.status_code, cache, gone, served - filled)


def summarise(data: CacheBound) -> Section:
    target = Target("<=", data.bound_s + SLACK_S, " s")
    if data.gone_after_s is None:
        shown = f"still served {data.last_served_s:.0f} s after the cache was filled"
    else:
        shown = (
            f"404 {data.gone_after_s:.1f} s after the DELETE ({data.delete_status}); last copy "
            f"served {data.last_served_s:.1f} s after the download that filled the cache "
            f"(cache: {'/'.join(data.cache_status)})"
        )
    value = None if data.gone_after_s is None else data.last_served_s
    what = f"a deleted record stops being served (documented bound {data.bound_s:g} s + 1 s)"
    return Section([Row("deleted", what, value, shown, target)], method(__doc__))


MEASURE = Measure(
    "http.cache_bound",
    "deleted records leave the cache",
    CacheBound,
    run,
    summarise,
    background=True,
)
