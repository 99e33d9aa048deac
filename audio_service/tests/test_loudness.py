"""EBU R128 loudness: our streaming meter against ffmpeg's ``ebur128`` filter, and exact parts.

Fixtures are generated (no third-party audio): speech-like (formant-band noise in syllables
and pauses, two levels), music-like (chords, tremolo, noise, a crescendo) and a tone (the EBU
Tech 3341 1 kHz sine at -23 dBFS in both channels, which must read -23.0 LUFS).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from numpy.lib.stride_tricks import sliding_window_view

from audio_service import loudness
from audio_service.conversion import ConversionResult, convert_wav_to_mp3
from audio_service.loudness import (
    Loudness,
    LoudnessMeter,
    TruePeakMeter,
    integrated_loudness,
    k_weighting_sos,
    loudness_range,
    normalization_gain,
)
from audio_service.tests.mp3_reference import FloatArray, ffmpeg_ebur128, require_ffmpeg
from audio_service.tests.signals import music_like, speech_like, tone_minus_23

_TOLERANCE_LU = 0.5


_FIXTURES: dict[str, tuple[Callable[[], FloatArray], int]] = {
    "speech": (speech_like, 16000),
    "music": (music_like, 44100),
    "tone": (tone_minus_23, 48000),
}


def _convert(tmp_path: Path, name: str, **options: object) -> tuple[ConversionResult, Path, Path]:
    make, rate = _FIXTURES[name]
    wav = tmp_path / f"{name}.wav"
    sf.write(wav, make(), rate, subtype="PCM_16")
    mp3 = tmp_path / f"{name}.mp3"
    with mp3.open("x+b") as out:
        result = convert_wav_to_mp3(wav, out, **options)  # type: ignore[arg-type]
    return result, wav, mp3


@pytest.mark.parametrize("name", sorted(_FIXTURES))
def test_loudness_matches_ffmpeg(tmp_path: Path, name: str) -> None:
    require_ffmpeg()
    result, wav, mp3 = _convert(tmp_path, name)
    ours = result.loudness
    assert ours is not None
    assert ours.integrated_lufs is not None
    assert ours.range_lu is not None
    assert ours.true_peak_dbtp is not None
    of_wav, of_mp3 = ffmpeg_ebur128(wav), ffmpeg_ebur128(mp3)
    assert abs(ours.integrated_lufs - of_wav.integrated_lufs) <= _TOLERANCE_LU
    assert abs(ours.range_lu - of_wav.range_lu) <= _TOLERANCE_LU
    assert abs(ours.true_peak_dbtp - of_wav.true_peak_dbtp) <= _TOLERANCE_LU
    # what the listener gets: the MP3 decoded (LAME changes the level a little)
    assert abs(ours.integrated_lufs - of_mp3.integrated_lufs) <= _TOLERANCE_LU


def test_ebu_reference_tone_reads_minus_23(tmp_path: Path) -> None:
    result, _, _ = _convert(tmp_path, "tone")
    assert result.loudness is not None
    assert result.loudness.integrated_lufs == pytest.approx(-23.0, abs=0.05)
    assert result.loudness.range_lu == pytest.approx(0.0, abs=0.05)
    assert result.loudness.true_peak_dbtp == pytest.approx(-23.0, abs=0.05)


def test_k_weighting_at_48_khz_is_the_bs1770_filter() -> None:
    shelf, highpass = k_weighting_sos(48000)
    np.testing.assert_allclose(
        shelf,
        [
            1.53512485958697,
            -2.69169618940638,
            1.19839281085285,
            1.0,
            -1.69065929318241,
            0.73248077421585,
        ],
        atol=1e-10,
    )
    np.testing.assert_allclose(
        highpass, [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621], atol=1e-10
    )


def test_block_size_does_not_change_the_measurement() -> None:
    samples = music_like(seconds=8.0).astype(np.float32)
    results = []
    for block in (65536, 4410, 999, 100_000):
        meter = LoudnessMeter(44100, 2)
        for start in range(0, len(samples), block):
            meter.add(np.ascontiguousarray(samples[start : start + block].T))
        results.append(meter.result())
    for other in results[1:]:
        assert other.integrated_lufs == pytest.approx(results[0].integrated_lufs, abs=1e-6)
        assert other.range_lu == pytest.approx(results[0].range_lu, abs=1e-6)
        assert other.true_peak_dbtp == pytest.approx(results[0].true_peak_dbtp, abs=1e-9)


def test_silence_and_short_files() -> None:
    meter = LoudnessMeter(8000, 1)
    meter.add(np.zeros((1, 8000 * 5), dtype=np.float32))
    assert meter.result() == Loudness(None, None, None, 0.0)
    assert integrated_loudness(np.zeros(3)) is None  # under 400 ms
    assert loudness_range(np.full(29, 0.01)) is None  # under 3 s


def _full_true_peak(samples: FloatArray) -> float:
    """Every 4x-interpolated sample, with the meter's own interpolator (the brute force)."""
    peak = float(np.max(np.abs(samples)))
    for channel in samples.T.astype(np.float32):
        padded = np.concatenate([np.zeros(11, np.float32), channel])
        outputs = sliding_window_view(padded, 12) @ loudness._INTERPOLATE.astype(np.float64)
        peak = max(peak, float(np.max(np.abs(outputs))))
    return peak


def _band_limited_clipped(rate: int = 44100) -> FloatArray:
    rng = np.random.default_rng(9)
    spectrum = np.fft.rfft(rng.standard_normal(rate))
    spectrum[len(spectrum) // 3 :] = 0  # below ~7 kHz
    noise = np.fft.irfft(spectrum, rate)
    clipped: FloatArray = np.clip(0.9 * noise / np.max(np.abs(noise)) * 1.6, -0.9, 0.9)
    return clipped[:, None]


@pytest.mark.parametrize(
    "make",
    [
        # a sine at a quarter of the rate, sampled 45 degrees off its crests: samples at
        # -3 dB, true peak 0 dB
        lambda: np.sin(np.pi / 2 * np.arange(4000) + np.pi / 4)[:, None] * 0.5,
        _band_limited_clipped,
        lambda: music_like(seconds=3.0),
        lambda: speech_like(seconds=4.0),
        lambda: np.pad(np.ones((1, 2)) * 0.7, ((500, 500), (0, 0))),  # a click
    ],
    ids=["quarter-rate-sine", "clipped-noise", "music", "speech", "click"],
)
def test_sparse_true_peak_equals_the_full_evaluation(make: Callable[[], FloatArray]) -> None:
    samples = make()
    meter = TruePeakMeter(samples.shape[1])
    for start in range(0, len(samples), 1000):
        meter.add(samples[start : start + 1000].T.astype(np.float32, order="C"))
    assert meter.peak == pytest.approx(_full_true_peak(samples), rel=1e-5)


def test_true_peak_finds_the_intersample_peak() -> None:
    samples = (0.5 * np.sin(np.pi / 2 * np.arange(4000) + np.pi / 4))[:, None]
    meter = TruePeakMeter(1)
    meter.add(samples.T.astype(np.float32, order="C"))
    assert meter.sample_peak == pytest.approx(0.5 / np.sqrt(2), rel=1e-6)
    assert meter.peak == pytest.approx(0.5, abs=0.01)


def test_int16_values_measure_like_floats() -> None:
    samples = music_like(seconds=5.0)
    as_int = np.round(samples * 32767).T.astype(np.float32, order="C")
    a, b = LoudnessMeter(44100, 2, full_scale=32768), LoudnessMeter(44100, 2)
    a.add(as_int)
    b.add(as_int / np.float32(32768))
    assert a.result().integrated_lufs == pytest.approx(b.result().integrated_lufs, abs=1e-6)
    assert a.result().true_peak_dbtp == pytest.approx(b.result().true_peak_dbtp, abs=1e-5)


def test_normalization_reaches_the_target(tmp_path: Path) -> None:
    require_ffmpeg()
    result, _, mp3 = _convert(tmp_path, "music", normalize_lufs=-16.0)
    norm, out = result.normalization, result.loudness
    assert norm is not None
    assert out is not None
    assert out.integrated_lufs is not None
    assert norm.input.integrated_lufs is not None
    assert norm.input.true_peak_dbtp is not None
    assert not norm.limited_by_true_peak
    assert norm.gain_db == pytest.approx(-16.0 - norm.input.integrated_lufs)
    assert out.integrated_lufs == pytest.approx(-16.0, abs=0.1)
    assert abs(ffmpeg_ebur128(mp3).integrated_lufs + 16.0) <= _TOLERANCE_LU


def test_normalization_stops_at_the_true_peak_limit(tmp_path: Path) -> None:
    rate = 44100
    rng = np.random.default_rng(4)
    samples = 0.01 * rng.standard_normal((rate * 6, 1))
    samples[::rate] = 0.7  # one click a second: loud peaks, quiet programme
    wav = tmp_path / "clicks.wav"
    sf.write(wav, samples, rate, subtype="FLOAT")
    dst = io.BytesIO()
    result = convert_wav_to_mp3(wav, dst, normalize_lufs=-16.0)
    norm, out = result.normalization, result.loudness
    assert norm is not None
    assert out is not None
    assert out.integrated_lufs is not None
    assert norm.limited_by_true_peak
    assert out.true_peak_dbtp == pytest.approx(-1.0, abs=0.05)
    assert out.integrated_lufs < -16.0 - 1  # quieter than asked, and it says so


def test_normalization_gain_rules() -> None:
    quiet = Loudness(-30.0, 5.0, -12.0, 0.2)
    assert normalization_gain(quiet, -16.0, -1.0).gain_db == pytest.approx(11.0)
    assert normalization_gain(quiet, -16.0, -1.0).limited_by_true_peak
    loud = Loudness(-10.0, 5.0, -0.5, 0.9)
    lowered = normalization_gain(loud, -16.0, -1.0)
    assert (lowered.gain_db, lowered.limited_by_true_peak) == (-6.0, False)
    silent = normalization_gain(Loudness(None, None, None, 0.0), -16.0, -1.0)
    assert silent.gain_db == 0.0
