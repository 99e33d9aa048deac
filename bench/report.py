"""Targets, the Markdown table, the JSON file and the chart of a benchmark run."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported: no display needed
import matplotlib.pyplot as plt

CONVERSION_RATIO_TARGET = 1.05
SCALING_TARGET = 1.8
LATENCY_P99_TARGET_MS = 50.0
MEMORY_TARGET_MIB = 64.0
# "Independent of length": the 60-minute peak may exceed the 10-minute one by this much.
MEMORY_GROWTH_TOLERANCE_MIB = 16.0
QUIZ_ROUNDS_TARGET = 3
QUIZ_WALL_FACTOR_TARGET = 1.5
DOWNLOAD_RATIO_TARGET = 0.5

Target = dict[str, Any]


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def _fmt(value: Any, digits: int = 2, unit: str = "") -> str:
    number = _num(value)
    if number is None:
        return "-"
    return f"{number:,.{digits}f}{unit}"


def _target(
    target_id: str, measure: str, value: str, target: str, met: bool | None, **extra: Any
) -> Target:
    return {
        "id": target_id,
        "measure": measure,
        "value": value,
        "target": target,
        "met": met,
        **extra,
    }


def _missing(
    target_id: str, measure: str, target: str, section: str, results: dict[str, Any]
) -> Target:
    error = results.get("errors", {}).get(section)
    note = f"not measured: {error}" if error else "not measured"
    return _target(target_id, measure, note, target, None)


def evaluate_targets(results: dict[str, Any]) -> list[Target]:
    targets: list[Target] = []
    roles = results.get("roles", {})

    # 1. conversion vs bare lame
    conversion = results.get("conversion")
    for target_id, role in (("1a", "short"), ("1b", "long")):
        label = roles.get(role, role)
        measure = f"{label} WAV: end-to-end POST /record ÷ bare lame"
        goal = f"≤ {CONVERSION_RATIO_TARGET}x"
        if not conversion or label not in conversion:
            targets.append(_missing(target_id, measure, goal, "conversion", results))
            continue
        med = conversion[label]["median"]
        value = _num(med["ratio_paired"])
        targets.append(
            _target(
                target_id,
                measure,
                f"{_fmt(value, 3)}x ({_fmt(med['e2e_s'])} s vs {_fmt(med['lame_s'])} s)",
                goal,
                None if value is None else value <= CONVERSION_RATIO_TARGET,
            )
        )
        targets.append(
            _target(
                f"{target_id}'",
                f"{label} WAV: realtime factor (end-to-end / bare lame)",
                f"{_fmt(med['e2e_realtime_x'], 1)}x / {_fmt(med['lame_realtime_x'], 1)}x",
                "reported",
                None,
            )
        )

    # 2. parallel conversion
    parallel = results.get("parallel")
    scaling_goal = f"≥ {SCALING_TARGET}x"
    latency_goal = f"< {LATENCY_P99_TARGET_MS:g} ms"
    if not parallel:
        targets.append(
            _missing("2a", "throughput at 2 concurrent ÷ 1", scaling_goal, "parallel", results)
        )
        targets.append(
            _missing(
                "2b",
                "GET /services/audio/health p99 during conversions",
                latency_goal,
                "parallel",
                results,
            )
        )
        targets.append(
            _missing(
                "2c", "POST /quiz {0} p99 during conversions", latency_goal, "parallel", results
            )
        )
    else:
        levels = parallel["levels"]
        two = levels.get("2")
        value = _num(two["scaling_paired"]) if two else None
        targets.append(
            _target(
                "2a",
                "throughput at 2 concurrent uploads ÷ 1 (one instance, 2 cores)",
                f"{_fmt(value)}x ({_fmt(two['throughput_x'] if two else None, 1)} vs "
                f"{_fmt(levels[min(levels, key=int)]['throughput_x'], 1)} audio-s/s)",
                scaling_goal,
                None if value is None else value >= SCALING_TARGET,
            )
        )
        if two and "lame_scaling_paired" in two:
            targets.append(
                _target(
                    "2a'",
                    "the ceiling side by side: 2 bare lame processes ÷ 1, and the service's "
                    "throughput ÷ bare lame's at 2",
                    f"{_fmt(two['lame_scaling_paired'])}x; service at x2 = "
                    f"{_fmt(two['service_over_lame'])}x of bare lame x2",
                    "reported",
                    None,
                )
            )
        for target_id, probe, name in (
            ("2b", "audio_health", "GET /services/audio/health"),
            ("2c", "quiz_zero", "POST /quiz {0}"),
        ):
            worst_level, worst = max(
                (
                    (lvl, _num(data["probes_pooled"][probe]["p99_ms"]) or 0.0)
                    for lvl, data in levels.items()
                ),
                key=lambda item: item[1],
            )
            detail = ", ".join(
                f"x{lvl}: {_fmt(data['probes_pooled'][probe]['p99_ms'], 1)}"
                for lvl, data in levels.items()
            )
            targets.append(
                _target(
                    target_id,
                    f"{name} p99 while conversions run (worst level)",
                    f"{_fmt(worst, 1)} ms at x{worst_level} ({detail} ms)",
                    latency_goal,
                    worst < LATENCY_P99_TARGET_MS,
                )
            )

    # 3. memory
    memory_goal = f"≤ {MEMORY_TARGET_MIB:g} MiB above idle"
    peaks: dict[str, float] = {}
    long_label = roles.get("long", "long")
    if conversion and long_label in conversion:
        peaks[long_label] = float(conversion[long_label]["median"]["peak_above_idle_mib"])
    memory = results.get("memory")
    huge_label = roles.get("huge", "huge")
    if memory:
        peaks[huge_label] = float(memory["median"]["peak_above_idle_mib"])
    for target_id, label, section in (
        ("3a", long_label, "conversion"),
        ("3b", huge_label, "memory"),
    ):
        measure = f"peak RSS of the audio service during a {label} upload"
        if label not in peaks:
            targets.append(_missing(target_id, measure, memory_goal, section, results))
            continue
        targets.append(
            _target(
                target_id,
                measure,
                f"{peaks[label]:+.1f} MiB",
                memory_goal,
                peaks[label] <= MEMORY_TARGET_MIB,
            )
        )
    if long_label in peaks and huge_label in peaks:
        growth = peaks[huge_label] - peaks[long_label]
        targets.append(
            _target(
                "3c",
                f"independent of length: {huge_label} peak - {long_label} peak",
                f"{growth:+.1f} MiB",
                f"≤ {MEMORY_GROWTH_TOLERANCE_MIB:g} MiB",
                growth <= MEMORY_GROWTH_TOLERANCE_MIB,
            )
        )

    # 4. quiz ingestion
    quiz = results.get("quiz")
    if not quiz:
        targets.append(_missing("4a", "quiz ingestion", "see issue", "quiz", results))
    else:
        latency = quiz["latency_ms"]
        for rate_key, data in quiz["rates"].items():
            rate = float(rate_key)
            pct = f"{rate:.0%}"
            failed = data["ok"] < data["requests"]
            status_note = f", HTTP {data['statuses']}" if failed else ""
            if rate == 0.0:
                calls = _num(data["upstream_calls_max"])
                targets.append(
                    _target(
                        "4a",
                        f"upstream calls, 100 questions at {pct} duplicates",
                        f"{_fmt(data['upstream_calls'], 0)} (max {_fmt(calls, 0)}){status_note}",
                        "1",
                        calls == 1 and not failed,
                        rate=rate,
                    )
                )
            if abs(rate - 0.3) < 1e-9:
                rounds = _num(data["rounds_max"])
                targets.append(
                    _target(
                        "4b",
                        f"fetch rounds, 100 questions at {pct} duplicates",
                        f"{_fmt(data['rounds'], 0)} (max {_fmt(rounds, 0)}){status_note}",
                        f"≤ {QUIZ_ROUNDS_TARGET}",
                        None if rounds is None else rounds <= QUIZ_ROUNDS_TARGET and not failed,
                        rate=rate,
                    )
                )
            factor = _num(data["wall_over_rounds_latency"])
            measured = _num(data.get("wall_over_rounds_upstream"))
            targets.append(
                _target(
                    f"4c-{pct}",
                    f"wall ÷ (rounds x {latency:g} ms), {pct} duplicates",
                    f"{_fmt(factor)}x ({_fmt(data['wall_ms'], 0)} ms, {_fmt(data['rounds'], 0)} "
                    f"rounds, {_fmt(data['upstream_calls'], 0)} calls; {_fmt(measured)}x of "
                    f"rounds x the measured upstream round trip){status_note}",
                    f"≤ {QUIZ_WALL_FACTOR_TARGET}x",
                    None if factor is None else factor <= QUIZ_WALL_FACTOR_TARGET and not failed,
                    rate=rate,
                )
            )

    # 5. HTTP throughput
    http = results.get("http")
    ratio_goal = f"≥ {DOWNLOAD_RATIO_TARGET}x"
    if not http:
        targets.append(_missing("5a", "GET /record ÷ static nginx", ratio_goal, "http", results))
    else:
        for target_id, kind, what in (
            ("5a", "full", "GET /record (1 MiB)"),
            ("5b", "range", "GET /record with Range (64 KiB)"),
        ):
            by_conns = http["record_over_static"][kind]
            worst = min((_num(v) or 0.0) for v in by_conns.values())
            detail = ", ".join(f"c={c}: {_fmt(v)}x" for c, v in by_conns.items())
            targets.append(
                _target(
                    target_id,
                    f"{what} req/s ÷ static nginx req/s",
                    detail,
                    ratio_goal,
                    worst >= DOWNLOAD_RATIO_TARGET,
                )
            )
        origin = http["summary"].get("record_full_origin")
        static = http["summary"].get("static_full")
        if origin and static:
            detail = ", ".join(
                f"c={c}: {_fmt(origin[c]['rps'], 0)} req/s = "
                f"{_fmt(ratio_of(origin[c]['rps'], static[c]['rps']))}x"
                for c in origin
            )
            targets.append(
                _target(
                    "5a'",
                    "GET /record bypassing the gateway cache (Cache-Control: no-cache) ÷ static",
                    detail,
                    "reported",
                    None,
                )
            )
        deletion = http.get("deletion")
        if deletion and "gone" in deletion:
            bound = deletion.get("documented_bound_s")
            after = deletion.get("first_404_after_delete_s")
            targets.append(
                _target(
                    "5c",
                    "a deleted record stops being served through the gateway",
                    f"404 {_fmt(after, 1)} s after the DELETE "
                    f"({deletion.get('delete_status')}); last copy served "
                    f"{_fmt(deletion.get('last_served_since_cache_fill_s'), 1)} s after the "
                    "download that filled the cache (cache: "
                    f"{'/'.join(deletion.get('cache_status_before_delete', []))})"
                    if deletion["gone"]
                    else f"still served {_fmt(deletion['polls'][-1][0], 0)} s after the DELETE",
                    f"within the documented bound ({_fmt(bound, 0)} s)"
                    if bound is not None
                    else "at once (no cache)",
                    bool(deletion.get("within_bound")),
                )
            )
    return targets


def ratio_of(numerator: Any, denominator: Any) -> float | None:
    top, bottom = _num(numerator), _num(denominator)
    return top / bottom if top is not None and bottom else None


def noise(results: dict[str, Any]) -> dict[str, float | None]:
    """Cores used by processes outside the system under test during the measurements (the
    CpuMeter's "other"): 0 on a quiet machine; on a 2-core machine, 1.0 means half of it
    was busy with someone else's work while we measured."""

    def median_other(rows: list[dict[str, Any]]) -> float | None:
        values = sorted(float(r["cpu_cores"]["other"]) for r in rows if "cpu_cores" in r)
        return round(values[len(values) // 2], 2) if values else None

    parallel = results.get("parallel", {}).get("repeats", {})
    http = results.get("http", {}).get("repeats", {})
    return {
        "parallel_other_cores": median_other([r for runs in parallel.values() for r in runs]),
        "http_other_cores": median_other(
            [r for by_conns in http.values() for runs in by_conns.values() for r in runs]
        ),
    }


# --- Markdown -----------------------------------------------------------------------------------
def _status(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "-"}[met]


def _http_cores(name: str, cpu: dict[str, float]) -> str:
    if not cpu:
        return "-"
    service = cpu.get("quiz_service" if name.startswith("quiz") else "audio_service")
    nginx = cpu.get("static_nginx" if name.startswith("static") else "gateway_nginx")
    return (
        f"{_fmt(0.0 if name.startswith('static') else service)} / {_fmt(nginx)} / "
        f"{_fmt(cpu.get('postgres'))} / {_fmt(cpu.get('wrk'))} / {_fmt(cpu.get('other'))}"
    )


def _p50_p99(summary: dict[str, Any]) -> str:
    return f"{_fmt(summary['p50_ms'], 1)} / {_fmt(summary['p99_ms'], 1)}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def render_markdown(results: dict[str, Any]) -> str:
    meta = results.get("meta", {})
    env = results.get("environment", {})
    settings = results.get("settings", {})
    lines = [
        "# Benchmark results",
        "",
        f"`{meta.get('command', 'python -m bench')}` — {meta.get('started_at', '?')}, "
        f"{meta.get('duration_s', '?')} s, {env.get('cpu_count', '?')} CPUs "
        f"({env.get('cpu_model', '?')}), load average {env.get('load_average_at_start', '?')} "
        f"at start, {meta.get('load_average_at_end', '?')} at end"
        + (" — **quick smoke run, not representative**" if meta.get("quick") else ""),
        "",
        f"Every figure is the median of {settings.get('repeats', '?')} repeats (the "
        f"{results.get('roles', {}).get('huge', 'long')} memory upload: "
        f"{settings.get('long_repeats', '?')}); ratios are paired, measured side by side "
        "in the same run.",
        "",
    ]
    other = noise(results)
    if any(value is not None for value in other.values()):
        lines += [
            "Machine noise (cores used by processes outside the system under test, median): "
            f"{_fmt(other['parallel_other_cores'])} during the parallel conversions, "
            f"{_fmt(other['http_other_cores'])} during the wrk runs.",
            "",
        ]
    lines += ["## Targets", ""]
    lines += _table(
        ["#", "Measure", "Result", "Target", "Status"],
        [
            [t["id"], t["measure"], t["value"], t["target"], _status(t["met"])]
            for t in evaluate_targets(results)
        ],
    )

    conversion = results.get("conversion")
    if conversion:
        lines += ["## 1. Conversion: end-to-end POST /record vs bare `lame`", ""]
        mp3 = settings.get("mp3", {})
        lines += [
            f"`lame --cbr -b {mp3.get('bitrate_kbps')} -q {mp3.get('quality')}` on the same "
            "file vs the whole request through the gateway (upload, validate, convert, store "
            "in PostgreSQL, answer), interleaved. The service columns come from its own "
            "conversion log line; *outside* is the rest of the request (receiving and parsing "
            "the multipart upload, copying it to the staging file, answering).",
            "",
        ]
        rows = []
        for label, data in conversion.items():
            med = data["median"]
            rows.append(
                [
                    label,
                    _fmt(med["lame_s"]),
                    _fmt(med["e2e_s"]),
                    _fmt(med["ratio_paired"], 3),
                    _fmt(med["lame_realtime_x"], 1),
                    _fmt(med["e2e_realtime_x"], 1),
                    f"{_fmt(med.get('convert_s'))} / {_fmt(med.get('store_s'), 3)} / "
                    f"{_fmt(med.get('outside_s'))}",
                    _fmt(med.get("convert_over_lame"), 3),
                ]
            )
        lines += _table(
            [
                "WAV",
                "lame s",
                "end-to-end s",
                "ratio",
                "lame xrealtime",
                "e2e xrealtime",
                "service: convert / store / outside s",
                "convert ÷ lame",
            ],
            rows,
        )

    parallel = results.get("parallel")
    if parallel:
        lines += [
            "## 2. Parallel conversion (one audio instance)",
            "",
            f"{parallel['file']} WAV, {parallel['uploads_per_client']} back-to-back uploads per "
            f"client; probes every {parallel['probe_interval_s'] * 1000:g} ms through the "
            "gateway (latency pooled over the repeats). *bare lame*: the same encodes by as "
            "many lame processes at once (same probes running), right before or after "
            "(alternating): the ceiling of what the machine delivered at that moment. The "
            "bench client (uploads, probes) runs on the same 2 cores. Idle probes: audio "
            "health p99 "
            f"{_fmt(parallel['probes_idle']['audio_health']['p99_ms'], 1)} ms, quiz p99 "
            f"{_fmt(parallel['probes_idle']['quiz_zero']['p99_ms'], 1)} ms.",
            "",
        ]
        rows = []
        for level, data in parallel["levels"].items():
            probes = data["probes_pooled"]
            cpu = data["cpu_cores_median"]
            rows.append(
                [
                    level,
                    _fmt(data["throughput_x"], 1),
                    _fmt(data["scaling_paired"]),
                    f"{_fmt(data.get('lame_throughput_x'), 1)} / "
                    f"{_fmt(data.get('lame_scaling_paired'))}",
                    _p50_p99(probes["audio_health"]),
                    _p50_p99(probes["quiz_zero"]),
                    f"{_fmt(data.get('conversions_in_flight'))} / "
                    f"{_fmt(data.get('convert_s_median'))}",
                    f"{_fmt(cpu.get('audio_service'))} / {_fmt(cpu.get('quiz_service'))} / "
                    f"{_fmt(cpu.get('gateway_nginx'))} / {_fmt(cpu.get('postgres'))} / "
                    f"{_fmt(cpu.get('bench_client'))} / {_fmt(cpu.get('other'))}",
                ]
            )
        lines += _table(
            [
                "uploads",
                "audio-s per s",
                "x vs 1",
                "bare lame: audio-s per s / x vs 1",
                "health p50/p99 ms",
                "quiz p50/p99 ms",
                "conversions in flight / convert s",
                "cores: audio / quiz / nginx / postgres / bench client / other",
            ],
            rows,
        )

    memory = results.get("memory")
    mem_rows = []
    if conversion:
        for label, data in conversion.items():
            med = data["median"]
            mem_rows.append(
                [
                    label,
                    _fmt(med["idle_rss_mib"], 1),
                    _fmt(med["peak_above_idle_mib"], 1),
                    _fmt(med.get("peak_above_cold_mib"), 1),
                    _fmt(med["e2e_s"]),
                    _fmt(med["e2e_realtime_x"], 1),
                ]
            )
    if memory:
        med = memory["median"]
        mem_rows.append(
            [
                memory["file"],
                _fmt(med["idle_rss_mib"], 1),
                _fmt(med["peak_above_idle_mib"], 1),
                _fmt(med.get("peak_above_cold_mib"), 1),
                _fmt(med["e2e_s"]),
                _fmt(med["realtime_x"], 1),
            ]
        )
    if mem_rows:
        cold = results.get("audio_cold_rss_mib")
        lines += [
            "## 3. Memory of the audio service during an upload",
            "",
            "RSS of the service process and its children, sampled every 20 ms (psutil); the "
            "idle figure is taken just before each upload (the target's baseline); *above cold "
            "start* is against the RSS the service had right after it started, before its "
            f"first request ({_fmt(cold, 1)} MiB), so it includes one-time growth (lazy "
            "imports, thread stacks, allocator arenas). The upload streams from disk; staging "
            "files are on disk, not counted in RSS.",
            "",
        ]
        lines += _table(
            [
                "WAV",
                "idle RSS MiB",
                "peak above idle MiB",
                "peak above cold start MiB",
                "end-to-end s",
                "xrealtime",
            ],
            mem_rows,
        )
        for item in (memory or {}).get("dump_at_limit", []):
            lines += ["py-spy dump when the RSS crossed the limit:", ""]
            lines += [f"- {row}" for row in item["active_threads"]] + [""]

    quiz = results.get("quiz")
    if quiz:
        lines += [
            f"## 4. Quiz ingestion: questions_num={quiz['questions_num']}, upstream latency "
            f"{quiz['latency_ms']:g} ms",
            "",
            "Upstream calls from the emulator's own counter; rounds, stored and duplicates from "
            "the service's ingestion log line; wall time as the client saw it through the "
            "gateway. Emulator: quirks off (an item with an empty question would cost a round "
            "that has nothing to do with duplicates), a pool of 10^8 ids (so 0% really means "
            "no repeat), primed with one request so there are served ids to repeat. One "
            f"direct call of count={quiz['questions_num']} to the emulator takes "
            f"{_fmt(quiz.get('upstream_round_trip', {}).get('median_ms'), 1)} ms (the "
            f"{quiz['latency_ms']:g} ms latency plus the emulator's own work); "
            + "".join(
                f"{size} concurrent calls take {_fmt(ms, 1)} ms; "
                for size, ms in quiz.get("upstream_round_trip", {}).get("concurrent_ms", {}).items()
            )
            + "the target is judged against the configured latency, the measured single-call "
            "round trip is shown beside.",
            "",
        ]
        rows = []
        for rate, data in quiz["rates"].items():
            rows.append(
                [
                    f"{float(rate):.0%}",
                    _fmt(data["upstream_calls"], 0),
                    _fmt(data["rounds"], 0),
                    _fmt(data["wall_ms"], 0),
                    _fmt(data["wall_over_rounds_latency"]),
                    _fmt(data.get("wall_over_rounds_upstream")),
                    _fmt(data.get("stored_median"), 0),
                    f"{data['ok']}/{data['requests']}",
                    ", ".join(map(str, data["statuses"])),
                ]
            )
        lines += _table(
            [
                "duplicates",
                "upstream calls",
                "rounds",
                "wall ms",
                "wall ÷ (rounds x latency)",
                "wall ÷ (rounds x measured round trip)",
                "stored",
                "ok",
                "HTTP",
            ],
            rows,
        )

    http = results.get("http")
    if http:
        lines += [
            f"## 5. HTTP throughput (wrk, {http['threads']} threads, {http['duration_s']:g} s "
            "per run, loopback)",
            "",
            f"`static_*` is a second nginx (1 worker) serving the same {http['mp3_bytes']:,}-byte "
            "MP3 from disk: the ceiling for `record_*` (GET /record through the gateway).",
            "",
        ]
        rows = []
        for name, by_conns in http["summary"].items():
            for conns, data in by_conns.items():
                rows.append(
                    [
                        name,
                        conns,
                        _fmt(data["rps"], 0),
                        _fmt(data["p50_ms"]),
                        _fmt(data["p99_ms"]),
                        str(data["errors"]),
                        _http_cores(name, data.get("cpu_cores_median", {})),
                    ]
                )
        lines += _table(
            [
                "endpoint",
                "connections",
                "req/s",
                "p50 ms",
                "p99 ms",
                "errors (all repeats)",
                "cores: service / nginx / postgres / wrk / other",
            ],
            rows,
        )
        ratios = http["record_over_static"]
        lines += [
            "GET /record ÷ static, paired per repeat: full "
            + ", ".join(f"c={c}: {_fmt(v)}x" for c, v in ratios["full"].items())
            + "; Range "
            + ", ".join(f"c={c}: {_fmt(v)}x" for c, v in ratios["range"].items())
            + ".",
            "",
        ]

    profiles = results.get("profiles", {})
    if profiles:
        lines += ["## Profiles of missed targets (py-spy)", ""]
        for name, data in profiles.items():
            lines.append(f"- **{name}** — {data.get('what', '')}:")
            lines += [f"  - {row}" for row in data.get("summary_lines", [])]
            if data.get("error"):
                lines.append(f"  - py-spy error: {data['error']}")
        lines.append("")
    notes = results.get("notes", [])
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    errors = results.get("errors", {})
    if errors:
        lines += ["## Errors", ""] + [f"- {name}: {err}" for name, err in errors.items()] + [""]
    packages = env.get("packages", {})
    lines += [
        "## Environment",
        "",
        f"Python {env.get('python')}, {env.get('platform')}; PostgreSQL {env.get('postgresql')}; "
        f"{env.get('nginx')}; {env.get('lame')}; {env.get('wrk')}; "
        + ", ".join(f"{k} {v}" for k, v in packages.items()),
        "",
    ]
    return "\n".join(lines)


# --- chart ----------------------------------------------------------------------------------------
def write_chart(results: dict[str, Any], path: Path) -> None:
    parallel = results.get("parallel")
    http = results.get("http")
    fig, axes = plt.subplots(1, 2, figsize=(14, 5))
    ax = axes[0]
    if parallel:
        levels = [int(level) for level in parallel["levels"]]
        values = [parallel["levels"][str(level)]["throughput_x"] for level in levels]
        cores = results.get("environment", {}).get("cpu_count") or 2
        ideal = [values[0] * min(level, cores) for level in levels]
        ax.plot(levels, values, "o-", label="service, end-to-end (median)")
        lame_values = [parallel["levels"][str(level)].get("lame_throughput_x") for level in levels]
        if all(value is not None for value in lame_values):
            ax.plot(levels, lame_values, "s:", color="tab:orange", label="bare lame, same run")
        ax.plot(levels, ideal, "--", color="grey", label=f"service x1, linear up to {cores} cores")
        for level, value in zip(levels, values, strict=True):
            ax.annotate(
                f"{value:.0f}",
                (level, value),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
            )
        ax.set_xticks(levels)
        ax.legend(loc="lower right", fontsize="small")
    else:
        ax.text(0.5, 0.5, "not measured", ha="center", transform=ax.transAxes)
    ax.set_title(
        f"Conversion throughput, one audio instance ({parallel['file'] if parallel else ''} WAV)"
    )
    ax.set_xlabel("concurrent uploads")
    ax.set_ylabel("audio seconds converted per wall second")
    ax.set_ylim(bottom=0)

    ax = axes[1]
    if http:
        conns = [int(c) for c in http["connections"]]
        for name, by_conns in http["summary"].items():
            ax.plot(conns, [by_conns[str(c)]["rps"] for c in conns], "o-", label=name)
        ax.set_xticks(conns)
        ax.set_yscale("log")
        ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    else:
        ax.text(0.5, 0.5, "not measured", ha="center", transform=ax.transAxes)
    ax.set_title("HTTP throughput through nginx (wrk)")
    ax.set_xlabel("connections")
    ax.set_ylabel("requests per second")
    meta = results.get("meta", {})
    fig.suptitle(
        f"python -m bench, {meta.get('started_at', '')}"
        + (" (quick run)" if meta.get("quick") else "")
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(results: dict[str, Any], out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    results["targets"] = evaluate_targets(results)
    results["noise"] = noise(results)
    paths = {
        "json": out / "latest.json",
        "markdown": out / "latest.md",
        "chart": out / "throughput.png",
    }
    paths["json"].write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    paths["markdown"].write_text(render_markdown(results), encoding="utf-8")
    write_chart(results, paths["chart"])
    return paths
