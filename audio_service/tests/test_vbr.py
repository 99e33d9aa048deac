"""VBR: the Xing frame makes a 10-minute file's length exact and its seeks land where asked.

One 10-minute file for the module, mono at 16 kHz to keep it cheap (~2 s to encode): the
seek table's resolution is in time (1/256 of the file), not in samples, so the rate does not
change what is tested. The content is non-periodic so cross-correlation finds where a seek
really landed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_service.conversion import ConversionResult, convert_wav_to_mp3
from audio_service.lametag import read_info_tag
from audio_service.tests.mp3_reference import (
    FloatArray,
    audio_frames_of,
    ffmpeg_decode,
    require_ffmpeg,
)
from testkit.wav import mp3_frames

_RATE = 16000
_SECONDS = 600
_SEEKS_S = (7.3, 61.0, 150.5, 299.9, 444.4, 590.0)


@dataclass(frozen=True)
class VbrFile:
    source: FloatArray
    mp3: Path
    result: ConversionResult


@pytest.fixture(scope="module")
def ten_minutes(tmp_path_factory: pytest.TempPathFactory) -> VbrFile:
    directory = tmp_path_factory.mktemp("vbr")
    frames = _RATE * _SECONDS
    rng = np.random.default_rng(5)
    envelope = 0.3 + 0.7 * np.sin(2 * np.pi * 0.37 * np.arange(frames) / _RATE) ** 2
    source = (0.1 * rng.standard_normal(frames) * envelope).astype(np.float32)
    wav = directory / "ten_minutes.wav"
    sf.write(wav, source, _RATE, subtype="PCM_16")
    mp3 = directory / "ten_minutes.mp3"
    with mp3.open("x+b") as out:
        result = convert_wav_to_mp3(wav, out, mode="vbr", vbr_quality=2)
    return VbrFile(sf.read(wav, dtype="float64")[0], mp3, result)


def _landed_at(source: FloatArray, decoded: FloatArray, asked_s: float) -> float:
    """Where in ``source`` the decoded audio really starts, in seconds."""
    start = int(asked_s * _RATE)
    low = max(0, start - 3 * _RATE)
    scores = np.correlate(source[low : start + 3 * _RATE], decoded[: _RATE // 2], "valid")
    return (low + int(np.argmax(scores))) / _RATE


def test_vbr_file_has_exact_length_and_real_mean_bitrate(ten_minutes: VbrFile) -> None:
    result, data = ten_minutes.result, ten_minutes.mp3.read_bytes()
    assert result.mode == "vbr"
    assert result.vbr_quality == 2
    assert result.output_frames == _RATE * _SECONDS
    tag = read_info_tag(data)
    assert tag.is_vbr
    frames = mp3_frames(audio_frames_of(data))
    assert len({f.bitrate_kbps for f in frames}) > 1
    audio_bytes = sum(f.length for f in frames)
    assert result.mean_bitrate_kbps == pytest.approx(
        audio_bytes * 8 / (len(frames) * 576 / _RATE) / 1000, abs=1e-3
    )
    assert result.bitrate_kbps == round(result.mean_bitrate_kbps)
    decoded, _ = sf.read(io.BytesIO(data), dtype="float32")  # mpg123 honours the frame too
    assert len(decoded) == _RATE * _SECONDS


@pytest.mark.parametrize("usetoc", [False, True], ids=["ffmpeg-default", "seek-table-only"])
def test_seeks_land_where_asked(ten_minutes: VbrFile, usetoc: bool) -> None:
    require_ffmpeg()
    tag = read_info_tag(ten_minutes.mp3.read_bytes())
    # Default ffmpeg seeking is exact. With the seek table alone (-usetoc 1, what a player
    # without an index does), a position is 1/256 of the file: we round to the nearest, so
    # at most half of that, 600 s / 512 = 1.17 s here (bare lame floors: up to 2.3 s).
    bound = 0.5 if not usetoc else _SECONDS / 512 + 576 / _RATE
    errors = []
    for asked in _SEEKS_S:
        decoded, _ = ffmpeg_decode(ten_minutes.mp3, seek_s=asked, duration_s=1.0, usetoc=usetoc)
        errors.append(_landed_at(ten_minutes.source, decoded[:, 0], asked) - asked)
    assert max(abs(e) for e in errors) <= bound, errors
    if not usetoc:
        assert max(abs(e) for e in errors) <= 1 / _RATE  # in fact sample-exact
    assert tag.toc[50] == pytest.approx(128, abs=3)  # steady content: half the bytes
