"""http.downloads: ``GET /record`` of a 1 MiB MP3 through the gateway vs a static nginx.

wrk, interleaved per repeat so that every ratio is paired: the whole file (served from the
gateway's cache), a 64 KiB ``Range``, and the whole file bypassing the cache (``Cache-Control:
no-cache``: the service's own path, PostgreSQL included). ``static_*`` is a second, minimal
nginx (one worker, the gateway's main settings) serving the same bytes from disk: the ceiling.
The audio database's pg_stat_database counter gives the transactions per uncached download.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench import wrk
from bench.model import Measure, Profile, Row, Section, Target, method

if TYPE_CHECKING:
    from bench.runner import Bench

OVER_STATIC = Target(">=", 0.5, "x")
WAV_S = 65.5  # 1 MiB of MP3 at 128 kbps
RANGE = {"Range": "bytes=0-65535"}
UNCACHED = {"Cache-Control": "no-cache"}


@dataclass
class Downloads:
    mp3_bytes: int
    record_path: str
    transactions: int  # in the audio database during all the runs
    matrix: wrk.Matrix


def run(bench: Bench) -> Downloads:
    with bench.api() as api:
        upload = api.upload(bench.user(), bench.wav(WAV_S))
        mp3 = api.get(upload.path).raise_for_status().content
    root, workdir = bench.scratch / "static_root", bench.scratch / "static_nginx"
    root.mkdir(parents=True, exist_ok=True)
    (root / "record.mp3").write_bytes(mp3)
    shutil.rmtree(workdir, ignore_errors=True)
    record, size = bench.system.gateway_url + upload.path, len(mp3)
    with wrk.static_nginx(bench.tools["nginx"], workdir, root) as static:
        file = f"{static.url}/record.mp3"
        cases = [
            wrk.Case("record_full", record, length=size),
            wrk.Case("record_uncached", record, headers=UNCACHED, length=size),
            wrk.Case("static_full", file, length=size),
            wrk.Case("record_range", record, headers=RANGE, status=206, length=65536),
            wrk.Case("static_range", file, headers=RANGE, status=206, length=65536),
        ]
        before = bench.system.audio_transactions()
        matrix = wrk.measure(bench, cases, static=wrk.static_group(static))
        transactions = bench.system.audio_transactions() - before
    shutil.rmtree(workdir, ignore_errors=True)  # its access log holds every request
    return Downloads(size, upload.path, transactions, matrix)


def summarise(data: Downloads) -> Section:
    matrix, rows = data.matrix, []
    for key, what, case, ceiling in (
        ("full", "GET /record (1 MiB) req/s ÷ static nginx req/s", "record_full", "static_full"),
        ("range", "GET /record with Range (64 KiB) ÷ static", "record_range", "static_range"),
    ):
        ratios = matrix.over(case, ceiling)
        shown = ", ".join(f"c={c}: {value:.2f}x" for c, value in ratios.items())
        rows.append(Row(key, what, min(ratios.values()), shown, OVER_STATIC))
    ratios = matrix.over("record_uncached", "static_full")
    rps = {c: matrix.median("record_uncached", c) for c in matrix.connections}
    shown = ", ".join(f"c={c}: {rps[c]:,.0f} req/s = {value:.2f}x" for c, value in ratios.items())
    what = "GET /record bypassing the gateway cache (Cache-Control: no-cache) ÷ static"
    rows.append(Row("uncached", what, min(ratios.values()), shown))
    requests = sum(r.requests for r in matrix.runs if r.case == "record_uncached")
    per_request = data.transactions / requests if requests else float("nan")
    what = "PostgreSQL transactions per uncached GET /record"
    rows.append(Row("transactions", what, per_request, f"{per_request:.2f}"))
    table = matrix.table(lambda case: ("", "static") if "static" in case else ("audio", "nginx"))
    panel = matrix.panel("Downloads through nginx vs static nginx", log_y=True)
    text = f"{method(__doc__)} The MP3 is {data.mp3_bytes:,} bytes."
    return Section(rows, text, [table], [panel])


def _profile(bench: Bench, data: Downloads) -> None:
    url = bench.system.gateway_url + data.record_path
    case = wrk.Case("record_uncached", url, headers=UNCACHED)
    wrk.run_wrk(bench.tools["wrk"], case, 16, bench.scale.wrk_s, bench.scratch / "wrk")


MEASURE = Measure(
    "http.downloads",
    "GET /record vs static nginx",
    Downloads,
    run,
    summarise,
    tools=("wrk", "nginx"),
    profile=Profile("audio-0", _profile),
)
