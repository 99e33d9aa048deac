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

from bench.model import Line, Measure, Panel, Profile, Row, Section, Table, Target, method
from bench.stats import paired
from bench.wrk import (
    TABLE_HEADER,
    Case,
    WrkRun,
    by_case,
    median_of,
    run_matrix,
    run_wrk,
    static_group,
    static_nginx,
    table_row,
)

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
    connections: list[int]
    transactions: int  # in the audio database during all the runs
    runs: list[WrkRun]


def run(bench: Bench) -> Downloads:
    system, scale = bench.system, bench.scale
    with bench.api() as api:
        upload = api.upload_ok(bench.user(), bench.wav(WAV_S))
        mp3 = api.client.get(upload.path).raise_for_status().content
    root, workdir = bench.scratch / "static_root", bench.scratch / "static_nginx"
    root.mkdir(parents=True, exist_ok=True)
    (root / "record.mp3").write_bytes(mp3)
    shutil.rmtree(workdir, ignore_errors=True)
    record = system.gateway_url + upload.path
    with static_nginx(bench.tools["nginx"], workdir, root) as static:
        file, size = f"{static.url}/record.mp3", len(mp3)
        cases = [
            Case("record_full", record, length=size),
            Case("record_uncached", record, headers=UNCACHED, length=size),
            Case("static_full", file, length=size),
            Case("record_range", record, headers=RANGE, status=206, length=65536),
            Case("static_range", file, headers=RANGE, status=206, length=65536),
        ]
        before = system.audio_transactions()
        groups = system.cpu_groups(static=static_group(static))
        runs = run_matrix(
            bench.tools["wrk"],
            cases,
            scale.connections,
            scale.repeats,
            scale.wrk_s,
            groups,
            bench.scratch / "wrk",
        )
        transactions = system.audio_transactions() - before
    shutil.rmtree(workdir, ignore_errors=True)  # its access log holds every request
    return Downloads(size, upload.path, list(scale.connections), transactions, runs)


def summarise(data: Downloads) -> Section:
    def ratios(case: str, ceiling: str) -> dict[int, float]:
        return {
            c: paired(
                [r.rps for r in by_case(data.runs, case, c)],
                [r.rps for r in by_case(data.runs, ceiling, c)],
            )
            for c in data.connections
        }

    def shown(values: dict[int, float]) -> str:
        return ", ".join(f"c={c}: {value:.2f}x" for c, value in values.items())

    full, ranged = ratios("record_full", "static_full"), ratios("record_range", "static_range")
    uncached = ratios("record_uncached", "static_full")
    requests = sum(r.requests for r in data.runs if r.case == "record_uncached")
    per_request = data.transactions / requests if requests else float("nan")
    rows = [
        Row(
            "full",
            "GET /record (1 MiB) req/s ÷ static nginx req/s",
            min(full.values()),
            shown(full),
            OVER_STATIC,
        ),
        Row(
            "range",
            "GET /record with Range (64 KiB) ÷ static nginx",
            min(ranged.values()),
            shown(ranged),
            OVER_STATIC,
        ),
        Row(
            "uncached",
            "GET /record bypassing the gateway cache (Cache-Control: no-cache) ÷ static",
            min(uncached.values()),
            ", ".join(
                f"c={c}: {median_of(data.runs, 'record_uncached', c, 'rps'):,.0f} req/s "
                f"= {value:.2f}x"
                for c, value in uncached.items()
            ),
        ),
        Row(
            "transactions",
            "PostgreSQL transactions per uncached GET /record",
            per_request,
            f"{per_request:.2f}",
        ),
    ]
    names = sorted({r.case for r in data.runs}, key=lambda name: (name.split("_", 1)[1], name))
    table = [
        table_row(
            data.runs,
            name,
            c,
            "" if name.startswith("static") else "audio",
            "static" if name.startswith("static") else "nginx",
        )
        for name in names
        for c in data.connections
    ]
    xs = [float(c) for c in data.connections]
    return Section(
        rows,
        method(__doc__) + f" The MP3 is {data.mp3_bytes:,} bytes.",
        [Table(TABLE_HEADER, table)],
        [
            Panel(
                "Downloads through nginx vs static nginx (wrk)",
                "connections",
                "requests per second",
                [
                    Line(name, xs, [median_of(data.runs, name, c, "rps") for c in data.connections])
                    for name in names
                ],
                log_y=True,
            )
        ],
    )


def _profile(bench: Bench, data: Downloads) -> None:
    case = Case("record_uncached", bench.system.gateway_url + data.record_path, headers=UNCACHED)
    run_wrk(
        bench.tools["wrk"],
        case,
        bench.scale.connections[0],
        bench.scale.wrk_s,
        bench.scratch / "wrk",
    )


MEASURE = Measure(
    "http.downloads",
    "GET /record vs static nginx",
    Downloads,
    run,
    summarise,
    tools=("wrk", "nginx"),
    profile=Profile("audio-0", _profile),
)
