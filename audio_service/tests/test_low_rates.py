"""Issue 9.2: every sample rate a WAV header can state and libsndfile decodes converts.

LAME's own resampler failed on large upsampling ratios ("LAME encoding failed" -> 500 for
10 s at 5512 Hz, 60 s at 5900 Hz, anything at 2001 Hz and below). soxr now resamples to the
nearest MP3 rate before LAME. libsndfile reads rates from 1 Hz to 2**31 - 1; what is left of
a file at the MP3 rate must be at least one sample, else it is refused as ``no_audio`` (422).
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_service.conversion import convert_wav_to_mp3
from audio_service.pcm import nearest_mp3_sample_rate
from shared.errors import Unprocessable
from testkit.wav import WAVE_FORMAT_PCM, decode_mp3, wav_bytes


def _pcm_wav(path: Path, rate: int, frames: int) -> Path:
    samples = (8000 * np.sin(np.arange(frames) * 0.3)).astype("<i2")
    path.write_bytes(wav_bytes(WAVE_FORMAT_PCM, samples.tobytes(), sample_rate=rate))
    return path


@pytest.mark.parametrize(
    ("rate", "seconds"),
    [
        (5512, 10.0),  # the failures
        (5900, 60.0),
        (2001, 1.0),
        (2000, 5.0),
        (1, 30.0),
        (2, 3.0),
        (100, 12.0),
        (4000, 0.5),
        (6000, 60.0),  # worked before, still does
        (7999, 2.0),
        (8000, 2.0),
        (8001, 2.0),
        (192000, 1.0),
        (384000, 0.5),
    ],
)
def test_rate_converts_to_the_exact_resampled_length(
    tmp_path: Path, rate: int, seconds: float
) -> None:
    frames = round(rate * seconds)
    path = _pcm_wav(tmp_path / "in.wav", rate, frames)
    dst = io.BytesIO()
    result = convert_wav_to_mp3(path, dst)
    out_rate = nearest_mp3_sample_rate(rate)
    assert result.output_sample_rate == out_rate
    assert result.output_frames == round(frames * out_rate / rate)
    samples, decoded_rate = decode_mp3(dst.getvalue())
    assert (len(samples), decoded_rate) == (result.output_frames, out_rate)


def test_largest_rate_libsndfile_reads(tmp_path: Path) -> None:
    rate = 2**31 - 1
    frames = 500_000  # 0.23 ms: 11 samples at 48 kHz
    path = _pcm_wav(tmp_path / "fast.wav", 1, frames)
    data = bytearray(path.read_bytes())
    data[24:32] = struct.pack("<II", rate, rate * 2)
    path.write_bytes(bytes(data))
    result = convert_wav_to_mp3(path, io.BytesIO())
    assert (result.output_sample_rate, result.output_frames) == (
        48000,
        round(frames * 48000 / rate),
    )


def test_nothing_left_at_the_mp3_rate_is_refused(tmp_path: Path) -> None:
    path = _pcm_wav(tmp_path / "blip.wav", 1, 1000)
    data = bytearray(path.read_bytes())
    data[24:32] = struct.pack("<II", 2**31 - 1, 2**32 - 2)
    path.write_bytes(bytes(data))
    dst = io.BytesIO()
    with pytest.raises(Unprocessable) as caught:
        convert_wav_to_mp3(path, dst)
    assert caught.value.extra["code"] == "no_audio"
    assert dst.getvalue() == b""


def test_low_rate_content_survives(tmp_path: Path) -> None:
    rate, seconds = 4000, 4.0
    t = np.arange(round(rate * seconds)) / rate
    path = tmp_path / "tone.wav"
    sf.write(path, 0.5 * np.sin(2 * np.pi * 500 * t), rate, subtype="PCM_16")
    dst = io.BytesIO()
    convert_wav_to_mp3(path, dst)
    samples, out_rate = decode_mp3(dst.getvalue())
    middle = samples[len(samples) // 4 : -len(samples) // 4, 0]
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(len(middle))))
    peak_hz = np.argmax(spectrum) * out_rate / len(middle)
    assert peak_hz == pytest.approx(500, abs=5)
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)
