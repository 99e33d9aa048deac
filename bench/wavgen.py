"""Test WAVs made on the fly: 44.1 kHz, 16-bit PCM, stereo, written to disk a second at a time.

The signal is music-like rather than silence or a pure tone (either would make LAME's work
unrealistically cheap): a three-note chord that changes every half second, a slow tremolo,
different panning per partial and a little uncorrelated noise per channel (about -40 dBFS).
It is deterministic, so every run encodes the same audio; only one second is ever in memory,
so the 60-minute file (~635 MB) costs a few MB of RSS. A file is reused by the next run: its
name says how it was made, and it only gets that name once it is complete.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

VERSION = 4  # of the signal: a new version makes new files
RATE = 44100
# A minor-key progression (semitones above A2), one chord per half second: a 3 s loop.
_CHORDS = ((0, 3, 7), (5, 8, 12), (7, 10, 14), (3, 7, 10), (-2, 2, 5), (0, 7, 12))
_NOTE_S = 0.5


def _tonal_loop() -> npt.NDArray[np.float32]:
    frames = np.arange(round(len(_CHORDS) * _NOTE_S * RATE), dtype=np.int64)
    note_frames = round(_NOTE_S * RATE)
    note = frames // note_frames
    t = (frames % note_frames) / RATE  # every note starts at phase 0: the loop is seamless
    mix = np.zeros((len(frames), 2))
    for voice, pan in enumerate((0.25, 0.5, 0.75)):
        semitones = np.array([chord[voice] for chord in _CHORDS], dtype=np.float64)[note]
        freq = 110.0 * 2.0 ** (semitones / 12.0) * (1 + voice)  # octave-spread voices
        tone = np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(4 * np.pi * freq * t)
        mix += np.stack([(1 - pan) * tone, pan * tone], axis=1)
    return (mix * (0.22 * 32767.0)).astype(np.float32)


def _write(path: Path, frames: int) -> None:
    rng = np.random.default_rng(1)
    loop = _tonal_loop()
    partial = path.with_suffix(".partial")
    with wave.open(str(partial), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.setnframes(frames)  # the header is written once, never patched
        for start in range(0, frames, RATE):
            index = np.arange(start, min(start + RATE, frames), dtype=np.int64)
            tremolo = 0.75 + 0.25 * np.sin((2 * np.pi * 0.3 / RATE) * index)
            block = loop[index % len(loop)] * tremolo.astype(np.float32)[:, None]
            block += rng.standard_normal(block.shape, dtype=np.float32) * np.float32(327.67)
            out.writeframesraw(np.clip(block, -32768, 32767).astype("<i2").tobytes())
    partial.replace(path)


def label(seconds: float) -> str:
    """60 -> "1min", 2.5 -> "2.5s"."""
    return f"{seconds / 60:g}min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g}s"


def wav_path(directory: Path, seconds: float) -> Path:
    return directory / f"bench_v{VERSION}_{seconds:g}s.wav"


def ensure_wav(directory: Path, seconds: float) -> Path:
    """The WAV of ``seconds`` in ``directory``, made unless a previous run left it there."""
    frames = round(seconds * RATE)
    path = wav_path(directory, seconds)
    if not (path.exists() and path.stat().st_size == 44 + frames * 4):
        directory.mkdir(parents=True, exist_ok=True)
        _write(path, frames)
    return path
