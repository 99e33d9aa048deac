"""Against the reference decoder (ffmpeg): exact length and aligned start for every WAV flavour.

The content is band-limited noise, not a tone: a tone correlates with itself shifted by any
whole number of periods, so it cannot show a start that is off by LAME's 576 samples.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import soundfile as sf

from audio_service.conversion import ConversionResult, convert_wav_to_mp3
from audio_service.lametag import LAME_ENCODER_DELAY
from audio_service.pcm import nearest_mp3_sample_rate
from audio_service.tests.mp3_reference import (
    FloatArray,
    best_lag,
    ffmpeg_decode,
    ffprobe,
    mutagen_info,
)
from audio_service.tests.signals import expected_pcm, noise
from testkit.wav import ACCEPTED_VARIANTS

pytestmark = pytest.mark.usefixtures("reference_decoder")
from audio_service.tests.mp3_reference import reference_decoder  # noqa: E402, F401

# ffmpeg's own decoder delay, which it adds to the encoder delay it skips.
_DECODER_DELAY = 529
_MAX_LAG = 1500  # more than delay + decoder delay: a missed trim could not hide


# One case per (codec, container, rate, channels) the variants cover; size-field rewrites
# are the probe's business (test_conversion covers them with tones).
_CASES = sorted(
    {(v.subtype, v.container, v.sample_rate, v.channels, v.duration_s) for v in ACCEPTED_VARIANTS}
)


def _write(path: Path, case: tuple[str, str, int, int, float]) -> FloatArray:
    subtype, container, rate, channels, duration_s = case
    samples = noise(round(rate * max(duration_s, 0.5)), channels, rate)
    sf.write(path, samples, rate, subtype=subtype, format=container)
    decoded: FloatArray = sf.read(path, dtype="float64", always_2d=True)[0]
    return decoded  # what the codec kept: the reference to align with


def _convert(src: Path, **options: object) -> tuple[ConversionResult, Path]:
    dst = src.with_suffix(".mp3")
    with dst.open("x+b") as out:
        result = convert_wav_to_mp3(src, out, **options)  # type: ignore[arg-type]
    return result, dst


@pytest.mark.parametrize("case", _CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}-{c[3]}ch")
def test_ffmpeg_decodes_exactly_the_input_aligned(
    tmp_path: Path, case: tuple[str, str, int, int, float]
) -> None:
    src = tmp_path / "in.wav"
    source = _write(src, case)
    in_rate = case[2]
    out_rate = nearest_mp3_sample_rate(in_rate)
    result, mp3 = _convert(src)

    decoded, rate = ffmpeg_decode(mp3)
    assert rate == out_rate
    expected = round(len(source) * out_rate / in_rate)
    assert result.output_frames == expected
    assert decoded.shape == (expected, min(case[3], 2))
    assert best_lag(expected_pcm(source, in_rate, out_rate), decoded[:, 0], _MAX_LAG) == 0

    spf = 1152 if out_rate >= 32000 else 576
    probe = ffprobe(mp3)
    # ffprobe (5.1) reports the container's figures, as it does for lame's own files: all
    # frames, starting after the skipped delay. Both say it read our Info frame.
    assert float(probe["stream"]["start_time"]) == pytest.approx(
        (LAME_ENCODER_DELAY + _DECODER_DELAY) / out_rate, abs=1e-6
    )
    assert float(probe["format"]["duration"]) == pytest.approx(
        result.mp3_frames * spf / out_rate, abs=1e-6
    )
    assert mutagen_info(mp3).length == pytest.approx(expected / out_rate, abs=1e-9)


@pytest.mark.parametrize(
    ("rate", "channels", "frames"),
    [
        (44100, 2, 100),
        (44100, 2, 1151),
        (44100, 2, 1153),
        (48000, 1, 44100 * 3 + 17),
        (32000, 2, 1152 * 10 - 576),
        (22050, 1, 88200),
        (16000, 1, 582),  # padding 1146: the trim spans two frames
        (8000, 1, 24000),  # the issue's 3.000 s at 8 kHz
        (12000, 2, 12345),
    ],
)
def test_exact_for_lengths_around_frame_boundaries(
    tmp_path: Path, rate: int, channels: int, frames: int
) -> None:
    src = tmp_path / "in.wav"
    source = noise(frames, channels, rate, seed=frames)
    sf.write(src, source, rate, subtype="FLOAT")
    result, mp3 = _convert(src)
    decoded, _ = ffmpeg_decode(mp3)
    assert decoded.shape == (frames, channels)
    max_lag = min(_MAX_LAG, frames // 3)
    assert best_lag(source[:, 0], decoded[:, 0], max_lag) == 0
    assert result.encoder_padding == result.mp3_frames * (1152 if rate >= 32000 else 576) - (
        LAME_ENCODER_DELAY + frames
    )


def test_issue_examples_decode_to_their_exact_duration(tmp_path: Path) -> None:
    """3.000 s at 8 kHz and 4.000 s at 22.05 kHz came back as 3.168 s and 4.075 s."""
    for rate, seconds in ((8000, 3.0), (22050, 4.0)):
        src = tmp_path / f"{rate}.wav"
        frames = round(rate * seconds)
        sf.write(src, noise(frames, 1, rate), rate, subtype="PCM_16")
        _, mp3 = _convert(src)
        decoded, _ = ffmpeg_decode(mp3)
        assert len(decoded) / rate == seconds
        assert math.isclose(mutagen_info(mp3).length, seconds, abs_tol=1e-9)
