"""Test WAVs generated on the fly: 44.1 kHz, 16-bit PCM, stereo, streamed to disk in blocks.

The signal is music-like rather than silence or a pure tone (either would make LAME's work
unrealistically cheap): a three-note chord that changes every half second, a slow tremolo,
different panning per partial and a little uncorrelated noise per channel (about -40 dBFS).
It is deterministic for a given seed, so every run encodes the same audio.

Only one block (one second) is ever in memory: the 60-minute file (~635 MB) is written with a
few megabytes of RSS. Files are cached next to a small JSON sidecar describing them, so a
second run reuses them when the parameters match.
"""

from __future__ import annotations

import json
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

GENERATOR_VERSION = 4
WAV_HEADER_BYTES = 44


@dataclass(frozen=True)
class WavSpec:
    duration_s: float
    sample_rate: int = 44100
    channels: int = 2
    seed: int = 1

    @property
    def frames(self) -> int:
        return round(self.duration_s * self.sample_rate)

    @property
    def data_bytes(self) -> int:
        return self.frames * self.channels * 2

    @property
    def file_bytes(self) -> int:
        return WAV_HEADER_BYTES + self.data_bytes

    def filename(self) -> str:
        rate = f"{self.sample_rate // 1000}k" if self.sample_rate % 1000 == 0 else "44k1"
        return f"bench_{self.duration_s:g}s_{rate}_{self.channels}ch_s{self.seed}.wav"


# A minor-key progression (semitones above A2), one chord per half second.
_CHORDS: tuple[tuple[int, int, int], ...] = (
    (0, 3, 7),
    (5, 8, 12),
    (7, 10, 14),
    (3, 7, 10),
    (-2, 2, 5),
    (0, 7, 12),
)
_BASE_HZ = 110.0
_NOTE_S = 0.5
_TREMOLO_HZ = 0.3
# The chord sequence repeats every 3 s (6 notes x 0.5 s): it is computed once per spec and
# looped; the tremolo and the noise are computed for every block.
_LOOP_S = 3


def _tonal_loop(spec: WavSpec) -> npt.NDArray[np.float32]:
    rate = spec.sample_rate
    frames = np.arange(_LOOP_S * rate, dtype=np.int64)
    note_frames = round(_NOTE_S * rate)
    note_index = (frames // note_frames) % len(_CHORDS)
    note_t = (frames % note_frames) / rate  # each note starts at phase 0: the loop is seamless
    left = np.zeros(len(frames), dtype=np.float64)
    right = np.zeros(len(frames), dtype=np.float64)
    for voice, pan in zip(range(3), (0.25, 0.5, 0.75), strict=True):
        semitones = np.array([chord[voice] for chord in _CHORDS], dtype=np.float64)[note_index]
        freq = _BASE_HZ * 2.0 ** (semitones / 12.0) * (1 + voice)  # octave-spread voices
        tone = np.sin(2 * np.pi * freq * note_t) + 0.3 * np.sin(4 * np.pi * freq * note_t)
        left += (1 - pan) * tone
        right += pan * tone
    mix = np.stack([left, right], axis=1) * (0.22 * 32767.0)
    if spec.channels == 1:
        mix = mix.mean(axis=1, keepdims=True)
    return np.ascontiguousarray(mix, dtype=np.float32)


def _block(
    loop: npt.NDArray[np.float32], rate: int, start: int, count: int, rng: np.random.Generator
) -> npt.NDArray[np.int16]:
    frames = start + np.arange(count, dtype=np.int64)
    tremolo = 0.75 + 0.25 * np.sin((2 * np.pi * _TREMOLO_HZ / rate) * frames)
    samples = loop[frames % len(loop)] * tremolo.astype(np.float32)[:, None]
    noise = rng.standard_normal(samples.shape, dtype=np.float32)
    samples += noise * np.float32(0.01 * 32767.0)
    np.clip(samples, -32768, 32767, out=samples)
    return np.ascontiguousarray(samples.astype("<i2"))


def write_wav(path: Path, spec: WavSpec, block_s: float = 1.0) -> Path:
    """Write ``spec`` to ``path`` block by block (never the whole file in memory)."""
    if spec.channels not in (1, 2):
        raise ValueError("channels must be 1 or 2")
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    loop = _tonal_loop(spec)
    block_frames = max(1, round(block_s * spec.sample_rate))
    partial = path.with_suffix(".partial")
    with wave.open(str(partial), "wb") as out:
        out.setnchannels(spec.channels)
        out.setsampwidth(2)
        out.setframerate(spec.sample_rate)
        # Declaring the length up front: the header is written once, never patched.
        out.setnframes(spec.frames)
        done = 0
        while done < spec.frames:
            count = min(block_frames, spec.frames - done)
            out.writeframesraw(_block(loop, spec.sample_rate, done, count, rng).tobytes())
            done += count
    partial.replace(path)
    return path


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def ensure_wav(directory: Path, spec: WavSpec) -> Path:
    """The WAV for ``spec`` in ``directory``: reused when a previous run left it intact."""
    path = directory / spec.filename()
    meta = {"generator_version": GENERATOR_VERSION, **asdict(spec)}
    sidecar = _sidecar(path)
    try:
        if (
            path.stat().st_size == spec.file_bytes
            and json.loads(sidecar.read_text(encoding="utf-8")) == meta
        ):
            return path
    except (OSError, ValueError):
        pass
    write_wav(path, spec)
    sidecar.write_text(json.dumps(meta), encoding="utf-8")
    return path


def remove_wav(path: Path) -> None:
    path.unlink(missing_ok=True)
    _sidecar(path).unlink(missing_ok=True)
