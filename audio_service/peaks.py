"""Waveform peaks for players: computed while converting, stored, reduced on request.

Resolution: 256 samples per pixel at the MP3's sample rate (the finest zoom players offer:
~5 ms a pixel at 48 kHz), doubled as often as needed to keep at most ``MAX_PIXELS`` pixels.
So the stored peaks are bounded whatever the length: at most 65,536 pixels x 2 channels x
min/max x 16 bits = 512 KiB (a 60 s stereo file at 44.1 kHz: 10,336 pixels, 81 KiB).

Storage is the audiowaveform *binary* format version 2 (``.dat``: a 24-byte header, then
per pixel and channel a 16-bit min and max), which peaks.js also loads as it is. The JSON
format version 2 that wavesurfer.js and peaks.js load (``waveform_json``) is derived from it
for any pixel count.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

BASE_SAMPLES_PER_PIXEL = 256
MAX_PIXELS = 1 << 16
FORMAT_VERSION = 2
_HEADER = struct.Struct("<iIiiIi")  # version, flags, rate, samples/pixel, length, channels
_FLAG_8_BIT = 0x1

Int16Array = npt.NDArray[np.int16]


def samples_per_pixel_for(frames: int) -> int:
    """The finest resolution (256 x a power of two) that fits ``frames`` in MAX_PIXELS."""
    spp = BASE_SAMPLES_PER_PIXEL
    while math.ceil(frames / spp) > MAX_PIXELS:
        spp *= 2
    return spp


@dataclass(frozen=True, eq=False)
class Peaks:
    """Min/max per pixel and channel: ``data[pixel, channel] == (min, max)`` (int16)."""

    sample_rate: int
    samples_per_pixel: int
    data: Int16Array = field(repr=False)

    @property
    def length(self) -> int:
        return int(self.data.shape[0])

    @property
    def channels(self) -> int:
        return int(self.data.shape[1])

    def to_bytes(self) -> bytes:
        """The audiowaveform binary format version 2, 16-bit."""
        header = _HEADER.pack(
            FORMAT_VERSION, 0, self.sample_rate, self.samples_per_pixel, self.length, self.channels
        )
        return header + self.data.astype("<i2").tobytes()

    @classmethod
    def from_bytes(cls, blob: bytes) -> Peaks:
        if len(blob) < _HEADER.size:
            raise ValueError("peaks data too short for its header")
        version, flags, rate, spp, length, channels = _HEADER.unpack_from(blob)
        if version != FORMAT_VERSION or flags & _FLAG_8_BIT or channels < 1 or spp < 1:
            raise ValueError(f"unsupported peaks data (version {version}, flags {flags:#x})")
        body = np.frombuffer(blob, dtype="<i2", offset=_HEADER.size)
        if body.size != length * channels * 2:
            raise ValueError(f"peaks data holds {body.size} values, its header says more")
        return cls(rate, spp, body.astype(np.int16).reshape(length, channels, 2))


class PeakAccumulator:
    """Builds ``Peaks`` from planar blocks ``(channels, frames)`` of int16 values as they come
    (any numeric dtype holding them: the conversion hands float32 copies)."""

    def __init__(self, sample_rate: int, channels: int, expected_frames: int) -> None:
        self.sample_rate = sample_rate
        self.channels = channels
        self.samples_per_pixel = samples_per_pixel_for(expected_frames)
        self._done: list[Int16Array] = []  # completed pixels, (n, channels, 2) each
        self._count = 0
        # The pixel being filled: how many samples it has, and its min/max so far.
        self._partial_n = 0
        self._partial = np.zeros((channels, 2), dtype=np.int16)

    def add(self, block: npt.NDArray[Any]) -> None:
        spp = self.samples_per_pixel
        frames = block.shape[1]
        start = 0
        if self._partial_n:
            start = min(frames, spp - self._partial_n)
            self._merge_partial(block[:, :start], start)
            if self._partial_n == spp:
                pixel = self._partial.reshape(1, self.channels, 2).copy()
                self._partial_n = 0  # before _complete, which may refill it when halving
                self._complete(pixel)
        whole = (frames - start) // spp
        if whole:
            pixels = block[:, start : start + whole * spp].reshape(self.channels, whole, spp)
            minmax = np.stack([pixels.min(axis=2), pixels.max(axis=2)], axis=-1)
            self._complete(minmax.transpose(1, 0, 2).astype(np.int16))
        rest = start + whole * spp
        if rest < frames:
            self._merge_partial(block[:, rest:], frames - rest)

    def _merge_partial(self, samples: npt.NDArray[Any], count: int) -> None:
        if count == 0:
            return
        low, high = samples.min(axis=1), samples.max(axis=1)
        if self._partial_n:
            low = np.minimum(low, self._partial[:, 0])
            high = np.maximum(high, self._partial[:, 1])
        self._partial = np.stack([low, high], axis=-1).astype(np.int16)
        self._partial_n += count

    def _complete(self, pixels: Int16Array) -> None:
        self._done.append(pixels)
        self._count += len(pixels)
        if self._count > MAX_PIXELS:
            self._halve()

    def _halve(self) -> None:
        # More audio than the expected length said (a compressed codec's estimate): merge
        # pixel pairs. An odd last pixel becomes the first half of the new partial one.
        done = np.concatenate(self._done)
        if len(done) % 2:
            last, done = done[-1], done[:-1]
            if self._partial_n:
                last = np.stack(
                    [
                        np.minimum(last[:, 0], self._partial[:, 0]),
                        np.maximum(last[:, 1], self._partial[:, 1]),
                    ],
                    axis=-1,
                )
            self._partial = last
            self._partial_n += self.samples_per_pixel
        pairs = done.reshape(-1, 2, self.channels, 2)
        merged = np.stack([pairs[:, :, :, 0].min(axis=1), pairs[:, :, :, 1].max(axis=1)], -1)
        self._done = [merged]
        self._count = len(merged)
        self.samples_per_pixel *= 2

    def finish(self) -> Peaks:
        parts = list(self._done)
        if self._partial_n:
            parts.append(self._partial.reshape(1, self.channels, 2))
        data = np.concatenate(parts) if parts else np.zeros((0, self.channels, 2), np.int16)
        return Peaks(self.sample_rate, self.samples_per_pixel, data.astype(np.int16))


def reduce_peaks(peaks: Peaks, pixels: int) -> Peaks:
    """At most ``pixels`` pixels: groups of whole stored pixels merged (min of mins, ...)."""
    if pixels < 1:
        raise ValueError("pixels must be at least 1")
    group = max(1, math.ceil(peaks.length / pixels))
    if group == 1:
        return peaks
    count = math.ceil(peaks.length / group)
    padded = np.empty((count * group, peaks.channels, 2), dtype=np.int16)
    padded[: peaks.length] = peaks.data
    padded[peaks.length :] = peaks.data[-1]  # repeating the last pixel changes no min/max
    groups = padded.reshape(count, group, peaks.channels, 2)
    data = np.stack([groups[..., 0].min(axis=1), groups[..., 1].max(axis=1)], axis=-1)
    return Peaks(peaks.sample_rate, peaks.samples_per_pixel * group, data)


def waveform_json(peaks: Peaks, pixels: int, bits: int = 8) -> dict[str, object]:
    """The audiowaveform JSON format version 2 of ``peaks`` in at most ``pixels`` pixels.

    ``data`` holds, pixel after pixel, each channel's min then max. For 8 bits the values
    are scaled by 1/256 rounding outwards, so the envelope never shrinks.
    """
    if bits not in (8, 16):
        raise ValueError("bits must be 8 or 16")
    reduced = reduce_peaks(peaks, pixels)
    values = reduced.data.astype(np.int32)
    if bits == 8:
        values[..., 0] = values[..., 0] >> 8  # floor
        values[..., 1] = np.minimum(-((-values[..., 1]) >> 8), 127)  # ceiling
    return {
        "version": FORMAT_VERSION,
        "channels": reduced.channels,
        "sample_rate": reduced.sample_rate,
        "samples_per_pixel": reduced.samples_per_pixel,
        "bits": bits,
        "length": reduced.length,
        "data": values.reshape(-1).tolist(),
    }
