"""Audio service benchmarks: conversion vs bare ``lame``, parallel conversion, memory.

Every upload goes through the gateway (``POST /record``, multipart, streamed from disk by
httpx in 64 KiB pieces, so the client never holds the file) and is timed from the first byte
sent to the last byte of the answer: upload + validate + convert + store + answer.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.cpu import CpuMeter
from bench.memory import MIB, RssSampler, idle_rss
from bench.profiling import ProfileSummary, SpyRecorder, dump, summarise_dump
from bench.stats import latency_summary_ms, median, ratio
from bench.system import AudioEncoding, BenchSystem

# The multipart field names of POST /record (audio_service/api.py).
FIELD_USER = "user_id"
FIELD_TOKEN = "token"  # noqa: S105 - a field name, not a secret
FIELD_FILE = "file"

Log = Callable[[str], None]


@dataclass(frozen=True)
class AudioFile:
    label: str
    path: Path
    duration_s: float

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


@dataclass(frozen=True)
class User:
    user_id: Any
    token: str


@dataclass
class Upload:
    status: int
    seconds: float
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status == 201

    def describe(self) -> str:
        detail = self.body.get("detail") or self.body.get("title") or ""
        return f"HTTP {self.status} {detail}".strip()


class UploadFailed(RuntimeError):
    pass


class AudioApi:
    """A synchronous client of the audio service through the gateway (one per thread)."""

    def __init__(self, base_url: str, timeout_s: float = 900.0) -> None:
        self.client = httpx.Client(
            base_url=base_url, timeout=httpx.Timeout(timeout_s, connect=10.0)
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> AudioApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create_user(self, prefix: str = "bench") -> User:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        response = self.client.post("/user", json={"name": name})
        if response.status_code != 201:
            raise UploadFailed(f"POST /user answered {response.status_code}: {response.text}")
        body = response.json()
        return User(user_id=body["user_id"], token=body["token"])

    def upload(self, user: User, path: Path, filename: str | None = None) -> Upload:
        with path.open("rb") as file:
            started = time.perf_counter()
            response = self.client.post(
                "/record",
                data={FIELD_USER: str(user.user_id), FIELD_TOKEN: user.token},
                files={FIELD_FILE: (filename or path.name, file, "audio/wav")},
            )
            body_bytes = response.read()
            seconds = time.perf_counter() - started
        try:
            body = response.json() if body_bytes else {}
        except ValueError:
            body = {"raw": body_bytes[:300].decode(errors="replace")}
        return Upload(response.status_code, seconds, body if isinstance(body, dict) else {})

    def upload_ok(self, user: User, path: Path) -> Upload:
        result = self.upload(user, path)
        if not result.ok:
            raise UploadFailed(f"POST /record of {path.name}: {result.describe()}")
        return result


def lame_encode(lame: Path, src: Path, dst: Path, bitrate_kbps: int, quality: int) -> float:
    """Seconds bare ``lame`` takes to encode ``src`` (CBR, the service's bitrate and quality)."""
    argv = [str(lame), "--quiet", "--cbr", "-b", str(bitrate_kbps), "-q", str(quality)]
    started = time.perf_counter()
    subprocess.run([*argv, str(src), str(dst)], check=True, timeout=3600)
    return time.perf_counter() - started


def _conversion_log_fields(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The service's structured conversion log line, if it wrote one (names may vary)."""
    for entry in reversed(entries):
        keys = " ".join(entry)
        if "realtime" in keys or "conversion" in keys or "convert" in str(entry.get("msg", "")):
            return {k: v for k, v in entry.items() if k not in ("ts", "service", "logger")}
    return None


def _breakdown(e2e_s: float, fields: dict[str, Any] | None) -> dict[str, float]:
    """Split an upload's time with the service's own log line: waiting for a conversion
    slot, converting, storing, and the rest ("outside": receiving and parsing the upload,
    copying it, answering; everything not inside the service's timers)."""
    if not fields:
        return {}
    parts = {key: fields.get(key) for key in ("convert_s", "store_s", "queue_wait_s")}
    numbers = {key: float(value) for key, value in parts.items() if isinstance(value, int | float)}
    if "convert_s" not in numbers:
        return {}
    numbers["outside_s"] = round(e2e_s - sum(numbers.values()), 4)
    return numbers


# --- 1. conversion vs the ceiling -----------------------------------------------------------
def bench_conversion(
    system: BenchSystem,
    api: AudioApi,
    user: User,
    lame: Path,
    files: list[AudioFile],
    repeats: int,
    scratch: Path,
    log: Log,
) -> dict[str, Any]:
    """Per file: ``repeats`` pairs of (bare lame, end-to-end upload), interleaved ABBA."""
    enc = system.encoding
    pid = system.pid("audio-0")
    results: dict[str, Any] = {}
    for audio in files:
        runs: list[dict[str, Any]] = []
        lame_out = scratch / f"lame_{audio.label}.mp3"
        for index in range(repeats):
            run: dict[str, Any] = {}
            order = ("lame", "e2e") if index % 2 == 0 else ("e2e", "lame")
            for kind in order:
                if kind == "lame":
                    run["lame_s"] = lame_encode(
                        lame, audio.path, lame_out, enc.bitrate_kbps, enc.quality
                    )
                    run["lame_mp3_bytes"] = lame_out.stat().st_size
                    continue
                idle = idle_rss(pid)
                offset = system.log_size("audio-0")
                with RssSampler(pid) as sampler:
                    upload = api.upload_ok(user, audio.path)
                samples = sampler.result
                run.update(
                    e2e_s=upload.seconds,
                    idle_rss_mib=round(idle / MIB, 1),
                    peak_rss_mib=round(samples.peak_bytes / MIB, 1),
                    peak_above_idle_mib=round((samples.peak_bytes - idle) / MIB, 1),
                    peak_above_cold_mib=round((samples.peak_bytes - system.cold_rss) / MIB, 1),
                    rss_samples=len(samples.samples),
                    response={k: v for k, v in upload.body.items() if k != "url"},
                    service_log=_conversion_log_fields(system.log_entries_since("audio-0", offset)),
                )
            run["ratio"] = round(run["e2e_s"] / run["lame_s"], 4)
            run.update(_breakdown(run["e2e_s"], run["service_log"]))
            if "convert_s" in run:
                run["convert_over_lame"] = round(run["convert_s"] / run["lame_s"], 4)
            runs.append(run)
            log(
                f"  conversion {audio.label} #{index + 1}: lame {run['lame_s']:.2f} s, "
                f"end-to-end {run['e2e_s']:.2f} s (x{run['ratio']:.3f}), "
                f"RSS +{run['peak_above_idle_mib']:.1f} MiB"
            )
        lame_s = median([r["lame_s"] for r in runs])
        e2e_s = median([r["e2e_s"] for r in runs])
        results[audio.label] = {
            "duration_s": audio.duration_s,
            "wav_bytes": audio.size_bytes,
            "repeats": runs,
            "median": {
                "lame_s": round(lame_s, 3),
                "e2e_s": round(e2e_s, 3),
                "ratio_paired": round(median([r["ratio"] for r in runs]), 4),
                "ratio_of_medians": round(ratio(e2e_s, lame_s), 4),
                "lame_realtime_x": round(audio.duration_s / lame_s, 1),
                "e2e_realtime_x": round(audio.duration_s / e2e_s, 1),
                "peak_above_idle_mib": median([r["peak_above_idle_mib"] for r in runs]),
                "peak_above_cold_mib": median([r["peak_above_cold_mib"] for r in runs]),
                "idle_rss_mib": median([r["idle_rss_mib"] for r in runs]),
                **{
                    key: round(median([r[key] for r in runs]), 4)
                    for key in (
                        "convert_s",
                        "store_s",
                        "queue_wait_s",
                        "outside_s",
                        "convert_over_lame",
                    )
                    if all(key in r for r in runs)
                },
            },
        }
    lame_out_files = [scratch / f"lame_{audio.label}.mp3" for audio in files]
    for path in lame_out_files:
        path.unlink(missing_ok=True)
    return results


# --- 2. parallel conversion -------------------------------------------------------------------
@dataclass
class Probe:
    """Polls one endpoint every ``interval_s`` in its own thread, recording latencies."""

    name: str
    base_url: str
    method: str
    path: str
    json_body: dict[str, Any] | None = None
    interval_s: float = 0.02
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # (t, latency, status)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10.0) as client:
            next_at = time.perf_counter()
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    status = client.request(self.method, self.path, json=self.json_body).status_code
                except httpx.HTTPError:
                    status = 0
                self.samples.append((started, time.perf_counter() - started, status))
                next_at += self.interval_s
                self._stop.wait(max(0.0, next_at - time.perf_counter()))

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"probe-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def window(self, start: float, end: float) -> tuple[list[float], int]:
        """Latencies of the probes sent within [start, end], and how many failed."""
        inside = [(lat, status) for t, lat, status in self.samples if start <= t <= end]
        return [lat for lat, _ in inside], sum(1 for _, status in inside if status != 200)


def _probes(system: BenchSystem, interval_s: float) -> list[Probe]:
    return [
        Probe(
            "audio_health", system.gateway_url, "GET", "/services/audio/health", None, interval_s
        ),
        Probe("quiz_zero", system.gateway_url, "POST", "/quiz", {"questions_num": 0}, interval_s),
    ]


def _run_concurrent_uploads(
    system: BenchSystem, user: User, audio: AudioFile, clients: int, uploads_per_client: int
) -> tuple[float, list[Upload]]:
    def client_work() -> list[Upload]:
        with AudioApi(system.gateway_url) as api:
            return [api.upload(user, audio.path) for _ in range(uploads_per_client)]

    barrier_start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(client_work) for _ in range(clients)]
        uploads = [upload for future in futures for upload in future.result()]
    return time.perf_counter() - barrier_start, uploads


def _run_concurrent_lame(
    lame: Path, enc: AudioEncoding, audio: AudioFile, clients: int, per_client: int, scratch: Path
) -> float:
    """Wall time of ``clients`` bare lame processes at once, each encoding ``audio``
    ``per_client`` times in a row: the same work as the uploads, without the service."""

    def client_work(index: int) -> None:
        out = scratch / f"parallel_lame_{index}.mp3"
        for _ in range(per_client):
            lame_encode(lame, audio.path, out, enc.bitrate_kbps, enc.quality)
        out.unlink(missing_ok=True)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for future in [pool.submit(client_work, index) for index in range(clients)]:
            future.result()
    return time.perf_counter() - started


def bench_parallel(
    system: BenchSystem,
    user: User,
    audio: AudioFile,
    levels: list[int],
    repeats: int,
    uploads_per_client: int,
    probe_interval_s: float,
    log: Log,
    *,
    lame: Path | None = None,
    scratch: Path | None = None,
) -> dict[str, Any]:
    """Throughput at 1, 2, 4... concurrent uploads (levels interleaved within each repeat)
    while two probes poll the audio health endpoint and ``POST /quiz`` with 0.

    With ``lame``, the ceiling runs side by side: as many bare lame processes at once doing
    the same encodes (with the same probes running), right before or after each upload run
    (alternating), so the machine's own scaling at that moment is known (on a shared 2-core
    machine it is often far from 2x).
    """
    probes = _probes(system, probe_interval_s)
    # Idle baseline of the probes: the same polling with no upload in flight.
    for probe in probes:
        probe.start()
    idle_start = time.perf_counter()
    time.sleep(2.0)
    idle_end = time.perf_counter()
    for probe in probes:
        probe.stop()
    idle = {
        probe.name: latency_summary_ms(probe.window(idle_start, idle_end)[0]) for probe in probes
    }

    by_level: dict[int, list[dict[str, Any]]] = {level: [] for level in levels}
    pooled: dict[int, dict[str, list[float]]] = {
        level: {probe.name: [] for probe in probes} for level in levels
    }
    lame_by_level: dict[int, list[dict[str, Any]]] = {level: [] for level in levels}

    def lame_run(level: int) -> None:
        if lame is None or scratch is None:
            return
        # The same probes run meanwhile: their load is part of the scenario, not of the service.
        lame_probes = _probes(system, probe_interval_s)
        for probe in lame_probes:
            probe.start()
        meter = CpuMeter(system.cpu_groups(), reaped_children="lame")
        meter.start()
        wall = _run_concurrent_lame(
            lame, system.encoding, audio, level, uploads_per_client, scratch
        )
        cpu = meter.stop()
        for probe in lame_probes:
            probe.stop()
        lame_by_level[level].append(
            {
                "wall_s": round(wall, 3),
                "throughput_x": round(audio.duration_s * level * uploads_per_client / wall, 2),
                "cpu_cores": cpu.as_dict(),
            }
        )

    for index in range(repeats):
        for level in levels:
            if index % 2 == 0:
                lame_run(level)
            probes = _probes(system, probe_interval_s)
            for probe in probes:
                probe.start()
            meter = CpuMeter(system.cpu_groups())
            offset = system.log_size("audio-0")
            meter.start()
            started = time.perf_counter()
            wall, uploads = _run_concurrent_uploads(system, user, audio, level, uploads_per_client)
            ended = time.perf_counter()
            cpu = meter.stop()
            for probe in probes:
                probe.stop()
            failed = [u.describe() for u in uploads if not u.ok]
            audio_s = audio.duration_s * sum(1 for u in uploads if u.ok)
            time.sleep(0.05)  # the last conversion line is written as its answer goes out
            lines = [
                entry
                for entry in system.log_entries_since("audio-0", offset)
                if isinstance(entry.get("convert_s"), int | float)
            ]
            convert_s = [float(entry["convert_s"]) for entry in lines]
            run: dict[str, Any] = {
                "wall_s": round(wall, 3),
                "uploads": len(uploads),
                "failed": failed,
                "throughput_x": round(audio_s / wall, 2),
                "upload_s": [round(u.seconds, 3) for u in uploads],
                "service_convert_s": convert_s,
                "service_queue_wait_s": [entry.get("queue_wait_s") for entry in lines],
                # Conversions in flight on average: sum of conversion times / wall time.
                "conversions_in_flight": round(sum(convert_s) / wall, 2),
                "cpu_cores": cpu.as_dict(),
                "probes": {},
            }
            for probe in probes:
                latencies, errors = probe.window(started, ended)
                pooled[level][probe.name] += latencies
                run["probes"][probe.name] = {**latency_summary_ms(latencies), "errors": errors}
            by_level[level].append(run)
            if index % 2 == 1:
                lame_run(level)
            lame_note = (
                f" (bare lame x{level}: {lame_by_level[level][-1]['throughput_x']:.1f})"
                if lame_by_level[level]
                else ""
            )
            log(
                f"  parallel x{level} #{index + 1}: {run['throughput_x']:.1f} audio-s/s"
                f"{lame_note} in "
                f"{wall:.2f} s; health p99 {run['probes']['audio_health']['p99_ms']:.1f} ms, "
                f"quiz p99 {run['probes']['quiz_zero']['p99_ms']:.1f} ms; service "
                f"{cpu.cores['audio_service']:.2f} cores, machine {cpu.cores['machine']:.2f}"
                + (f"; FAILED {failed}" if failed else "")
            )
    base = median([r["throughput_x"] for r in by_level[levels[0]]])
    summary: dict[str, Any] = {}
    for level in levels:
        runs = by_level[level]
        throughput = median([r["throughput_x"] for r in runs])
        paired = [
            ratio(r["throughput_x"], b["throughput_x"])
            for r, b in zip(runs, by_level[levels[0]], strict=True)
        ]
        summary[str(level)] = {
            "throughput_x": round(throughput, 2),
            "scaling_vs_1": round(ratio(throughput, base), 3),
            "scaling_paired": round(median(paired), 3),
            "probes_pooled": {
                name: latency_summary_ms(values) for name, values in pooled[level].items()
            },
            "conversions_in_flight": round(median([r["conversions_in_flight"] for r in runs]), 2),
            "convert_s_median": round(median([c for r in runs for c in r["service_convert_s"]]), 3),
            **_lame_summary(lame_by_level, level, levels[0], runs),
            "cpu_cores_median": {
                key: round(median([r["cpu_cores"][key] for r in runs]), 2)
                for key in runs[0]["cpu_cores"]
            },
        }
    return {
        "file": audio.label,
        "duration_s": audio.duration_s,
        "uploads_per_client": uploads_per_client,
        "probe_interval_s": probe_interval_s,
        "probes_idle": idle,
        "levels": summary,
        "repeats": {str(level): runs for level, runs in by_level.items()},
        "lame_repeats": {str(level): runs for level, runs in lame_by_level.items()},
    }


def _lame_summary(
    lame_by_level: dict[int, list[dict[str, Any]]],
    level: int,
    base_level: int,
    service_runs: list[dict[str, Any]],
) -> dict[str, float]:
    runs, base = lame_by_level[level], lame_by_level[base_level]
    if not runs or len(runs) != len(base):
        return {}
    paired = [ratio(r["throughput_x"], b["throughput_x"]) for r, b in zip(runs, base, strict=True)]
    versus = [
        ratio(s["throughput_x"], r["throughput_x"]) for s, r in zip(service_runs, runs, strict=True)
    ]
    return {
        "lame_throughput_x": round(median([r["throughput_x"] for r in runs]), 2),
        "lame_scaling_paired": round(median(paired), 3),
        "service_over_lame": round(median(versus), 3),
    }


# --- 3. memory --------------------------------------------------------------------------------
def bench_memory(
    system: BenchSystem,
    api: AudioApi,
    user: User,
    audio: AudioFile,
    repeats: int,
    limit_mib: float,
    py_spy: Path | None,
    log: Log,
) -> dict[str, Any]:
    """Peak RSS (service + children, every 20 ms) during an upload, minus the idle RSS.

    When the RSS first goes ``limit_mib`` above idle, a ``py-spy dump`` records what every
    thread of the service was doing at that moment (the profile of a missed target).
    """
    pid = system.pid("audio-0")
    runs: list[dict[str, Any]] = []
    dumps: list[str] = []
    for index in range(repeats):
        idle = idle_rss(pid)

        def on_threshold(rss: int, *, _pid: int = pid) -> None:
            if py_spy is not None:
                dumps.append(f"RSS {rss / MIB:.0f} MiB:\n" + dump(py_spy, _pid))

        sampler = RssSampler(
            pid,
            threshold_bytes=idle + int(limit_mib * MIB) if py_spy and not dumps else None,
            on_threshold=on_threshold,
        )
        with sampler:
            upload = api.upload_ok(user, audio.path)
        result = sampler.result
        run = {
            "e2e_s": round(upload.seconds, 3),
            "realtime_x": round(audio.duration_s / upload.seconds, 1),
            "idle_rss_mib": round(idle / MIB, 1),
            "peak_rss_mib": round(result.peak_bytes / MIB, 1),
            "peak_above_idle_mib": round((result.peak_bytes - idle) / MIB, 1),
            "peak_above_cold_mib": round((result.peak_bytes - system.cold_rss) / MIB, 1),
            "peak_at_s": round(result.peak_at_s, 2),
            "rss_samples": len(result.samples),
            "timeline_mib": result.timeline(),
        }
        runs.append(run)
        log(
            f"  memory {audio.label} #{index + 1}: {upload.seconds:.1f} s "
            f"({run['realtime_x']}x realtime), idle {run['idle_rss_mib']} MiB, peak "
            f"{run['peak_rss_mib']} MiB (+{run['peak_above_idle_mib']} MiB at {run['peak_at_s']} s)"
        )
    return {
        "file": audio.label,
        "duration_s": audio.duration_s,
        "wav_bytes": audio.size_bytes,
        "repeats": runs,
        "cold_rss_mib": round(system.cold_rss / MIB, 1),
        "median": {
            "peak_above_idle_mib": median([r["peak_above_idle_mib"] for r in runs]),
            "peak_above_cold_mib": median([r["peak_above_cold_mib"] for r in runs]),
            "idle_rss_mib": median([r["idle_rss_mib"] for r in runs]),
            "e2e_s": median([r["e2e_s"] for r in runs]),
            "realtime_x": median([r["realtime_x"] for r in runs]),
        },
        "dump_at_limit": [{"raw": text, "active_threads": summarise_dump(text)} for text in dumps],
    }


# --- profiles of missed targets -----------------------------------------------------------------
def profile_uploads(
    system: BenchSystem,
    user: User,
    audio: AudioFile,
    clients: int,
    py_spy: Path,
    out: Path,
    log: Log,
) -> dict[str, Any]:
    """``py-spy record`` of the audio service while ``clients`` uploads of ``audio`` run."""
    recorder = SpyRecorder(py_spy, system.pid("audio-0"), out, max_duration_s=600)
    with recorder:
        time.sleep(0.3)  # let py-spy attach before the first byte arrives
        wall, uploads = _run_concurrent_uploads(system, user, audio, clients, 1)
        summary: ProfileSummary = recorder.stop()
    log(
        f"  profiled {clients} x {audio.label} upload(s) in {wall:.2f} s: {summary.samples} samples"
    )
    return {
        "what": f"py-spy record, {clients} concurrent upload(s) of the {audio.label} WAV",
        "wall_s": round(wall, 3),
        "uploads_ok": sum(1 for u in uploads if u.ok),
        "raw_file": str(out),
        "error": recorder.error,
        **summary.as_dict(),
        "summary_lines": summary.lines(),
    }


# --- 5'. a deleted record stops being served ---------------------------------------------------
_CACHE_VALID = re.compile(r"proxy_cache_valid\s+[^;]*?\b(\d+)([smh]?)\s*;")


def gateway_cache_bound_s(gateway_conf: Path) -> float | None:
    """How long the gateway may serve a cached download (its ``proxy_cache_valid``), or None
    when it does not cache at all."""
    try:
        text = gateway_conf.read_text(encoding="utf-8")
    except OSError:
        return None
    bounds = [
        int(value) * {"": 1, "s": 1, "m": 60, "h": 3600}[unit]
        for value, unit in _CACHE_VALID.findall(text)
    ]
    return float(max(bounds)) if bounds else None


def check_deletion(
    gateway_url: str, audio: AudioFile, bound_s: float | None, poll_s: float = 1.0
) -> dict[str, Any]:
    """Upload, download twice (the first fills the gateway's cache, the second should hit it),
    DELETE, then GET every ``poll_s`` until 404, for at most the documented bound + 15 s.

    The cache's lifetime runs from the download that filled it, so the bound is checked on the
    last copy served after the DELETE, counted from that first download (nginx keeps time with
    one-second resolution: one second of slack)."""
    with AudioApi(gateway_url) as api:
        user = api.create_user("bench-delete")
        upload = api.upload_ok(user, audio.path)
        link = str(upload.body["url"])
        path = link[link.index("/record") :]
        cached_at = time.perf_counter()
        cache = [api.client.get(path).headers.get("x-cache-status", "-") for _ in range(2)]
        deleted = api.client.delete(path, headers={"Authorization": f"Bearer {user.token}"})
        deleted_at = time.perf_counter()
        deadline = deleted_at + (bound_s or 0.0) + 15.0
        polls: list[tuple[float, int, str]] = []
        while True:
            sent = time.perf_counter()
            response = api.client.get(path)
            polls.append(
                (
                    round(sent - deleted_at, 2),
                    response.status_code,
                    response.headers.get("x-cache-status", "-"),
                )
            )
            if response.status_code == 404 or time.perf_counter() >= deadline:
                break
            time.sleep(poll_s)
    gone = polls[-1][1] == 404
    served = [t for t, status, _ in polls if status != 404]
    last_served_since_fill = round(max(served) + deleted_at - cached_at, 2) if served else 0.0
    return {
        "delete_status": deleted.status_code,
        "cache_status_before_delete": cache,
        "documented_bound_s": bound_s,
        "cache_filled_before_delete_s": round(deleted_at - cached_at, 2),
        "gone": gone,
        "first_404_after_delete_s": polls[-1][0] if gone else None,
        "still_served_after_delete": len(served),
        "last_served_since_cache_fill_s": last_served_since_fill,
        "within_bound": gone and last_served_since_fill <= (bound_s or 0.0) + 1.0,
        "polls": polls if len(polls) <= 10 else [*polls[:3], *polls[-3:]],
    }
