"""The PCM the MP3 encoder gets: a WAV decoded in blocks, folded to stereo, resampled, gained.

Everything streams: at most one block (and soxr's filter state) is in memory.

- Decode as float32 and convert to int16 here: ``read(dtype="int16")`` on a float WAV
  returns unscaled values, i.e. silence. 16-bit PCM in 1 or 2 channels at a rate MP3
  carries is read as it is (bit-identical, and it skips the float round trip).
- Read with a ``read(n)`` loop, not ``SoundFile.blocks()``, which fails on GSM 6.10.
- Rates MP3 cannot carry are resampled here with soxr (streaming, delay-compensated, the
  output length is ``round(frames * out / in)``), not by LAME: LAME's own resampler fails
  on large upsampling ratios (below ~6 kHz, "LAME encoding failed") and adds a delay of its
  own that the Info tag could not account for. So LAME always encodes at the rate it gets,
  and its encoder delay is exactly 576 samples.
- More than two channels are folded to stereo: each channel goes to the side its speaker
  position is on (from the EXTENSIBLE channel mask, else the usual layout for that channel
  count), centre channels to both sides at -3 dB, LFE dropped; each side is then divided by
  the sum of its weights, so the mix is a weighted average and cannot clip.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr

from audio_service.wav_probe import OpenWav, check_duration
from shared.errors import Unprocessable

MP3_SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)

# Cap on samples per decoded block, so a file with many channels cannot blow up the buffers.
_MAX_BLOCK_SAMPLES = 1 << 19

Float32Array = npt.NDArray[np.float32]
Int16Array = npt.NDArray[np.int16]

Weights = tuple[float, float]
_LEFT: Weights = (1.0, 0.0)
_RIGHT: Weights = (0.0, 1.0)
_CENTRE: Weights = (math.sqrt(0.5), math.sqrt(0.5))
_LFE: Weights = (0.0, 0.0)
# Indexed by dwChannelMask bit: FL FR FC LFE BL BR FLC FRC BC SL SR TC TFL TFC TFR TBL TBC TBR.
_SPEAKER_WEIGHTS: tuple[Weights, ...] = (
    *(_LEFT, _RIGHT, _CENTRE, _LFE, _LEFT, _RIGHT, _LEFT, _RIGHT, _CENTRE),
    *(_LEFT, _RIGHT, _CENTRE, _LEFT, _CENTRE, _RIGHT, _LEFT, _CENTRE, _RIGHT),
)
# Layouts assumed when a file carries no channel mask (plain WAVE_FORMAT_PCM with >2
# channels): 3.0, quad, 5.0, 5.1, 6.1, 7.1 — the Windows defaults for those counts.
_DEFAULT_CHANNEL_MASKS = {3: 0x7, 4: 0x33, 5: 0x37, 6: 0x3F, 7: 0x13F, 8: 0x63F}


def nearest_mp3_sample_rate(sample_rate: int) -> int:
    """The rate MP3 can carry that is closest to ``sample_rate`` (ties go to the higher)."""
    return min(MP3_SAMPLE_RATES, key=lambda rate: (abs(rate - sample_rate), -rate))


def resampled_length(frames: int, in_rate: int, out_rate: int) -> int:
    """How many frames soxr makes of ``frames`` (what the MP3 decodes to)."""
    return frames if in_rate == out_rate else round(frames * out_rate / in_rate)


def stereo_downmix_matrix(channels: int, channel_mask: int | None) -> Float32Array:
    """A ``(channels, 2)`` matrix folding ``channels`` to stereo; see the module docstring.

    Channels without a known position (more channels than the mask names, or more than
    eight without a mask) alternate left, right, left, ...
    """
    mask = channel_mask or _DEFAULT_CHANNEL_MASKS.get(channels, 0)
    positions = [bit for bit in range(32) if mask >> bit & 1][:channels]
    rows = [
        _SPEAKER_WEIGHTS[positions[index]]
        if index < len(positions) and positions[index] < len(_SPEAKER_WEIGHTS)
        else (_LEFT if index % 2 == 0 else _RIGHT)
        for index in range(channels)
    ]
    matrix = np.array(rows, dtype=np.float64)
    totals: npt.NDArray[np.float64] = matrix.sum(axis=0)
    if not totals.all():
        # A layout with nothing on one side (e.g. only LFE channels): plain average.
        matrix = np.ones((channels, 2), dtype=np.float64)
        totals = matrix.sum(axis=0)
    return (matrix / totals).astype(np.float32)


def float_to_int16(block: Float32Array) -> Int16Array:
    """Scale [-1, 1) floats to C-contiguous int16 with clipping (NaN → 0), as lameenc wants."""
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = np.multiply(block, 32768.0, dtype=np.float32)
    np.nan_to_num(scaled, copy=False, nan=0.0, posinf=32767.0, neginf=-32768.0)
    np.clip(scaled, -32768.0, 32767.0, out=scaled)
    np.rint(scaled, out=scaled)
    return scaled.astype(np.int16)


class PcmReader:
    """Blocks of ``wav`` at ``out_rate`` in 1 or 2 channels, times ``gain``.

    ``block_frames`` bounds the frames of every block *produced* (upsampling from a low rate
    reads fewer input frames at a time). ``frames_in`` / ``frames_out`` count what was read
    and produced so far.
    """

    def __init__(
        self,
        wav: OpenWav,
        out_rate: int,
        *,
        block_frames: int,
        max_duration_s: float | None,
        gain: float = 1.0,
    ) -> None:
        info = wav.info
        self._wav = wav
        self._max_duration_s = max_duration_s
        self.in_rate = info.sample_rate
        self.out_rate = out_rate
        self.channels = 1 if info.channels == 1 else 2
        self._downmix = (
            stereo_downmix_matrix(info.channels, info.channel_mask) if info.channels > 2 else None
        )
        self._gain = np.float32(gain)
        self._resample = self.in_rate != out_rate
        per_block = min(block_frames, _MAX_BLOCK_SAMPLES // info.channels)
        if self._resample and out_rate > self.in_rate:
            per_block = per_block * self.in_rate // out_rate
        self._read_frames = max(1, per_block)
        self.expected_frames_out = resampled_length(info.frames, self.in_rate, out_rate)
        self.direct = (
            info.codec == "PCM_16" and self._downmix is None and not self._resample and gain == 1
        )
        self.frames_in = 0
        self.frames_out = 0

    def _read(self, dtype: str, buffer: npt.NDArray[Any]) -> Iterator[npt.NDArray[Any]]:
        while True:
            try:
                block = self._wav.sound.read(self._read_frames, dtype=dtype, out=buffer)
            except sf.LibsndfileError as exc:
                raise Unprocessable(
                    f"The WAV audio cannot be decoded after "
                    f"{self.frames_in / self.in_rate:.1f} s ({exc.error_string}).",
                    code="decode_failed",
                ) from exc
            if len(block) == 0:
                return
            self.frames_in += len(block)
            # Frame counts of compressed codecs can be estimates: keep enforcing the limit.
            check_duration(self.frames_in / self.in_rate, self._max_duration_s)
            yield block

    def float_blocks(self) -> Iterator[Float32Array]:
        """float32 ``(frames, channels)`` blocks; each is only valid until the next one."""
        channels = self._wav.info.channels
        buffer = np.empty((self._read_frames, channels), dtype=np.float32)
        resampler = (
            soxr.ResampleStream(self.in_rate, self.out_rate, self.channels, dtype="float32")
            if self._resample
            else None
        )
        for raw in self._read("float32", buffer):
            block: npt.NDArray[np.float32] = raw if self._downmix is None else raw @ self._downmix
            if self._gain != 1:
                block = block * self._gain
            if resampler is not None:
                block = resampler.resample_chunk(block)
            if len(block):
                self.frames_out += len(block)
                yield block
        if resampler is not None:
            tail: Float32Array = resampler.resample_chunk(
                np.zeros((0, self.channels), dtype=np.float32), last=True
            )
            if len(tail):
                self.frames_out += len(tail)
                yield tail

    def int16_blocks(self) -> Iterator[Int16Array]:
        """C-contiguous int16 ``(frames, channels)`` blocks, as lameenc takes them."""
        if not self.direct:
            for block in self.float_blocks():
                yield float_to_int16(block)
            return
        buffer = np.empty((self._read_frames, self.channels), dtype=np.int16)
        for pcm in self._read("int16", buffer):
            self.frames_out += len(pcm)
            yield pcm
