"""Generated test signals (no third-party audio), and what the MP3 should hold of them.

- ``noise``: band-limited noise, for alignment: a tone correlates with itself shifted by any
  whole number of periods, so it cannot show a start that is off by LAME's 576 samples.
- ``speech_like``, ``music_like``, ``tone_minus_23``: the loudness fixtures (formant-band
  noise in syllables and pauses, two levels; chords, tremolo, noise, a crescendo; the EBU
  Tech 3341 1 kHz sine at -23 dBFS in both channels, which must read -23.0 LUFS).
"""

from __future__ import annotations

import numpy as np

from audio_service.pcm import stereo_downmix_matrix
from audio_service.tests.mp3_reference import FloatArray


def noise(frames: int, channels: int, rate: int, seed: int = 11) -> FloatArray:
    """Noise low-passed below ~3 kHz (it survives every codec and LAME's lowpass at 8 kHz)."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal((frames + 64, channels))
    width = max(2, rate // 3000)
    kernel = np.ones(width) / width
    smooth = np.stack([np.convolve(white[:, c], kernel, "same") for c in range(channels)], 1)
    smooth = smooth[32 : 32 + frames]
    scaled: FloatArray = 0.4 * smooth / np.max(np.abs(smooth))
    return scaled


def expected_pcm(source: FloatArray, in_rate: int, out_rate: int) -> FloatArray:
    """Channel 0 of what should come out: downmixed, resampled by plain interpolation."""
    if source.shape[1] > 2:
        source = source @ stereo_downmix_matrix(source.shape[1], None).astype(np.float64)
    channel = source[:, 0]
    if in_rate == out_rate:
        return channel
    frames = round(len(channel) * out_rate / in_rate)
    times = np.arange(frames) * in_rate / out_rate
    return np.interp(times, np.arange(len(channel)), channel)


def speech_like(rate: int = 16000, seconds: float = 24.0, seed: int = 1) -> FloatArray:
    rng = np.random.default_rng(seed)
    frames = round(rate * seconds)
    spectrum = np.fft.rfft(rng.standard_normal(frames))
    freqs = np.fft.rfftfreq(frames, 1 / rate)
    spectrum *= np.exp(-(((freqs - 700) / 400) ** 2)) + 0.5 * np.exp(-(((freqs - 1800) / 600) ** 2))
    voice = np.fft.irfft(spectrum, frames)
    t = np.arange(frames) / rate
    syllables = np.clip(np.sin(2 * np.pi * 4.3 * t), 0, None) ** 2
    pauses = (np.sin(2 * np.pi * 0.23 * t) > -0.4).astype(float)
    level = np.where(t < seconds / 2, 1.0, 0.35)  # a quieter second speaker
    signal = voice * syllables * pauses * level
    speech: FloatArray = (0.3 * signal / np.max(np.abs(signal)))[:, None]
    return speech


def music_like(rate: int = 44100, seconds: float = 20.0, seed: int = 2) -> FloatArray:
    rng = np.random.default_rng(seed)
    t = np.arange(round(rate * seconds)) / rate
    note = (t // 0.5).astype(int) % 4
    roots = np.array([220.0, 261.6, 196.0, 246.9])[note]
    left = sum(np.sin(2 * np.pi * roots * k * t) / k for k in (1, 1.5, 2, 3))
    right = sum(np.sin(2 * np.pi * roots * k * t + k) / k for k in (1, 1.25, 2, 4))
    stereo = np.stack([left, right], 1) * (1 + 0.3 * np.sin(2 * np.pi * 0.2 * t))[:, None]
    stereo += 0.05 * rng.standard_normal(stereo.shape)
    crescendo = (0.1 + 0.9 * t / seconds)[:, None]
    music: FloatArray = 0.25 * stereo * crescendo / np.max(np.abs(stereo))
    return music


def tone_minus_23(rate: int = 48000, seconds: float = 10.0) -> FloatArray:
    t = np.arange(round(rate * seconds)) / rate
    sine = 10 ** (-23 / 20) * np.sin(2 * np.pi * 1000 * t)
    return np.stack([sine, sine], 1)
