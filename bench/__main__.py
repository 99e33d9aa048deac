"""``python -m bench``: run the measures, write the results file, the Markdown and the chart.

    python -m bench                        # everything (about 8 minutes on 2 cores)
    python -m bench --quick                # about 2 minutes: short files, one repeat
    python -m bench --smoke                # seconds per measure: does the code still run?
    python -m bench --only audio.conversion,quiz --repeats 5
    python -m bench --list
    python -m bench --from-results var/bench/results.json   # the report again, from a file

The raw results go to var/bench/results.json. A full run of every measure writes the summary
to bench/results/ (latest.md, throughput.png: committed); any other run to var/bench/.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

from bench import registry, report, tools
from bench.model import SCALES, RunRecord
from bench.runner import Bench, run_all
from bench.stack import postgres_version, running_system

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "bench" / "results"
VAR = ROOT / "var" / "bench"


def log(message: str) -> None:
    sys.stdout.write(message + "\n")  # one write: a background measure logs too
    sys.stdout.flush()


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="short files, one repeat")
    mode.add_argument("--smoke", action="store_true", help="tiny sizes: does the code run?")
    parser.add_argument("--only", help="comma-separated measures or prefixes (see --list)")
    parser.add_argument("--repeats", type=int, help="repeats of every measurement (default 3)")
    parser.add_argument("--list", action="store_true", help="list the measures and exit")
    parser.add_argument("--no-profile", action="store_true", help="no py-spy profiles")
    parser.add_argument("--keep-wavs", action="store_true", help="keep the 60-minute WAV")
    parser.add_argument("--note", default="", help="a line for the report (e.g. machine busy)")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for the machine to be quiet (< 0.5 core busy) first",
    )
    parser.add_argument("--out", type=Path, help="where latest.md and throughput.png go")
    parser.add_argument("--from-results", type=Path, metavar="FILE", help="report from a file")
    return parser.parse_args(argv)


def wait_quiet(max_wait_s: float) -> None:
    deadline = time.monotonic() + max_wait_s
    while (busy := psutil.cpu_percent(interval=2.0) / 100 * (os.cpu_count() or 1)) >= 0.5:
        if time.monotonic() >= deadline:
            break
        log(f"bench: the machine is busy ({busy:.2f} cores in use), waiting")
    log(f"bench: starting with {busy:.2f} cores busy")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.list:
        for measure in registry.MEASURES:
            print(f"{measure.name:20} {measure.title} (tools: {', '.join(measure.tools) or '-'})")
        return 0
    if args.from_results:
        print(report.write(report.load(args.from_results), args.out or VAR).read_text())
        return 0
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    scale = SCALES[mode]
    if args.repeats:
        scale = dataclasses.replace(scale, repeats=args.repeats)
    try:
        measures = registry.select(args.only)
        found = tools.require({"nginx", *(tool for m in measures for tool in m.tools)})
    except (ValueError, tools.ToolError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    if not args.no_profile and (py_spy := tools.find("py-spy")):
        found["py-spy"] = py_spy
    if args.wait_quiet > 0:
        wait_quiet(args.wait_quiet)
    environment = {**tools.environment(found), "postgresql": postgres_version()}
    started, started_at = time.perf_counter(), datetime.now(UTC).isoformat(timespec="seconds")
    scratch = VAR / "tmp"
    shutil.rmtree(scratch / "stack", ignore_errors=True)
    with running_system(scratch / "stack") as system:
        bench = Bench(system, scale, found, scratch, log, keep_wavs=args.keep_wavs)
        outcomes = run_all(bench, measures, profile="py-spy" in found)
    command = shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
    duration = round(time.perf_counter() - started, 1)
    record = RunRecord(command, started_at, duration, mode, args.note, scale, environment, outcomes)
    report.save(record, VAR / "results.json")
    complete = mode == "full" and not args.only and not args.repeats
    out = args.out or (COMMITTED if complete else VAR)
    print(report.write(report.load(VAR / "results.json"), out).read_text())
    log(f"bench: wrote {VAR / 'results.json'} and {out}/latest.md, throughput.png")
    return 0 if all(o.error is None or o.error.startswith("skipped") for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
