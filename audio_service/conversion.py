"""Streaming WAV → MP3 (CBR) conversion with soundfile (decode) and lameenc (encode).

Blocking and CPU-bound: call it from a worker thread, never on the event loop. Memory stays
bounded whatever the input length: the WAV is decoded ``block_frames`` at a time and each
block's MP3 bytes go straight to ``dst``.

Choices that are not obvious (see also shared/notes/audio-encoding.md):
- Decode as float32 and convert to int16 here: ``read(dtype="int16")`` on a float WAV
  returns unscaled values, i.e. silence.
- Read with a ``read(n)`` loop, not ``SoundFile.blocks()``, which fails on GSM 6.10.
- CBR only: lameenc writes no Xing/LAME info header, without which VBR durations are
  misread by decoders. The same missing header means decoders return LAME's 576-sample
  encoder delay and its end padding (576 samples up to 576 + one frame) as extra length:
  1152-2303 samples at 32-48 kHz, 1152-1727 below.
- Rates MP3 cannot carry are resampled by LAME itself (``set_out_sample_rate``) to the
  nearest rate it can, which is streaming and needs no code of ours.
- More than two channels are folded to stereo: each channel goes to the side its speaker
  position is on (from the EXTENSIBLE channel mask, else the usual layout for that channel
  count), centre channels to both sides at -3 dB, LFE dropped; each side is then divided by
  the sum of its weights, so the mix is a weighted average and cannot clip.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import lameenc
import numpy as np
import numpy.typing as npt
import soundfile as sf

from audio_service.wav_probe import InputFormat, check_duration, open_wav
from shared.errors import AppError, Unprocessable

MP3_SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
# MPEG-1 and MPEG-2/2.5 Layer III bitrates; LAME picks the nearest one the output rate allows
# (e.g. 128 kbps at 8 kHz becomes 64 kbps), and the result reports the one really used.
MP3_BITRATES_KBPS = frozenset(
    {8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 192, 224, 256, 320}
)

# Cap on samples per decoded block, so a file with many channels cannot blow up the buffers.
_MAX_BLOCK_SAMPLES = 1 << 19

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


class ConversionCancelled(Exception):
    """The caller's ``cancel`` event was set: the conversion stopped between two blocks."""


@dataclass(frozen=True, slots=True)
class ConversionResult:
    input: InputFormat
    output_sample_rate: int
    output_channels: int  # 1 or 2
    bitrate_kbps: int  # as written in the MP3 frames (may be below the requested one)
    mp3_size: int
    sha256: str  # hex digest of the MP3 bytes
    duration_s: float  # of the audio encoded: decoded input frames / input rate


@dataclass(frozen=True, slots=True)
class Mp3FrameHeader:
    version: str  # "MPEG-1" | "MPEG-2" | "MPEG-2.5"
    sample_rate: int
    bitrate_kbps: int
    channels: int


_MPEG_VERSIONS = {0b11: "MPEG-1", 0b10: "MPEG-2", 0b00: "MPEG-2.5"}
_MPEG_SAMPLE_RATES = {
    0b11: (44100, 48000, 32000),
    0b10: (22050, 24000, 16000),
    0b00: (11025, 12000, 8000),
}
_LAYER3_BITRATES = {
    "MPEG-1": (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    "MPEG-2": (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}


def parse_mp3_frame_header(header: bytes) -> Mp3FrameHeader | None:
    """Decode a 4-byte MPEG audio Layer III frame header; None if it is not one."""
    if len(header) < 4:
        return None
    word = int.from_bytes(header[:4], "big")
    version_bits = (word >> 19) & 0b11
    layer_bits = (word >> 17) & 0b11
    bitrate_index = (word >> 12) & 0xF
    rate_index = (word >> 10) & 0b11
    if (
        word >> 21 != 0x7FF
        or version_bits not in _MPEG_VERSIONS
        or layer_bits != 0b01
        or bitrate_index in (0, 0xF)
        or rate_index == 0b11
    ):
        return None
    version = _MPEG_VERSIONS[version_bits]
    bitrates = _LAYER3_BITRATES["MPEG-1" if version == "MPEG-1" else "MPEG-2"]
    return Mp3FrameHeader(
        version=version,
        sample_rate=_MPEG_SAMPLE_RATES[version_bits][rate_index],
        bitrate_kbps=bitrates[bitrate_index],
        channels=1 if (word >> 6) & 0b11 == 0b11 else 2,
    )


def nearest_mp3_sample_rate(sample_rate: int) -> int:
    """The rate MP3 can carry that is closest to ``sample_rate`` (ties go to the higher)."""
    return min(MP3_SAMPLE_RATES, key=lambda rate: (abs(rate - sample_rate), -rate))


def stereo_downmix_matrix(channels: int, channel_mask: int | None) -> npt.NDArray[np.float32]:
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


def float_to_int16(block: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    """Scale [-1, 1) floats to C-contiguous int16 with clipping (NaN → 0), as lameenc wants."""
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = np.multiply(block, 32768.0, dtype=np.float32)
    np.nan_to_num(scaled, copy=False, nan=0.0, posinf=32767.0, neginf=-32768.0)
    np.clip(scaled, -32768.0, 32767.0, out=scaled)
    np.rint(scaled, out=scaled)
    return scaled.astype(np.int16)


class _Mp3Sink:
    """Writes MP3 bytes to ``dst`` as they come, hashing and counting them."""

    def __init__(self, dst: BinaryIO) -> None:
        self._dst = dst
        self._sha256 = hashlib.sha256()
        self.size = 0
        self.head = b""

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._dst.write(chunk)
        self._sha256.update(chunk)
        self.size += len(chunk)
        if len(self.head) < 4:
            self.head += bytes(chunk[: 4 - len(self.head)])

    def hexdigest(self) -> str:
        return self._sha256.hexdigest()


def _check_options(
    bitrate_kbps: int, quality: int, max_duration_s: float | None, block_frames: int
) -> None:
    # Programming errors, not client errors: these come from settings, not from uploads.
    if bitrate_kbps not in MP3_BITRATES_KBPS:
        raise ValueError(f"bitrate_kbps must be one of {sorted(MP3_BITRATES_KBPS)}")
    if not 0 <= quality <= 9:
        raise ValueError("quality must be 0 (best, slowest) .. 9 (worst, fastest)")
    if max_duration_s is not None and not max_duration_s > 0:
        raise ValueError("max_duration_s must be positive or None")
    if block_frames < 1:
        raise ValueError("block_frames must be positive")


def convert_wav_to_mp3(
    src: Path,
    dst: BinaryIO,
    *,
    bitrate_kbps: int = 128,
    quality: int = 3,
    max_duration_s: float | None = None,
    block_frames: int = 65536,
    cancel: threading.Event | None = None,
) -> ConversionResult:
    """Validate the WAV at ``src`` and write it to ``dst`` as CBR MP3 (blocking).

    ``cancel``, once set (from another thread), ends the conversion before the next block
    with ``ConversionCancelled``; ``dst`` then holds a partial MP3.

    Refusals (``shared.errors``, each with ``extra["code"]``) are raised before anything is
    written, except ``too_long`` when a codec's frame count was an underestimate and
    ``decode_failed``: then ``dst`` holds a partial MP3 and the caller must discard it, as
    after any exception.
    """
    _check_options(bitrate_kbps, quality, max_duration_s, block_frames)
    with open_wav(src, max_duration_s=max_duration_s) as wav:
        info = wav.info
        out_rate = nearest_mp3_sample_rate(info.sample_rate)
        out_channels = 1 if info.channels == 1 else 2
        downmix = (
            stereo_downmix_matrix(info.channels, info.channel_mask) if info.channels > 2 else None
        )

        encoder = lameenc.Encoder()
        encoder.set_bit_rate(bitrate_kbps)
        encoder.set_in_sample_rate(info.sample_rate)
        encoder.set_out_sample_rate(out_rate)
        encoder.set_channels(out_channels)
        encoder.set_quality(quality)

        sink = _Mp3Sink(dst)
        frames_per_block = max(1, min(block_frames, _MAX_BLOCK_SAMPLES // info.channels))
        # 16-bit PCM in 1 or 2 channels is what LAME takes: read as is (exact), it skips the
        # float round trip, ~5 % of a conversion. Every other format goes through float32
        # (reading a float WAV as int16 returns unscaled values: see float_to_int16).
        direct = info.codec == "PCM_16" and downmix is None
        read_dtype = "int16" if direct else "float32"
        buffer = np.empty((frames_per_block, info.channels), dtype=read_dtype)
        frames_done = 0
        while True:
            if cancel is not None and cancel.is_set():
                raise ConversionCancelled(f"cancelled after {frames_done} frames")
            try:
                block = wav.sound.read(frames_per_block, dtype=read_dtype, out=buffer)
            except sf.LibsndfileError as exc:
                raise Unprocessable(
                    f"The WAV audio cannot be decoded after {frames_done / info.sample_rate:.1f}"
                    f" s ({exc.error_string}).",
                    code="decode_failed",
                ) from exc
            if len(block) == 0:
                break
            frames_done += len(block)
            # Frame counts of compressed codecs can be estimates: keep enforcing the limit.
            check_duration(frames_done / info.sample_rate, max_duration_s)
            mixed = block if downmix is None else block @ downmix
            sink.write(encoder.encode(mixed if direct else float_to_int16(mixed)))
        if frames_done == 0:
            raise Unprocessable("The WAV file contains no audio frames.", code="no_audio")
        sink.write(encoder.flush())

    header = parse_mp3_frame_header(sink.head)
    if header is None or header.sample_rate != out_rate or header.channels != out_channels:
        raise AppError("The MP3 encoder produced an invalid stream.", code="encoder_failed")
    return ConversionResult(
        input=info,
        output_sample_rate=out_rate,
        output_channels=out_channels,
        bitrate_kbps=header.bitrate_kbps,
        mp3_size=sink.size,
        sha256=sink.hexdigest(),
        duration_s=frames_done / info.sample_rate,
    )
