"""Streaming WAV → MP3 conversion: decode (soundfile), encode (lameenc), tag, measure.

Blocking and CPU-bound: call it from a worker thread, never on the event loop. Memory stays
bounded whatever the input length: the WAV is decoded a block at a time, each block's MP3
bytes go straight to ``dst``, and what is measured along the way is bounded (``peaks``,
``loudness``).

One pass over the audio does everything (two with loudness normalisation, whose gain must be
known before encoding):

    WAV ─ decode, fold to stereo, resample (pcm) ─┬─ LAME (lameenc) ─ frames → dst (mp3_stream)
                                                  └─ loudness + peaks, in a helper thread

The helper thread measures block *i* while LAME (which releases the GIL) encodes it, so the
measuring costs a single upload no time as long as a core is free. The file is laid out as
ID3v2 tag (mp3_tags), then the Xing/Info frame with the LAME extension (lametag), written
last into space reserved for it, then the audio; ``sha256`` and ``mp3_size`` cover it all.

Exact length: LAME 3.100 starts 576 samples late and pads the end to whole frames; the Info
frame says both (padding = frames x samples per frame - 576 - samples fed), so decoders that
read it (ffmpeg, browsers, mutagen) return exactly the samples fed: the input's frame count,
or ``round(frames x out_rate / in_rate)`` when resampled.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import lameenc
import numpy as np

from audio_service.lametag import (
    LAME_ENCODER_DELAY,
    TagFields,
    build_info_frame,
    tag_frame_header,
)
from audio_service.loudness import Loudness, LoudnessMeter, Normalization, normalization_gain
from audio_service.mp3_stream import (
    Mp3FrameHeader,
    Mp3Stream,
    Mp3StreamError,
    TaggedMp3Writer,
    parse_mp3_frame_header,
)
from audio_service.mp3_tags import Mp3Tags, id3v2_tag
from audio_service.pcm import (
    MP3_SAMPLE_RATES,
    Int16Array,
    PcmReader,
    float_to_int16,
    nearest_mp3_sample_rate,
    stereo_downmix_matrix,
)
from audio_service.peaks import PeakAccumulator, Peaks
from audio_service.wav_probe import InputFormat, OpenWav, open_wav
from shared.errors import AppError, Unprocessable

__all__ = [
    "MP3_BITRATES_KBPS",
    "MP3_SAMPLE_RATES",
    "ConversionResult",
    "Mp3FrameHeader",
    "Mp3Mode",
    "convert_wav_to_mp3",
    "float_to_int16",
    "nearest_mp3_sample_rate",
    "parse_mp3_frame_header",
    "stereo_downmix_matrix",
]

# MPEG-1 and MPEG-2/2.5 Layer III bitrates; LAME picks the nearest one the output rate allows
# (e.g. 128 kbps at 8 kHz becomes 64 kbps), and the result reports the one really used.
MP3_BITRATES_KBPS = frozenset(
    {8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 192, 224, 256, 320}
)
Mp3Mode = Literal["cbr", "vbr"]
MP3_MODES: tuple[Mp3Mode, ...] = ("cbr", "vbr")
# The LAME inside the lameenc wheel (lameenc does not say; its build pins this version).
LAME_VERSION = "3.100"
# lameenc's mode number for LAME's default VBR algorithm (vbr_mtrh, what ``lame -V`` uses).
_LAMEENC_VBR_MTRH = 4
# EBU R128's ceiling for a normalised file's true peak.
DEFAULT_MAX_TRUE_PEAK_DBTP = -1.0
_DIGEST_BLOCK = 1 << 20


class ConversionCancelled(Exception):
    """The caller's ``cancel`` event was set: the conversion stopped between two blocks."""


@dataclass(frozen=True, slots=True)
class ConversionResult:
    input: InputFormat
    output_sample_rate: int
    output_channels: int  # 1 or 2
    # CBR: as written in the MP3 frames (may be below the requested one); VBR: the mean.
    bitrate_kbps: int
    mp3_size: int  # the whole file: ID3v2 tag, Info frame and audio frames
    sha256: str  # hex digest of the whole file
    duration_s: float  # of the audio encoded: decoded input frames / input rate
    mode: Mp3Mode = "cbr"
    vbr_quality: int | None = None  # LAME -V 0-9 for VBR, None for CBR
    mean_bitrate_kbps: float = 0.0  # audio frames' bytes x 8 / their duration
    output_frames: int = 0  # samples per channel a decoder returns (exactly)
    mp3_frames: int = 0  # audio frames, the Info frame not counted
    encoder_delay: int = LAME_ENCODER_DELAY  # samples, as written in the Info frame
    encoder_padding: int = 0  # samples, as written in the Info frame
    id3_size: int = 0  # bytes of the ID3v2 tag at the start
    loudness: Loudness | None = None  # of the PCM encoded (after normalisation)
    normalization: Normalization | None = None  # None: not asked for
    peaks: Peaks | None = None


def _check_options(
    bitrate_kbps: int,
    quality: int,
    max_duration_s: float | None,
    block_frames: int,
    mode: str,
    vbr_quality: int,
    normalize_lufs: float | None,
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
    if mode not in MP3_MODES:
        raise ValueError(f"mode must be one of {MP3_MODES}")
    if not 0 <= vbr_quality <= 9:
        raise ValueError("vbr_quality must be 0 (best, largest) .. 9 (smallest)")
    if normalize_lufs is not None and not -70 < normalize_lufs < 0:
        raise ValueError("normalize_lufs must be between -70 and 0 LUFS, or None")


def _check_destination(dst: BinaryIO) -> None:
    if not dst.seekable():
        raise ValueError("dst must be seekable: the Info frame is written last, at the start")
    if not dst.readable() and not isinstance(getattr(dst, "name", None), str | Path):
        raise ValueError("dst must be readable, or a file with a name, to hash it whole")


def _encoder(
    rate: int, channels: int, mode: Mp3Mode, bitrate_kbps: int, quality: int, vbr_quality: int
) -> lameenc.Encoder:
    encoder = lameenc.Encoder()
    if mode == "vbr":
        encoder.set_vbr(_LAMEENC_VBR_MTRH)
        encoder.set_vbr_quality(vbr_quality)
    else:
        encoder.set_bit_rate(bitrate_kbps)
    # PcmReader delivers a rate MP3 carries: LAME never resamples (see pcm.py).
    encoder.set_in_sample_rate(rate)
    encoder.set_out_sample_rate(rate)
    encoder.set_channels(channels)
    encoder.set_quality(quality)
    return encoder


def encoder_description(mode: Mp3Mode, bitrate_kbps: int, quality: int, vbr_quality: int) -> str:
    """The ID3 TSSE text: which encoder, which settings."""
    settings = f"VBR -V {vbr_quality}" if mode == "vbr" else f"CBR {bitrate_kbps} kbps"
    return f"LAME {LAME_VERSION} (lameenc), {settings}, -q {quality}"


class _Analysis:
    """Loudness and peaks of the PCM being encoded, one block at a time (helper thread)."""

    def __init__(self, rate: int, channels: int, expected_frames: int) -> None:
        self.meter = LoudnessMeter(rate, channels, full_scale=32768)
        self.peaks = PeakAccumulator(rate, channels, expected_frames)

    def __call__(self, block: Int16Array) -> None:
        # One planar float32 copy serves all three (its values are the int16 ones, exact).
        planar = block.T.astype(np.float32, order="C")
        self.peaks.add(planar)
        self.meter.add(planar)


def _measure(wav: OpenWav, rate: int, block_frames: int, max_duration_s: float | None) -> Loudness:
    """Loudness of what would be encoded, unclipped (normalisation's first pass)."""
    reader = PcmReader(wav, rate, block_frames=block_frames, max_duration_s=max_duration_s)
    meter = LoudnessMeter(rate, reader.channels)
    for block in reader.float_blocks():
        meter.add(block.T.astype(np.float32, order="C"))
    return meter.result()


def _no_audio(rate: int) -> Unprocessable:
    return Unprocessable(
        f"The WAV file contains no audio frames (none left at the MP3 rate of {rate} Hz).",
        code="no_audio",
    )


def _padding(stream: Mp3Stream, frames_fed: int) -> int:
    """Samples LAME added after the audio: all it framed, less its delay and what it was fed."""
    return stream.frames * stream.first_header.samples - LAME_ENCODER_DELAY - frames_fed


def _encoder_failed() -> AppError:
    return AppError("The MP3 encoder produced an invalid stream.", code="encoder_failed")


def _digest(dst: BinaryIO) -> str:
    """SHA-256 of everything in ``dst`` (the Info frame was written last, at the start)."""
    sha = hashlib.sha256()
    dst.flush()
    end = dst.tell()
    if dst.readable():
        dst.seek(0)
        while block := dst.read(_DIGEST_BLOCK):
            sha.update(block)
        dst.seek(end)
    else:
        with Path(dst.name).open("rb") as again:
            while block := again.read(_DIGEST_BLOCK):
                sha.update(block)
    return sha.hexdigest()


def convert_wav_to_mp3(
    src: Path,
    dst: BinaryIO,
    *,
    bitrate_kbps: int = 128,
    quality: int = 3,
    max_duration_s: float | None = None,
    block_frames: int = 65536,
    mode: Mp3Mode = "cbr",
    vbr_quality: int = 2,
    normalize_lufs: float | None = None,
    max_true_peak_dbtp: float = DEFAULT_MAX_TRUE_PEAK_DBTP,
    tags: Mp3Tags | None = None,
    cancel: threading.Event | None = None,
    progress: Callable[[float], None] | None = None,
) -> ConversionResult:
    """Validate the WAV at ``src`` and write it to ``dst`` as a tagged MP3 (blocking).

    ``dst`` must be empty and seekable, and readable or a named file (it is hashed whole at
    the end: open files with ``"x+b"`` to spare reopening them by name).
    ``bitrate_kbps`` applies to CBR, ``vbr_quality`` (LAME -V) to VBR; ``quality`` is LAME's
    algorithmic quality (-q) for both. ``normalize_lufs``: one gain for the whole file
    towards that integrated loudness, lowered so the true peak stays at or below
    ``max_true_peak_dbtp`` (costs a second decode).

    ``cancel``, once set (from another thread), ends the conversion before the next block
    with ``ConversionCancelled``; ``dst`` then holds a partial MP3. ``progress`` is called
    after each block with the share of the audio encoded so far (0..1).

    Refusals (``shared.errors``, each with ``extra["code"]``) are raised before anything is
    written, except ``too_long`` when a codec's frame count was an underestimate and
    ``decode_failed``: then ``dst`` holds a partial MP3 and the caller must discard it, as
    after any exception.
    """
    _check_options(
        bitrate_kbps, quality, max_duration_s, block_frames, mode, vbr_quality, normalize_lufs
    )
    _check_destination(dst)
    vbr = mode == "vbr"
    normalization: Normalization | None = None
    gain = 1.0
    with open_wav(src, max_duration_s=max_duration_s) as wav:
        out_rate = nearest_mp3_sample_rate(wav.info.sample_rate)
        if normalize_lufs is not None:
            normalization = normalization_gain(
                _measure(wav, out_rate, block_frames, max_duration_s),
                normalize_lufs,
                max_true_peak_dbtp,
            )
            gain = 10 ** (normalization.gain_db / 20)
    # The first pass consumed the file; a fresh open is simpler than seeking every codec.
    with open_wav(src, max_duration_s=max_duration_s) as wav:
        info = wav.info
        reader = PcmReader(
            wav, out_rate, block_frames=block_frames, max_duration_s=max_duration_s, gain=gain
        )
        if reader.expected_frames_out == 0:
            raise _no_audio(out_rate)
        out_channels = reader.channels
        encoder = _encoder(out_rate, out_channels, mode, bitrate_kbps, quality, vbr_quality)
        id3 = id3v2_tag(
            tags or Mp3Tags(), encoder_description(mode, bitrate_kbps, quality, vbr_quality)
        )
        writer = TaggedMp3Writer(dst, id3, lambda first: tag_frame_header(first, vbr=vbr).length)
        analysis = _Analysis(out_rate, out_channels, reader.expected_frames_out)
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mp3-analysis") as helper:
                for block in reader.int16_blocks():
                    if cancel is not None and cancel.is_set():
                        raise ConversionCancelled(f"cancelled after {reader.frames_out} frames")
                    measured = helper.submit(analysis, block)
                    writer.write(encoder.encode(block))
                    # Before the next read: the reader may reuse this block's buffer.
                    measured.result()
                    if progress is not None:
                        progress(min(1.0, reader.frames_out / reader.expected_frames_out))
            if reader.frames_out == 0:
                raise _no_audio(out_rate)
            writer.write(encoder.flush())
        except (RuntimeError, Mp3StreamError) as exc:  # lameenc's errors, or frames we reject
            raise _encoder_failed() from exc

    loudness = analysis.meter.result()
    frames_out = reader.frames_out

    def build(stream: Mp3Stream, reserved: int) -> bytes:
        header = stream.first_header
        if header.sample_rate != out_rate or header.channels != out_channels:
            raise _encoder_failed()
        fields = TagFields(
            encoder_delay=LAME_ENCODER_DELAY,
            padding=_padding(stream, frames_out),
            quality=quality,
            vbr_quality=vbr_quality if vbr else None,
            source_sample_rate=info.sample_rate,
            peak=loudness.sample_peak,
            loudness_lufs=loudness.integrated_lufs,
        )
        return build_info_frame(stream, tag_frame_header(header, vbr=vbr), fields)

    try:
        stream, size = writer.finish(build)
    except (ValueError, Mp3StreamError) as exc:  # e.g. padding beyond the tag's 12 bits
        raise _encoder_failed() from exc
    first = stream.first_header
    mean_kbps = stream.audio_bytes * 8 * out_rate / (stream.frames * first.samples) / 1000
    return ConversionResult(
        input=info,
        output_sample_rate=out_rate,
        output_channels=out_channels,
        bitrate_kbps=round(mean_kbps) if vbr else first.bitrate_kbps,
        mp3_size=size,
        sha256=_digest(dst),
        duration_s=reader.frames_in / info.sample_rate,
        mode=mode,
        vbr_quality=vbr_quality if vbr else None,
        mean_bitrate_kbps=round(mean_kbps, 3),
        output_frames=frames_out,
        mp3_frames=stream.frames,
        encoder_delay=LAME_ENCODER_DELAY,
        encoder_padding=_padding(stream, frames_out),
        id3_size=len(id3),
        loudness=loudness,
        normalization=normalization,
        peaks=analysis.peaks.finish(),
    )
