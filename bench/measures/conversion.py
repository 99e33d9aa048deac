"""audio.conversion: ``POST /record`` end to end vs bare ``lame`` on the same WAV.

For the short (60 s) and the long (10 min) file, ``repeats`` pairs of (bare lame, upload)
interleaved ABBA. The service's own conversion log line splits an upload's time into convert
/ store / *outside* (receiving and parsing the multipart upload, staging it, answering).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.client import lame_encode
from bench.model import Measure, Profile, Row, Section, Table, Target
from bench.stack import MP3_BITRATE_KBPS, MP3_QUALITY
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


@dataclass
class Conversion:
    files: list[File]


def run(bench: Bench) -> Conversion:
    user, lame, system = bench.user(), bench.tools["lame"], bench.system
    lame_out = bench.scratch / "lame.mp3"
    files = []
    with bench.api() as api:
        api.upload_ok(user, bench.wav(bench.scale.short_s))  # the page cache holds the WAV
        for seconds in (bench.scale.short_s, bench.scale.long_s):
            wav, pairs = bench.wav(seconds), []
            for index in range(bench.scale.repeats):
                lame_first = index % 2 == 0
                lame_s = lame_encode(lame, wav, lame_out) if lame_first else 0.0
                mark = system.log_mark("audio-0")
                upload = api.upload_ok(user, wav)
                line = system.log_since(mark, "convert_s")[-1]
                if not lame_first:
                    lame_s = lame_encode(lame, wav, lame_out)
                pairs.append(Pair(lame_s, upload.seconds, line["convert_s"], line["store_s"]))
                bench.log(
                    f"  {seconds:g} s WAV: lame {lame_s:.2f} s, upload {upload.seconds:.2f} s"
                )
            files.append(File(seconds, pairs))
    lame_out.unlink(missing_ok=True)
    return Conversion(files)


def summarise(data: Conversion) -> Section:
    rows, table = [], []
    for file in data.files:
        lame = median([p.lame_s for p in file.pairs])
        e2e = median([p.e2e_s for p in file.pairs])
        convert = median([p.convert_s for p in file.pairs])
        store = median([p.store_s for p in file.pairs])
        outside = median([p.e2e_s - p.convert_s - p.store_s for p in file.pairs])
        ratio = paired([p.e2e_s for p in file.pairs], [p.lame_s for p in file.pairs])
        name = label(file.seconds)
        rows.append(
            Row(
                name,
                f"{name} WAV: end-to-end POST /record ÷ bare lame",
                ratio,
                f"{ratio:.3f}x ({e2e:.2f} s vs {lame:.2f} s)",
                RATIO,
            )
        )
        table.append(
            [
                name,
                f"{lame:.2f}",
                f"{e2e:.2f}",
                f"{ratio:.3f}",
                f"{file.seconds / lame:.1f} / {file.seconds / e2e:.1f}",
                f"{convert:.2f} / {store:.3f} / {outside:.2f}",
                f"{paired([p.convert_s for p in file.pairs], [p.lame_s for p in file.pairs]):.3f}",
            ]
        )
    header = ["WAV", "lame s", "end-to-end s", "ratio (paired)", "x realtime: lame / e2e"]
    header += ["service: convert / store / outside s", "convert ÷ lame"]
    return Section(
        rows,
        f"`lame --cbr -b {MP3_BITRATE_KBPS} -q {MP3_QUALITY}` on the same file vs the whole "
        "request through the gateway (upload, validate, convert, store in PostgreSQL, answer), "
        "interleaved ABBA. The service columns come from its own conversion log line; "
        "*outside* is the rest of the request (receiving and parsing the multipart upload, "
        "staging it, answering).",
        [Table(header, table)],
    )


def _profile(bench: Bench, data: Conversion) -> None:
    with bench.api() as api:
        api.upload_ok(bench.user(), bench.wav(bench.scale.short_s))


MEASURE = Measure(
    "audio.conversion",
    "POST /record vs bare lame",
    Conversion,
    run,
    summarise,
    tools=("lame",),
    profile=Profile("audio-0", _profile),
)
