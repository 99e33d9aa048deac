"""Independent judges of the MP3s we write: Debian's ffmpeg/ffprobe, and small test helpers.

ffmpeg is a *test* dependency only (the service never needs it): it is the decoder the issue
names as the reference (it honours the Info/LAME frame like browsers do), and its
``ebur128`` filter is the second loudness meter. Missing: the tests skip, or fail under CI.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mutagen.mp3
import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from audio_service.conversion import ConversionResult, convert_wav_to_mp3
from audio_service.lametag import id3v2_size, read_info_tag
from testkit.postgres import unavailable

FloatArray = npt.NDArray[np.float64]


def require_ffmpeg() -> None:
    """Skip (fail under CI) unless ffmpeg and ffprobe are installed (``apt-get install ffmpeg``)."""
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        unavailable(
            "Debian's ffmpeg (the reference decoder) is not installed: apt-get install ffmpeg"
        )


@pytest.fixture
def reference_decoder() -> None:
    require_ffmpeg()


def ffmpeg_decode(
    mp3: Path, *, seek_s: float | None = None, duration_s: float | None = None, usetoc: bool = False
) -> tuple[FloatArray, int]:
    """``(samples (frames, channels), rate)`` as ffmpeg decodes ``mp3`` (a file: ffmpeg trims
    the encoder's delay and padding only when it can seek)."""
    wav = mp3.with_suffix(f".ffmpeg{seek_s or 0:g}.wav")
    argv = ["ffmpeg", "-v", "error", "-nostdin", "-y"]
    if usetoc:
        argv += ["-usetoc", "1"]
    if seek_s is not None:
        argv += ["-ss", f"{seek_s:.6f}"]
    argv += ["-i", str(mp3)]
    if duration_s is not None:
        argv += ["-t", f"{duration_s:.6f}"]
    subprocess.run([*argv, "-c:a", "pcm_f32le", str(wav)], check=True, timeout=120)
    try:
        samples, rate = sf.read(wav, dtype="float64", always_2d=True)
    finally:
        wav.unlink(missing_ok=True)
    return samples, int(rate)


def ffprobe(mp3: Path) -> dict[str, Any]:
    """ffprobe's format and first stream, as JSON."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(mp3)],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    data: dict[str, Any] = json.loads(out)
    return {"format": data["format"], "stream": data["streams"][0]}


@dataclass(frozen=True)
class Ebur128:
    integrated_lufs: float
    range_lu: float
    true_peak_dbtp: float


_SUMMARY = re.compile(
    r"I:\s+(?P<i>-?[\d.]+|-inf) LUFS.*?LRA:\s+(?P<lra>-?[\d.]+) LU.*?Peak:\s+(?P<tp>-?[\d.]+|-inf)",
    re.S,
)


def ffmpeg_ebur128(audio: Path) -> Ebur128:
    """ffmpeg's own EBU R128 meter (``ebur128=peak=true``) over a whole file."""
    err = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-nostats",
            "-i",
            str(audio),
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stderr
    match = _SUMMARY.search(err[err.rindex("Summary:") :])
    assert match, err[-2000:]
    return Ebur128(float(match["i"]), float(match["lra"]), float(match["tp"]))


def best_lag(reference: FloatArray, decoded: FloatArray, max_lag: int) -> int:
    """The shift of ``decoded`` against ``reference`` (1-D) with the highest correlation."""
    n = min(len(reference), len(decoded)) - 2 * max_lag
    assert n > 0, "signals too short for that lag range"
    window = decoded[max_lag : max_lag + n]
    scores = [
        float(np.dot(reference[max_lag + lag : max_lag + lag + n], window))
        for lag in range(-max_lag, max_lag + 1)
    ]
    return -(int(np.argmax(scores)) - max_lag)


def audio_frames_of(mp3: bytes) -> bytes:
    """The MPEG frames after the ID3v2 tag and the Info frame."""
    return mp3[id3v2_size(mp3) + read_info_tag(mp3).frame_length :]


def crc16_arc(data: bytes) -> int:
    """CRC-16/ARC bit by bit (reflected 0x8005): the test's own, independent of fastcrc."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def convert_to_bytes(wav: Path, **options: Any) -> tuple[ConversionResult, bytes]:
    """``convert_wav_to_mp3`` into memory: the result and the MP3's bytes."""
    dst = io.BytesIO()
    result = convert_wav_to_mp3(wav, dst, **options)
    return result, dst.getvalue()


def mutagen_info(mp3: bytes | Path) -> Any:
    """mutagen's stream info (length, bitrate, encoder, ReplayGain) of an MP3."""
    source = io.BytesIO(mp3) if isinstance(mp3, bytes) else mp3
    return mutagen.mp3.MP3(source).info  # type: ignore[no-untyped-call]


def soundfile_decode(mp3: bytes) -> tuple[FloatArray, int]:
    """libsndfile's decoder (mpg123), which honours the Info frame too."""
    with sf.SoundFile(io.BytesIO(mp3)) as f:
        assert f.format == "MP3"
        return f.read(dtype="float64", always_2d=True), int(f.samplerate)
