"""Waveform peaks: streamed min/max against a direct computation, bounds, formats."""

from __future__ import annotations

import io
import math
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from audio_service.conversion import convert_wav_to_mp3
from audio_service.peaks import (
    BASE_SAMPLES_PER_PIXEL,
    MAX_PIXELS,
    PeakAccumulator,
    Peaks,
    reduce_peaks,
    samples_per_pixel_for,
    waveform_json,
)
from audio_service.tests.mp3_reference import soundfile_decode

Int16Array = npt.NDArray[np.int16]


def _direct(planar: Int16Array, spp: int) -> Int16Array:
    """(pixels, channels, 2) min/max computed in one go, the last pixel partial."""
    channels, frames = planar.shape
    pixels = math.ceil(frames / spp)
    out = np.empty((pixels, channels, 2), dtype=np.int16)
    for p in range(pixels):
        chunk = planar[:, p * spp : (p + 1) * spp]
        out[p, :, 0], out[p, :, 1] = chunk.min(axis=1), chunk.max(axis=1)
    return out


def _random(frames: int, channels: int, seed: int = 0) -> Int16Array:
    rng = np.random.default_rng(seed)
    return rng.integers(-32768, 32768, (channels, frames)).astype(np.int16)


@pytest.mark.parametrize("blocks", [[1000], [1, 255, 256, 257, 3000], [7] * 300, [65536]])
def test_streamed_peaks_equal_the_direct_computation(blocks: list[int]) -> None:
    planar = _random(sum(blocks), 2)
    acc = PeakAccumulator(44100, 2, planar.shape[1])
    start = 0
    for size in blocks:
        acc.add(planar[:, start : start + size])
        start += size
    peaks = acc.finish()
    assert peaks.samples_per_pixel == BASE_SAMPLES_PER_PIXEL
    assert peaks.length == math.ceil(planar.shape[1] / BASE_SAMPLES_PER_PIXEL)
    np.testing.assert_array_equal(peaks.data, _direct(planar, BASE_SAMPLES_PER_PIXEL))


def test_resolution_halves_when_the_audio_is_longer_than_announced() -> None:
    frames = BASE_SAMPLES_PER_PIXEL * MAX_PIXELS * 2 + 1000  # more than twice the cap
    planar = _random(frames, 1, seed=3)
    acc = PeakAccumulator(8000, 1, expected_frames=10)  # a codec's wrong estimate
    for start in range(0, frames, 65536 + 17):
        acc.add(planar[:, start : start + 65536 + 17])
    peaks = acc.finish()
    assert peaks.samples_per_pixel == BASE_SAMPLES_PER_PIXEL * 4
    assert peaks.length <= MAX_PIXELS
    np.testing.assert_array_equal(peaks.data, _direct(planar, peaks.samples_per_pixel))


@pytest.mark.parametrize(
    ("frames", "spp"),
    [(1, 256), (256 * MAX_PIXELS, 256), (256 * MAX_PIXELS + 1, 512), (48000 * 3600, 4096)],
)
def test_samples_per_pixel_bounds_the_size(frames: int, spp: int) -> None:
    assert samples_per_pixel_for(frames) == spp
    assert math.ceil(frames / spp) <= MAX_PIXELS


def test_binary_format_round_trip() -> None:
    planar = _random(5000, 2)
    acc = PeakAccumulator(22050, 2, 5000)
    acc.add(planar)
    peaks = acc.finish()
    blob = peaks.to_bytes()
    # audiowaveform .dat version 2: version, flags (0: 16-bit), rate, spp, length, channels
    assert struct.unpack_from("<iIiiIi", blob) == (2, 0, 22050, 256, peaks.length, 2)
    assert len(blob) == 24 + peaks.length * 2 * 2 * 2
    again = Peaks.from_bytes(blob)
    assert (again.sample_rate, again.samples_per_pixel) == (22050, 256)
    np.testing.assert_array_equal(again.data, peaks.data)
    with pytest.raises(ValueError, match="holds"):
        Peaks.from_bytes(blob[:-2])
    assert len(Peaks(48000, 256, np.zeros((MAX_PIXELS, 2, 2), np.int16)).to_bytes()) <= (
        512 * 1024 + 24
    )


def test_reduction_to_pixels() -> None:
    planar = _random(256 * 1000 + 5, 2)
    acc = PeakAccumulator(44100, 2, planar.shape[1])
    acc.add(planar)
    peaks = acc.finish()  # 1001 pixels
    reduced = reduce_peaks(peaks, 100)
    group = math.ceil(1001 / 100)
    assert reduced.samples_per_pixel == 256 * group
    assert reduced.length == math.ceil(1001 / group) <= 100
    np.testing.assert_array_equal(reduced.data, _direct(planar, 256 * group))
    assert reduce_peaks(peaks, 5000) is peaks
    with pytest.raises(ValueError, match="pixels"):
        reduce_peaks(peaks, 0)


def test_waveform_json_version_2() -> None:
    data = np.array([[[-32768, 32767], [-300, 255]], [[-1, 1], [0, 0]]], dtype=np.int16)
    peaks = Peaks(8000, 256, data)
    doc16 = waveform_json(peaks, 10, bits=16)
    assert doc16 == {
        "version": 2,
        "channels": 2,
        "sample_rate": 8000,
        "samples_per_pixel": 256,
        "bits": 16,
        "length": 2,
        "data": [-32768, 32767, -300, 255, -1, 1, 0, 0],
    }
    doc8 = waveform_json(peaks, 10)
    # scaled by 1/256 outwards: a quiet pixel never collapses to a flat line
    assert doc8["bits"] == 8
    assert doc8["data"] == [-128, 127, -2, 1, -1, 1, 0, 0]
    with pytest.raises(ValueError, match="bits"):
        waveform_json(peaks, 10, bits=12)


def test_conversion_peaks_describe_the_audio(tmp_path: Path) -> None:
    rate = 44100
    t = np.arange(rate * 3) / rate
    envelope = np.sin(2 * np.pi * 0.5 * t)
    samples = np.stack(
        [0.6 * np.sin(2 * np.pi * 3 * t), 0.5 * envelope * np.sin(2 * np.pi * 440 * t)], 1
    )
    pcm = np.round(np.clip(samples, -1, 1) * 32767).astype(np.int16)
    wav = tmp_path / "a.wav"
    sf.write(wav, pcm, rate, subtype="PCM_16")
    dst = io.BytesIO()
    result = convert_wav_to_mp3(wav, dst)
    peaks = result.peaks
    assert peaks is not None
    assert (peaks.sample_rate, peaks.channels) == (rate, 2)
    assert peaks.length == math.ceil(len(pcm) / 256)
    # the PCM the encoder got is this 16-bit input, untouched: exact
    np.testing.assert_array_equal(peaks.data, _direct(np.ascontiguousarray(pcm.T), 256))
    # and the decoded MP3 has the same envelope, within the codec's error (LAME plays this
    # ~0.4 dB quieter, as bare lame does)
    decoded, _ = soundfile_decode(dst.getvalue())
    direct = _direct(np.round(decoded.T * 32767).astype(np.int16), 256)
    np.testing.assert_allclose(direct, peaks.data, rtol=0.08, atol=300)


def test_resampled_and_downmixed_peaks_are_at_the_mp3_rate(tmp_path: Path) -> None:
    wav = tmp_path / "six.wav"
    sf.write(wav, np.full((96000, 6), 0.25), 96000, subtype="FLOAT")
    result = convert_wav_to_mp3(wav, io.BytesIO())
    assert result.peaks is not None
    assert (result.peaks.sample_rate, result.peaks.channels) == (48000, 2)
    assert result.peaks.length == math.ceil(result.output_frames / 256)
