"""audio.conversion: ``POST /record`` end to end vs bare ``lame`` on the same WAV.

``lame --cbr -b 128 -q 3`` (the service's settings) on the same file vs the whole request
through the gateway (upload, validate, convert, store in PostgreSQL, answer), for a 60 s and
a 10 min WAV, interleaved ABBA. The service columns come from its own conversion log line;
*outside* is the rest of the request (receiving and parsing the multipart upload, staging
it, answering).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.client import lame_encode
from bench.model import Measure, Profile, Row, Section, Table, Target, method
from bench.stats import median, paired
from bench.wavgen import label

if TYPE_CHECKING:
    from bench.runner import Bench

RATIO = Target("<=", 1.05, "x")


@dataclass
class Pair:
    lame_s: float
    e2e_s: float
    convert_s: float
    store_s: float


@dataclass
class File:
    seconds: float
    pairs: list[Pair]

    def median(self, attr: str) -> float:
        return median([getattr(p, attr) for p in self.pairs])

    def over_lame(self, attr: str) -> float:
        return paired([getattr(p, attr) for p in self.pairs], [p.lame_s for p in self.pairs])


@dataclass
class Conversion:
    files: list[File]


def run(bench: Bench) -> Conversion:
    user, lame, system = bench.user(), bench.tools["lame"], bench.system
    out = bench.scratch / "lame.mp3"
    files = []
    with bench.api() as api:
        api.upload(user, bench.wav(bench.scale.short_s))  # the page cache holds the WAV
        for seconds in (bench.scale.short_s, bench.scale.long_s):
            wav, pairs = bench.wav(seconds), []
            for index in range(bench.scale.repeats):
                before = lame_encode(lame, wav, out) if index % 2 == 0 else 0.0
                mark = system.log_mark("audio-0")
                upload = api.upload(user, wav)
                line = system.log_since(mark, "convert_s")[-1]
                lame_s = before or lame_encode(lame, wav, out)  # odd repeats: lame after
                pairs.append(Pair(lame_s, upload.seconds, line["convert_s"], line["store_s"]))
                bench.log(f"  {label(seconds)}: lame {lame_s:.2f} s, upload {upload.seconds:.2f} s")
            files.append(File(seconds, pairs))
    return Conversion(files)


def summarise(data: Conversion) -> Section:
    rows, table = [], []
    for file in data.files:
        name, ratio = label(file.seconds), file.over_lame("e2e_s")
        lame, e2e = file.median("lame_s"), file.median("e2e_s")
        what = f"{name} WAV: end-to-end POST /record ÷ bare lame"
        rows.append(
            Row(name, what, ratio, f"{ratio:.3f}x (medians {e2e:.2f} s vs {lame:.2f} s)", RATIO)
        )
        outside = median([p.e2e_s - p.convert_s - p.store_s for p in file.pairs])
        split = f"{file.median('convert_s'):.2f} / {file.median('store_s'):.3f} / {outside:.2f}"
        realtime = f"{file.seconds / lame:.1f} / {file.seconds / e2e:.1f}"
        convert = f"{file.over_lame('convert_s'):.3f}"
        table.append([name, f"{lame:.2f}", f"{e2e:.2f}", f"{ratio:.3f}", realtime, split, convert])
    header = ["WAV", "lame s", "end-to-end s", "ratio (paired)", "x realtime: lame / e2e"]
    header += ["service: convert / store / outside s", "convert ÷ lame"]
    return Section(rows, method(__doc__), [Table(header, table)])


def _profile(bench: Bench, data: Conversion) -> None:
    with bench.api() as api:
        api.upload(bench.user(), bench.wav(bench.scale.short_s))


MEASURE = Measure(
    "audio.conversion",
    "POST /record vs bare lame",
    Conversion,
    run,
    summarise,
    tools=("lame",),
    profile=Profile("audio-0", _profile),
)
