"""``python -m bench``: run every benchmark, write bench/results/latest.{json,md,png}.

    python -m bench                 # the full run (a few minutes on 2 cores)
    python -m bench --quick         # a smoke run: short files, one repeat, short wrk runs
    python -m bench --only quiz,http --repeats 5

Sections: ``conversion`` (1, and the 10-minute memory figure), ``parallel`` (2), ``memory``
(3, the 60-minute upload), ``quiz`` (4), ``http`` (5). A section that fails is recorded in
the results with its error and the others still run. Profiles (py-spy) are taken only for
targets that were missed, after the measurements, so they never disturb a measured figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench import report
from bench.audio import (
    AudioApi,
    AudioFile,
    User,
    bench_conversion,
    bench_memory,
    bench_parallel,
    check_deletion,
    gateway_cache_bound_s,
    profile_uploads,
)
from bench.cpu import process_tree
from bench.http_load import bench_http, check_target, http_targets, run_wrk, static_nginx
from bench.memory import MIB
from bench.profiling import SpyRecorder
from bench.quiz import bench_ingestion, profile_ingestion
from bench.system import AudioEncoding, BenchSystem, bench_system, postgres_version
from bench.tools import (
    ToolError,
    ensure_debian_package,
    ensure_nginx,
    environment,
    py_spy_binary,
)
from bench.wavgen import WavSpec, ensure_wav, remove_wav
from devstack.ports import free_port

BENCH_DIR = Path(__file__).resolve().parent
SECTIONS = ("conversion", "parallel", "memory", "quiz", "http")
MEMORY_LIMIT_MIB = 64.0
# 1 MiB of MP3 at 128 kbps CBR is 65.5 s of audio: the download benchmark's record.
DOWNLOAD_WAV_S = 65.5


@dataclass
class Options:
    quick: bool
    repeats: int
    long_repeats: int
    short_s: float
    long_s: float
    huge_s: float
    levels: list[int]
    uploads_per_client: int
    probe_interval_s: float
    dup_rates: list[float]
    quiz_repeats: int
    wrk_duration_s: float
    wrk_connections: list[int]
    wrk_threads: int
    wrk_repeats: int
    sections: list[str]
    profile: bool
    keep_wavs: bool
    wait_quiet_s: float
    out: Path
    bitrate_kbps: int
    quality: int


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small, one repeat")
    parser.add_argument("--repeats", type=int, help="repeats of every measurement (default 3)")
    parser.add_argument(
        "--long-repeats", type=int, help="repeats of the 60-minute memory upload (default 2)"
    )
    parser.add_argument("--short-s", type=float, help="the short WAV, seconds (default 60)")
    parser.add_argument("--long-s", type=float, help="the long WAV, seconds (default 600)")
    parser.add_argument("--huge-s", type=float, help="the memory WAV, seconds (default 3600)")
    parser.add_argument("--levels", type=_ints, help="concurrent uploads (default 1,2,4)")
    parser.add_argument(
        "--uploads-per-client", type=int, help="back-to-back uploads per client (default 2)"
    )
    parser.add_argument("--dup-rates", type=_floats, help="quiz duplicate rates (0,0.3,0.9)")
    parser.add_argument("--wrk-duration", type=float, help="seconds per wrk run (default 3)")
    parser.add_argument("--wrk-connections", type=_ints, help="wrk connections (default 16,64)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--wrk-repeats", type=int, help="repeats of each wrk run (default 3)")
    parser.add_argument("--only", help=f"comma-separated sections: {','.join(SECTIONS)}")
    parser.add_argument("--no-profile", action="store_true", help="skip py-spy profiles")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to this long for the machine to be quiet (< 0.5 core busy)",
    )
    parser.add_argument("--keep-wavs", action="store_true", help="keep the generated 60-min WAV")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results", help="results dir")
    parser.add_argument("--bitrate", type=int, default=128, help="MP3 kbps (service and lame)")
    parser.add_argument("--quality", type=int, default=3, help="LAME -q (service and lame)")
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    repeats = args.repeats or (1 if quick else 3)
    sections = [s.strip() for s in args.only.split(",")] if args.only else list(SECTIONS)
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    return Options(
        quick=quick,
        repeats=repeats,
        long_repeats=args.long_repeats or (1 if quick else 2),
        short_s=args.short_s or (10.0 if quick else 60.0),
        long_s=args.long_s or (60.0 if quick else 600.0),
        huge_s=args.huge_s or (120.0 if quick else 3600.0),
        levels=args.levels or ([1, 2] if quick else [1, 2, 4]),
        uploads_per_client=args.uploads_per_client or (1 if quick else 2),
        probe_interval_s=0.02,
        dup_rates=args.dup_rates if args.dup_rates is not None else [0.0, 0.3, 0.9],
        quiz_repeats=repeats,
        wrk_duration_s=args.wrk_duration or (2.0 if quick else 3.0),
        wrk_connections=args.wrk_connections or ([32] if quick else [16, 64]),
        wrk_threads=args.wrk_threads,
        wrk_repeats=args.wrk_repeats or (1 if quick else 3),
        sections=sections,
        profile=not args.no_profile,
        keep_wavs=bool(args.keep_wavs),
        wait_quiet_s=args.wait_quiet,
        out=args.out,
        bitrate_kbps=args.bitrate,
        quality=args.quality,
    )


def _label(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}min"
    return f"{seconds:g}s"


def log(message: str) -> None:
    print(message, flush=True)


def wait_quiet(max_wait_s: float, busy_cores: float = 0.5) -> float:
    """Wait (up to ``max_wait_s``) until the machine's busy CPU over 2 s is below
    ``busy_cores``; returns the last busy figure, in cores."""
    deadline = time.monotonic() + max_wait_s
    cores = os.cpu_count() or 1
    while True:
        busy = float(psutil.cpu_percent(interval=2.0)) / 100 * cores
        if busy < busy_cores or time.monotonic() >= deadline:
            return busy
        log(f"bench: the machine is busy ({busy:.2f} cores in use), waiting")


class Run:
    """One benchmark run: options, tools, the results being collected."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.scratch = options.out / "tmp"
        self.results: dict[str, Any] = {"errors": {}, "profiles": {}}
        self.lame: Path | None = None
        self.wrk: Path | None = None
        self.nginx: Path | None = None
        self.py_spy = py_spy_binary() if options.profile else None

    def section(self, name: str, body: Callable[[], None]) -> None:
        if name not in self.options.sections:
            return
        log(f"bench: section {name}")
        started = time.perf_counter()
        try:
            body()
        except Exception as exc:
            self.results["errors"][name] = f"{type(exc).__name__}: {exc}"
            log(f"bench: section {name} FAILED: {exc}")
            traceback.print_exc()
        log(f"bench: section {name} took {time.perf_counter() - started:.0f} s")

    def wav(self, seconds: float) -> AudioFile:
        path = ensure_wav(self.scratch / "wavs", WavSpec(seconds))
        return AudioFile(_label(seconds), path, seconds)


def _profile_root(run: Run) -> Path:
    return run.scratch / "profiles"


def run_audio_sections(run: Run, system: BenchSystem) -> None:
    options = run.options
    with AudioApi(system.gateway_url) as api:
        user: User | None = None

        def get_user() -> User:
            nonlocal user
            if user is None:
                user = api.create_user("bench-audio")
            return user

        def conversion() -> None:
            assert run.lame is not None
            short, long = run.wav(options.short_s), run.wav(options.long_s)
            api.upload_ok(get_user(), short.path)  # warm-up: imports, pools, page cache
            run.results["conversion"] = bench_conversion(
                system,
                api,
                get_user(),
                run.lame,
                [short, long],
                options.repeats,
                run.scratch,
                log,
            )
            run.results["roles"].update(short=short.label, long=long.label)

        def parallel() -> None:
            short = run.wav(options.short_s)
            run.results["parallel"] = bench_parallel(
                system,
                get_user(),
                short,
                options.levels,
                options.repeats,
                options.uploads_per_client,
                options.probe_interval_s,
                log,
                lame=run.lame,
                scratch=run.scratch,
            )

        def memory() -> None:
            huge = run.wav(options.huge_s)
            try:
                run.results["memory"] = bench_memory(
                    system,
                    api,
                    get_user(),
                    huge,
                    options.long_repeats,
                    MEMORY_LIMIT_MIB,
                    run.py_spy,
                    log,
                )
                run.results["roles"]["huge"] = huge.label
            finally:
                if not options.keep_wavs and options.huge_s > options.long_s:
                    remove_wav(huge.path)

        run.section("conversion", conversion)
        run.section("parallel", parallel)
        run.section("memory", memory)


def run_quiz_section(run: Run, system: BenchSystem) -> None:
    def quiz() -> None:
        run.results["quiz"] = bench_ingestion(
            system, run.options.dup_rates, run.options.quiz_repeats, log
        )

    run.section("quiz", quiz)


def run_http_section(run: Run, system: BenchSystem) -> None:
    options = run.options

    def http() -> None:
        assert run.wrk is not None
        assert run.nginx is not None
        static_root = run.scratch / "static_root"
        static_root.mkdir(parents=True, exist_ok=True)
        with AudioApi(system.gateway_url) as api:
            user = api.create_user("bench-download")
            upload = api.upload_ok(user, run.wav(DOWNLOAD_WAV_S).path)
            link = str(upload.body["url"])
            record_path = link[link.index("/record") :]
            mp3 = api.client.get(record_path)
            mp3.raise_for_status()
        (static_root / "record.mp3").write_bytes(mp3.content)
        shutil.rmtree(run.scratch / "static_nginx", ignore_errors=True)
        static = static_nginx(run.nginx, run.scratch / "static_nginx", static_root, free_port())
        # Meanwhile (it takes up to the cache's lifetime): does a deleted record stop being
        # served within the gateway's documented bound? One GET a second, negligible load.
        deletion: dict[str, Any] = {}
        deletion_thread = threading.Thread(
            target=lambda: deletion.update(
                check_deletion(
                    system.gateway_url,
                    run.wav(5.0),
                    gateway_cache_bound_s(system.workdir / "nginx" / "gateway.conf"),
                )
            ),
            name="deletion-check",
            daemon=True,
        )
        if not options.quick:
            deletion_thread.start()
        targets = http_targets(record_path, len(mp3.content), uuid.uuid4().hex[:8])
        with static:
            bases = {"gateway": system.gateway_url, "static": static.url}
            checks = {t.name: check_target(bases[t.base], t) for t in targets}
            for name, check in checks.items():
                if check["problems"]:
                    log(f"  check {name}: {'; '.join(check['problems'])}")
            results = bench_http(
                system.gateway_url,
                static.url,
                run.wrk,
                targets,
                connections=options.wrk_connections,
                repeats=options.wrk_repeats,
                duration_s=options.wrk_duration_s,
                threads=options.wrk_threads,
                scripts=run.scratch / "wrk",
                log=log,
                cpu_groups=system.cpu_groups(
                    {"static_nginx": lambda: process_tree(static.pid) if static.pid else []}
                ),
            )
            if deletion_thread.is_alive() or deletion_thread.ident is not None:
                deletion_thread.join(timeout=180)
                results["deletion"] = deletion or {"error": "the check did not finish"}
            results["mp3_bytes"] = len(mp3.content)
            results["record_path"] = record_path.split("?")[0] + "?id=…&user=…"
            results["checks"] = checks
            run.results["http"] = results
            # The profile of a missed download target needs the static server no more, but
            # the record: take it now, while everything is set up.
            full = min(results["record_over_static"]["full"].values(), default=1.0)
            if run.py_spy is not None and full < report.DOWNLOAD_RATIO_TARGET:
                target = next(t for t in targets if t.name == "record_full")
                out = _profile_root(run) / "audio_download.txt"
                before = system.db_activity()
                with SpyRecorder(run.py_spy, system.pid("audio-0"), out, max_duration_s=60) as rec:
                    time.sleep(0.3)
                    conns = options.wrk_connections[0]
                    wrk_result = run_wrk(
                        run.wrk,
                        system.gateway_url + target.path,
                        target.request,
                        script_path=run.scratch / "wrk" / "profile.lua",
                        duration_s=options.wrk_duration_s,
                        connections=conns,
                        threads=options.wrk_threads,
                    )
                    summary = rec.stop()
                after = system.db_activity()
                requests = max(1, wrk_result.requests)
                db = {
                    key: after["audio"][key] - before["audio"][key]
                    for key in ("sessions", "transactions")
                }
                run.results["profiles"]["download"] = {
                    "what": f"py-spy record of the audio service, wrk GET /record c={conns}",
                    "rps_while_profiled": round(wrk_result.rps, 1),
                    "requests": wrk_result.requests,
                    "db_sessions_opened": db["sessions"],
                    "db_transactions_per_request": round(db["transactions"] / requests, 2),
                    "raw_file": str(out),
                    "error": rec.error,
                    **summary.as_dict(),
                    "summary_lines": [
                        *summary.lines(),
                        f"PostgreSQL (pg_stat_database of the audio database): "
                        f"{db['transactions'] / requests:.2f} transactions per GET /record, "
                        f"{db['sessions']} new sessions opened during {wrk_result.requests} "
                        "requests",
                    ],
                }

    run.section("http", http)


def run_profiles(run: Run, system: BenchSystem) -> None:
    """py-spy profiles of the audio and quiz targets that were missed (report.evaluate_targets).

    Taken after every measurement, so the profiler's overhead is in no measured figure.
    (The download profile is taken in the http section, and the memory one is a dump at the
    moment the limit was crossed, in the memory section.)
    """
    py_spy = run.py_spy
    if py_spy is None:
        return
    missed = [t for t in report.evaluate_targets(run.results) if t["met"] is False]
    missed_ids = {t["id"] for t in missed}
    root = _profile_root(run)
    options = run.options

    def audio_profiles() -> None:
        with AudioApi(system.gateway_url) as api:
            user = api.create_user("bench-profile")
        if missed_ids & {"1a", "1b"}:
            # The file whose target was missed (the long one when both were).
            seconds = options.long_s if "1b" in missed_ids else options.short_s
            run.results["profiles"]["conversion"] = profile_uploads(
                system, user, run.wav(seconds), 1, py_spy, root / "audio_conversion.txt", log
            )
        if missed_ids & {"2a", "2b", "2c"}:
            short = run.wav(options.short_s)
            run.results["profiles"]["parallel"] = profile_uploads(
                system, user, short, 2, py_spy, root / "audio_parallel.txt", log
            )

    def quiz_profiles() -> None:
        rates = sorted(
            {float(t["rate"]) for t in missed if t["id"].startswith("4") and "rate" in t}
        )
        for rate in rates:
            run.results["profiles"][f"quiz_{rate:.0%}"] = profile_ingestion(
                system, rate, 3, py_spy, root / f"quiz_ingestion_{rate:.0%}.txt", log
            )

    if missed_ids & {"1a", "1b", "2a", "2b", "2c"}:
        _safe(run, "profile_audio", audio_profiles)
    if any(target_id.startswith("4") for target_id in missed_ids):
        _safe(run, "profile_quiz", quiz_profiles)


def _safe(run: Run, name: str, body: Callable[[], None]) -> None:
    log(f"bench: {name}")
    try:
        body()
    except Exception as exc:
        run.results["errors"][name] = f"{type(exc).__name__}: {exc}"
        log(f"bench: {name} FAILED: {exc}")
        traceback.print_exc()


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    run = Run(options)
    started = time.perf_counter()
    started_at = datetime.now(UTC)
    options.out.mkdir(parents=True, exist_ok=True)
    stack_dir = run.scratch / "stack"
    shutil.rmtree(stack_dir, ignore_errors=True)
    if options.wait_quiet_s > 0:
        busy = wait_quiet(options.wait_quiet_s)
        log(f"bench: starting with {busy:.2f} cores busy")
    needs_audio = bool({"conversion", "parallel", "memory", "http"} & set(options.sections))
    try:
        if {"conversion", "parallel"} & set(options.sections):
            run.lame = ensure_debian_package("lame", "lame")
        if "http" in options.sections:
            run.wrk = ensure_debian_package("wrk", "wrk")
        run.nginx = ensure_nginx()
    except ToolError as exc:
        log(f"bench: {exc}")
        return 2
    run.results.update(
        meta={
            "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
            "started_at": started_at.isoformat(timespec="seconds"),
            "quick": options.quick,
            "sections": options.sections,
        },
        settings={
            "repeats": options.repeats,
            "long_repeats": options.long_repeats,
            "files_s": {"short": options.short_s, "long": options.long_s, "huge": options.huge_s},
            "levels": options.levels,
            "uploads_per_client": options.uploads_per_client,
            "probe_interval_s": options.probe_interval_s,
            "dup_rates": options.dup_rates,
            "wrk": {
                "duration_s": options.wrk_duration_s,
                "connections": options.wrk_connections,
                "threads": options.wrk_threads,
                "repeats": options.wrk_repeats,
            },
            "mp3": {"bitrate_kbps": options.bitrate_kbps, "quality": options.quality},
            "memory_limit_mib": MEMORY_LIMIT_MIB,
        },
        environment={
            **environment(run.lame, run.wrk, run.nginx),
            "postgresql": postgres_version(),
        },
        roles={},
    )
    encoding = AudioEncoding(options.bitrate_kbps, options.quality)
    try:
        with bench_system(stack_dir, encoding=encoding, log=log) as system:
            run.results["audio_cold_rss_mib"] = round(system.cold_rss / MIB, 1)
            if needs_audio:
                run_audio_sections(run, system)
            run_quiz_section(run, system)
            run_http_section(run, system)
            run_profiles(run, system)
    except Exception as exc:
        run.results["errors"]["stack"] = f"{type(exc).__name__}: {exc}"
        log(f"bench: the stack failed: {exc} (logs in {stack_dir / 'logs'})")
        traceback.print_exc()
    # The nginx access logs of the wrk runs hold millions of lines (hundreds of MB): drop them;
    # the services' own logs stay in tmp/stack/logs until the next run.
    for access_log in (
        stack_dir / "nginx" / "access.log",
        run.scratch / "static_nginx" / "access.log",
    ):
        access_log.unlink(missing_ok=True)
    run.results["meta"].update(
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=round(time.perf_counter() - started, 1),
        load_average_at_end=[round(v, 2) for v in os.getloadavg()],
        client_max_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        python=platform.python_version(),
    )
    paths = report.write_all(run.results, options.out)
    print(paths["markdown"].read_text(encoding="utf-8"))
    log(f"bench: wrote {', '.join(str(p) for p in paths.values())}")
    json.dumps(run.results)  # fail loudly here, not in a reader, if anything is not JSON
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
