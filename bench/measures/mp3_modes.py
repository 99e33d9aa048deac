"""audio.mp3_modes: VBR and loudness normalisation, each beside what it is compared with.

The service's conversion (``convert_wav_to_mp3`` as its worker thread runs it: decode,
encode, ID3 tag, Info frame, loudness and peaks) on the 60 s WAV, in the bench's own
process, since the running service has one fixed mode: VBR (`AUDIO_MP3_MODE=vbr`, -V 2,
-q 3) beside bare `lame -V 2 -q 3` on the same file, with the same ≤ 1.05x target as CBR; and
CBR with `AUDIO_NORMALIZE_LUFS=-16` (a first decode measures the loudness, the second
encodes with the gain) beside CBR without it: the cost of normalising, reported. Interleaved
ABBA, paired medians. CPU seconds are reported beside the wall times (the bench process's
CPU during the conversion, all its threads; lame's from its rusage): on a shared machine
they move far less than wall times.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from audio_service.conversion import ConversionResult, Mp3Mode, convert_wav_to_mp3
from bench.client import lame_encode
from bench.model import Measure, Row, Section, Table, Target, method
from bench.stack import MP3_BITRATE_KBPS, MP3_QUALITY
from bench.stats import median, paired
from bench.wavgen import label

if TYPE_CHECKING:
    from bench.runner import Bench

RATIO = Target("<=", 1.05, "x")
VBR_QUALITY = 2
NORMALIZE_LUFS = -16.0


@dataclass
class Repeat:
    lame_vbr_s: float
    vbr_s: float
    cbr_s: float
    normalized_s: float
    vbr_mean_kbps: float
    normalization_gain_db: float
    lame_vbr_cpu_s: float
    vbr_cpu_s: float


@dataclass
class Mp3Modes:
    seconds: float
    repeats: list[Repeat]


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _lame(lame: Path, src: Path, dst: Path) -> tuple[float, float]:
    """(wall s, CPU s) of bare lame -V at the service's VBR quality."""
    before = _children_cpu_s()
    wall = lame_encode(lame, src, dst, VBR_QUALITY)
    return wall, _children_cpu_s() - before


def _convert(
    src: Path, dst: Path, mode: Mp3Mode = "cbr", normalize_lufs: float | None = None
) -> tuple[float, ConversionResult, float]:
    dst.unlink(missing_ok=True)
    cpu = time.process_time()
    started = time.perf_counter()
    with dst.open("x+b") as out:
        result = convert_wav_to_mp3(
            src,
            out,
            bitrate_kbps=MP3_BITRATE_KBPS,
            quality=MP3_QUALITY,
            mode=mode,
            vbr_quality=VBR_QUALITY,
            normalize_lufs=normalize_lufs,
        )
    return time.perf_counter() - started, result, time.process_time() - cpu


def run(bench: Bench) -> Mp3Modes:
    lame, seconds = bench.tools["lame"], bench.scale.short_s
    wav, out = bench.wav(seconds), bench.scratch / "modes.mp3"
    _convert(wav, out)  # the page cache holds the WAV; imports are done
    repeats = []
    for index in range(bench.scale.repeats):
        first = index % 2 == 0  # ABBA: who goes first alternates
        lame_s, lame_cpu_s = _lame(lame, wav, out) if first else (0.0, 0.0)
        vbr_s, vbr, vbr_cpu_s = _convert(wav, out, mode="vbr")
        if not first:
            lame_s, lame_cpu_s = _lame(lame, wav, out)
        plain_s = _convert(wav, out)[0] if first else 0.0
        normalized_s, normalized, _ = _convert(wav, out, normalize_lufs=NORMALIZE_LUFS)
        plain_s = plain_s or _convert(wav, out)[0]
        assert normalized.normalization is not None
        gain = normalized.normalization.gain_db
        repeats.append(
            Repeat(
                lame_s,
                vbr_s,
                plain_s,
                normalized_s,
                vbr.mean_bitrate_kbps,
                gain,
                lame_cpu_s,
                vbr_cpu_s,
            )
        )
        bench.log(
            f"  {label(seconds)}: lame -V {VBR_QUALITY} {lame_s:.2f} s, VBR {vbr_s:.2f} s, "
            f"CBR {plain_s:.2f} s, normalised {normalized_s:.2f} s"
        )
    return Mp3Modes(seconds, repeats)


def summarise(data: Mp3Modes) -> Section:
    reps, name = data.repeats, label(data.seconds)
    vbr = paired([r.vbr_s for r in reps], [r.lame_vbr_s for r in reps])
    normalized = paired([r.normalized_s for r in reps], [r.cbr_s for r in reps])
    cpu = paired([r.vbr_cpu_s for r in reps], [r.lame_vbr_cpu_s for r in reps])
    vbr_s, lame_s = median([r.vbr_s for r in reps]), median([r.lame_vbr_s for r in reps])
    norm_s, cbr_s = median([r.normalized_s for r in reps]), median([r.cbr_s for r in reps])
    lame_cpu, vbr_cpu = (
        median([r.lame_vbr_cpu_s for r in reps]),
        median([r.vbr_cpu_s for r in reps]),
    )
    rows = [
        Row(
            "vbr",
            f"{name} WAV: VBR -V {VBR_QUALITY} conversion ÷ bare lame -V {VBR_QUALITY}",
            vbr,
            f"{vbr:.3f}x (medians {vbr_s:.2f} s vs {lame_s:.2f} s)",
            RATIO,
        ),
        Row(
            "vbr_cpu",
            f"{name} WAV: VBR conversion CPU ÷ bare lame -V {VBR_QUALITY} CPU",
            cpu,
            f"{cpu:.3f}x",
        ),
        Row(
            "normalisation",
            f"{name} WAV: CBR with AUDIO_NORMALIZE_LUFS={NORMALIZE_LUFS:g} ÷ without",
            normalized,
            f"{normalized:.3f}x (medians {norm_s:.2f} s vs {cbr_s:.2f} s)",
        ),
    ]
    table = [
        [
            name,
            f"{lame_s:.2f}",
            f"{vbr_s:.2f}",
            f"{median([r.vbr_mean_kbps for r in reps]):.1f}",
            f"{cbr_s:.2f}",
            f"{norm_s:.2f}",
            f"{median([r.normalization_gain_db for r in reps]):+.2f}",
            f"{lame_cpu:.2f} / {vbr_cpu:.2f}",
        ]
    ]
    header = ["WAV", "lame -V2 s", "VBR s", "VBR mean kbps", "CBR s", "normalised s", "gain dB"]
    header += ["CPU s: lame -V2 / VBR"]
    return Section(rows, method(__doc__), [Table(header, table)])


MEASURE = Measure(
    "audio.mp3_modes",
    "VBR and loudness normalisation",
    Mp3Modes,
    run,
    summarise,
    tools=("lame",),
)
