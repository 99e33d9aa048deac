"""audio.memory: the audio service's peak RSS during a 10- and a 60-minute upload.

RSS of the service process and its children, sampled every 20 ms (psutil), minus the idle
RSS taken just before each upload; *above cold start* is against the RSS right after the
service started, so it includes one-time growth (lazy imports, thread stacks, allocator
arenas). The upload streams from disk; staging files are on disk, not counted in RSS.
"Independent of length": the 60-minute peak may exceed the 10-minute one by a little only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.model import Measure, Row, Section, Table, Target, method
from bench.sampling import MIB, RssSampler, idle_rss
from bench.stats import median
from bench.wavgen import label

if TYPE_CHECKING:
    from bench.runner import Bench

ABOVE_IDLE = Target("<=", 64, " MiB")
GROWTH = Target("<=", 16, " MiB")


@dataclass
class Upload:
    idle_mib: float
    peak_mib: float
    e2e_s: float


@dataclass
class File:
    seconds: float
    uploads: list[Upload]


@dataclass
class Memory:
    cold_mib: float  # right after the service started, before its first request
    files: list[File]


def run(bench: Bench) -> Memory:
    user, pid = bench.user(), bench.system.pid("audio-0")
    files = []
    with bench.api() as api:
        for seconds in (bench.scale.long_s, bench.scale.huge_s):
            wav, uploads = bench.wav(seconds), []
            for _ in range(bench.scale.long_repeats):
                idle = idle_rss(pid)
                with RssSampler(pid) as rss:
                    upload = api.upload(user, wav)
                uploads.append(Upload(idle / MIB, rss.peak_bytes / MIB, upload.seconds))
                bench.log(f"  {label(seconds)}: +{(rss.peak_bytes - idle) / MIB:.1f} MiB")
            files.append(File(seconds, uploads))
    bench.drop_wav(bench.scale.huge_s)
    return Memory(bench.system.cold_rss / MIB, files)


def summarise(data: Memory) -> Section:
    rows, table = [], []
    for file in data.files:
        name, ups = label(file.seconds), file.uploads
        above, e2e = median([u.peak_mib - u.idle_mib for u in ups]), median([u.e2e_s for u in ups])
        what = f"peak RSS during a {name} upload, above idle"
        rows.append(Row(name, what, above, f"{above:+.1f} MiB", ABOVE_IDLE))
        cold = median([u.peak_mib for u in ups]) - data.cold_mib
        idle = median([u.idle_mib for u in ups])
        table.append([name, f"{idle:.1f}", f"{above:+.1f}", f"{cold:+.1f}", f"{e2e:.2f}"])
        table[-1].append(f"{file.seconds / e2e:.1f}")
    if len(rows) == 2:
        growth = (rows[1].value or 0.0) - (rows[0].value or 0.0)
        what = f"independent of length: {rows[1].key} peak - {rows[0].key} peak"
        rows.append(Row("growth", what, growth, f"{growth:+.1f} MiB", GROWTH))
    header = ["WAV", "idle RSS MiB", "peak above idle MiB", "peak above cold start MiB"]
    text = f"{method(__doc__)} Cold start: {data.cold_mib:.1f} MiB."
    return Section(rows, text, [Table([*header, "e2e s", "x realtime"], table)])


MEASURE = Measure("audio.memory", "peak RSS during long uploads", Memory, run, summarise)
