"""WAV test files of every flavour the audio service must accept or refuse, plus analysis.

The one tone generator of the tests is here, for in-process and end-to-end tests alike.
Files go into a directory the caller owns (``tmp_path``):

- ``tone_wav`` / ``write_tone_wav``: sine tones with soundfile, any container/subtype/rate.
- ``ACCEPTED_VARIANTS``: named ``WavVariant``s (codecs, rates, channel counts, broken size
  fields, extra chunks); ``variant.write(directory)``.
- ``REJECTED_FILES``: named ``BadWav``s with the error class and ``code`` they must raise.
- ``wav_bytes`` / ``set_size_fields``: hand-crafted RIFF/WAVE bytes for cases soundfile
  will not write.
- ``decode_mp3`` / ``tone_level`` / ``dominant_frequency``: check that an MP3 holds the tone.

Each channel ``i`` carries its own frequency ``tone_frequencies(n)[i]``, so a test can tell
channels apart after a downmix or a swap.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lameenc
import numpy as np
import numpy.typing as npt
import soundfile as sf

from shared.errors import AppError, Unprocessable, UnsupportedMediaType

FloatArray = npt.NDArray[np.float64]

# Per-channel tone frequencies, in WAVE channel order (FL FR FC LFE BL BR SL SR): all below
# 1 kHz so they survive the lowpass LAME applies at 8 kHz, and no two within 40 Hz.
CHANNEL_FREQUENCIES = (440.0, 660.0, 550.0, 110.0, 330.0, 770.0, 495.0, 880.0)

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
# The tail of KSDATAFORMAT_SUBTYPE_* GUIDs, after the two bytes of the format tag.
KSDATAFORMAT_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")


def tone_frequencies(channels: int) -> tuple[float, ...]:
    """The frequency of each channel's tone (cycling after eight channels)."""
    return tuple(CHANNEL_FREQUENCIES[i % len(CHANNEL_FREQUENCIES)] for i in range(channels))


def sine_tones(
    *,
    sample_rate: int,
    channels: int,
    duration_s: float,
    frequencies: tuple[float, ...] | None = None,
    amplitude: float = 0.5,
) -> FloatArray:
    """``(frames, channels)`` float64 samples: one sine per channel."""
    freqs = frequencies or tone_frequencies(channels)
    t = np.arange(round(duration_s * sample_rate)) / sample_rate
    return np.stack([amplitude * np.sin(2 * np.pi * f * t) for f in freqs[:channels]], axis=1)


def tone_wav(
    frequency_hz: float | None = None,
    duration_s: float = 0.5,
    *,
    sample_rate: int = 44100,
    channels: int = 1,
    subtype: str = "PCM_16",
    container: str = "WAV",
    frequencies: tuple[float, ...] | None = None,
    amplitude: float = 0.5,
) -> bytes:
    """The bytes of a WAV of sine tones, written by soundfile: every channel at
    ``frequency_hz``, or each at its own (``frequencies``, else ``tone_frequencies``).
    ``container`` is "WAV", "WAVEX" or "RF64"; ``subtype`` any soundfile subtype."""
    if frequency_hz is not None:
        frequencies = (frequency_hz,) * channels
    samples = sine_tones(
        sample_rate=sample_rate,
        channels=channels,
        duration_s=duration_s,
        frequencies=frequencies,
        amplitude=amplitude,
    )
    buffer = io.BytesIO()
    sf.write(buffer, samples, sample_rate, subtype=subtype, format=container)
    return buffer.getvalue()


def write_tone_wav(path: Path, **options: Any) -> Path:
    """``tone_wav(**options)`` written to ``path``."""
    path.write_bytes(tone_wav(**options))
    return path


# --- hand-crafted bytes -------------------------------------------------------------------


def chunk(chunk_id: bytes, body: bytes) -> bytes:
    """A RIFF chunk, with the pad byte odd sizes need."""
    return chunk_id + struct.pack("<I", len(body)) + body + b"\0" * (len(body) & 1)


def wav_bytes(
    format_tag: int,
    data: bytes,
    *,
    channels: int = 1,
    sample_rate: int = 8000,
    bits_per_sample: int = 16,
    block_align: int | None = None,
    fmt_extra: bytes = b"",
    chunks_before_fmt: tuple[bytes, ...] = (),
) -> bytes:
    """A RIFF/WAVE file with the given fmt fields and ``data`` as its data chunk.

    ``fmt_extra`` follows the 16 basic fmt bytes (cbSize and whatever the codec needs).
    """
    align = block_align if block_align is not None else channels * bits_per_sample // 8
    fmt = struct.pack(
        "<HHIIHH", format_tag, channels, sample_rate, sample_rate * align, align, bits_per_sample
    )
    body = b"WAVE" + b"".join(chunks_before_fmt) + chunk(b"fmt ", fmt + fmt_extra)
    body += chunk(b"data", data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def extensible_fmt_extra(subformat_tag: int, *, valid_bits: int, channel_mask: int) -> bytes:
    """cbSize + WAVE_FORMAT_EXTENSIBLE fields for ``wav_bytes(0xFFFE, ...)``."""
    return struct.pack("<HHIH", 22, valid_bits, channel_mask, subformat_tag) + (
        KSDATAFORMAT_GUID_TAIL
    )


def _find_chunk(wav: bytes, chunk_id: bytes) -> int:
    pos = 12
    while pos + 8 <= len(wav):
        if wav[pos : pos + 4] == chunk_id:
            return pos
        (size,) = struct.unpack_from("<I", wav, pos + 4)
        pos += 8 + size + (size & 1)
    raise ValueError(f"no {chunk_id!r} chunk")


def set_size_fields(
    wav: bytes, *, riff_size: int | None = None, data_size: int | None = None
) -> bytes:
    """Overwrite the RIFF and/or data chunk size fields, as broken recorders leave them."""
    out = bytearray(wav)
    if riff_size is not None:
        out[4:8] = struct.pack("<I", riff_size)
    if data_size is not None:
        pos = _find_chunk(wav, b"data")
        out[pos + 4 : pos + 8] = struct.pack("<I", data_size)
    return bytes(out)


def set_rf64_data_size(wav: bytes, data_size: int) -> bytes:
    """Overwrite the 64-bit data size in an RF64 file's ds64 chunk."""
    pos = _find_chunk(wav, b"ds64")
    out = bytearray(wav)
    out[pos + 16 : pos + 24] = struct.pack("<Q", data_size)
    return bytes(out)


def insert_chunks_before_fmt(wav: bytes, *chunks: bytes) -> bytes:
    """Put extra chunks (LIST, JUNK, bext...) between the RIFF header and ``fmt ``."""
    pos = _find_chunk(wav, b"fmt ")
    extra = b"".join(chunks)
    out = wav[:pos] + extra + wav[pos:]
    return out[:4] + struct.pack("<I", len(out) - 8) + out[8:]


def mp3_bytes(duration_s: float = 0.5, sample_rate: int = 44100, channels: int = 1) -> bytes:
    """A real CBR 128 kbps MP3 of ``sine_tones``, made with lameenc."""
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(128)
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_channels(channels)
    encoder.set_quality(7)
    tones = sine_tones(sample_rate=sample_rate, channels=channels, duration_s=duration_s)
    pcm = np.ascontiguousarray((tones * 32767).astype(np.int16))
    return bytes(encoder.encode(pcm)) + bytes(encoder.flush())


def mp3_in_wav_bytes(duration_s: float = 0.5, sample_rate: int = 44100, channels: int = 2) -> bytes:
    """A WAV with format tag 0x0055 (MPEG Layer III), which libsndfile decodes."""
    # MPEGLAYER3WAVEFORMAT: cbSize, wID=MPEG, fdwFlags=padding off, nBlockSize,
    # nFramesPerBlock, nCodecDelay.
    block_size = 144 * 128_000 // sample_rate
    extra = struct.pack("<HHIHHH", 12, 1, 2, block_size, 1, 1393)
    return wav_bytes(
        0x0055,
        mp3_bytes(duration_s, sample_rate, channels),
        channels=channels,
        sample_rate=sample_rate,
        bits_per_sample=0,
        block_align=1,
        fmt_extra=extra,
    )


# --- accepted variants --------------------------------------------------------------------

Rewrite = Callable[[bytes], bytes]


@dataclass(frozen=True)
class WavVariant:
    """A WAV the service must accept. ``rewrite`` alters soundfile's bytes afterwards."""

    name: str
    sample_rate: int = 44100
    channels: int = 2
    subtype: str = "PCM_16"
    container: str = "WAV"
    duration_s: float = 0.5
    rewrite: Rewrite | None = field(default=None, compare=False)

    @property
    def frequencies(self) -> tuple[float, ...]:
        return tone_frequencies(self.channels)

    @property
    def frames(self) -> int:
        return round(self.duration_s * self.sample_rate)

    def write(self, directory: Path) -> Path:
        path = directory / f"{self.name}.wav"
        write_tone_wav(
            path,
            sample_rate=self.sample_rate,
            channels=self.channels,
            duration_s=self.duration_s,
            subtype=self.subtype,
            container=self.container,
        )
        if self.rewrite is not None:
            path.write_bytes(self.rewrite(path.read_bytes()))
        return path


def _sizes(riff_size: int | None, data_size: int | None) -> Rewrite:
    return lambda wav: set_size_fields(wav, riff_size=riff_size, data_size=data_size)


def _with_list_chunks(wav: bytes) -> bytes:
    # An odd-sized chunk (needs its pad byte skipped) and a JUNK chunk before fmt.
    return insert_chunks_before_fmt(
        wav, chunk(b"LIST", b"INFOISFT\x05\0\0\0test\0"), chunk(b"JUNK", bytes(28))
    )


ACCEPTED_VARIANTS: tuple[WavVariant, ...] = (
    WavVariant("pcm_u8_mono_22k", 22050, 1, "PCM_U8"),
    WavVariant("pcm_16_stereo_44k", 44100, 2, "PCM_16"),
    WavVariant("pcm_24_stereo_48k", 48000, 2, "PCM_24"),
    WavVariant("pcm_32_mono_32k", 32000, 1, "PCM_32"),
    WavVariant("float_stereo_44k", 44100, 2, "FLOAT"),
    WavVariant("double_mono_16k", 16000, 1, "DOUBLE"),
    WavVariant("alaw_mono_8k", 8000, 1, "ALAW"),
    WavVariant("ulaw_stereo_8k", 8000, 2, "ULAW"),
    WavVariant("ima_adpcm_stereo_22k", 22050, 2, "IMA_ADPCM"),
    WavVariant("ms_adpcm_mono_11k", 11025, 1, "MS_ADPCM"),
    WavVariant("gsm610_mono_8k", 8000, 1, "GSM610", duration_s=1.0),
    WavVariant("g721_mono_8k", 8000, 1, "G721_32"),
    WavVariant("wavex_pcm_16_stereo_44k", 44100, 2, "PCM_16", "WAVEX"),
    WavVariant("wavex_pcm_24_mono_24k", 24000, 1, "PCM_24", "WAVEX"),
    WavVariant("wavex_float_stereo_48k", 48000, 2, "FLOAT", "WAVEX"),
    WavVariant("rf64_pcm_16_stereo_44k", 44100, 2, "PCM_16", "RF64"),
    WavVariant("pcm_16_mono_8k", 8000, 1, "PCM_16"),
    WavVariant("pcm_16_mono_12k", 12000, 1, "PCM_16"),
    WavVariant("pcm_24_stereo_96k", 96000, 2, "PCM_24"),
    WavVariant("pcm_24_stereo_192k", 192000, 2, "PCM_24", duration_s=0.25),
    WavVariant("pcm_16_stereo_88k", 88200, 2, "PCM_16", duration_s=0.25),
    WavVariant("pcm_16_mono_37k8", 37800, 1, "PCM_16"),
    WavVariant("pcm_16_6ch_48k", 48000, 6, "PCM_16"),
    WavVariant("wavex_pcm_16_6ch_44k", 44100, 6, "PCM_16", "WAVEX"),
    WavVariant("wavex_float_quad_44k", 44100, 4, "FLOAT", "WAVEX"),
    WavVariant("wavex_pcm_24_8ch_48k", 48000, 8, "PCM_24", "WAVEX"),
    WavVariant("data_size_0", 44100, 2, rewrite=_sizes(None, 0)),
    WavVariant("data_size_ffffffff", 44100, 2, rewrite=_sizes(None, 0xFFFFFFFF)),
    WavVariant("riff_and_data_size_0", 22050, 1, rewrite=_sizes(0, 0)),
    WavVariant("riff_and_data_size_ffffffff", 22050, 1, rewrite=_sizes(0xFFFFFFFF, 0xFFFFFFFF)),
    WavVariant("riff_size_0", 16000, 1, rewrite=_sizes(0, None)),
    WavVariant("data_size_too_big", 44100, 2, rewrite=_sizes(None, 10_000_000)),
    WavVariant(
        "rf64_ds64_data_size_0",
        44100,
        2,
        container="RF64",
        rewrite=lambda wav: set_rf64_data_size(wav, 0),
    ),
    WavVariant("odd_chunks_before_fmt", 44100, 2, rewrite=_with_list_chunks),
)


# --- refused files ------------------------------------------------------------------------


@dataclass(frozen=True)
class BadWav:
    """A file the service must refuse with ``error`` and ``extra["code"] == code``."""

    name: str
    make: Callable[[], bytes] = field(compare=False)
    error: type[AppError]
    code: str

    def write(self, directory: Path) -> Path:
        path = directory / f"{self.name}.wav"
        path.write_bytes(self.make())
        return path


def _real_wav(duration_s: float = 0.1) -> bytes:
    return tone_wav(duration_s=duration_s, sample_rate=8000)


def _ogg_bytes() -> bytes:
    buffer = io.BytesIO()
    tones = sine_tones(sample_rate=8000, channels=1, duration_s=0.2)
    sf.write(buffer, tones, 8000, format="OGG", subtype="VORBIS")
    return buffer.getvalue()


def _random_bytes(count: int = 4096, seed: int = 7) -> bytes:
    data = np.random.default_rng(seed).bytes(count)
    # Keep the first byte out of printable ASCII so no seed can form a plausible chunk id.
    return b"\x01" + data[1:]


def _zero_frames() -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros((0, 1)), 8000, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def _corrupt_fmt() -> bytes:
    # A PCM fmt chunk libsndfile rejects: zero channels.
    return wav_bytes(WAVE_FORMAT_PCM, bytes(800), channels=0, block_align=2)


def _extensible_wma() -> bytes:
    extra = extensible_fmt_extra(0x0161, valid_bits=16, channel_mask=0x3)
    return wav_bytes(WAVE_FORMAT_EXTENSIBLE, bytes(4000), channels=2, fmt_extra=extra)


def unsupported_codec_wav(format_tag: int = 0x0161) -> bytes:
    """A RIFF/WAVE whose fmt names a codec libsndfile does not decode (default: WMA)."""
    return wav_bytes(format_tag, bytes(4000), channels=2, block_align=4, fmt_extra=bytes(2))


REJECTED_FILES: tuple[BadWav, ...] = (
    BadWav("empty", lambda: b"", Unprocessable, "empty_file"),
    BadWav("mp3_renamed", mp3_bytes, UnsupportedMediaType, "not_wav"),
    BadWav("ogg_renamed", _ogg_bytes, UnsupportedMediaType, "not_wav"),
    BadWav("text", lambda: b"hello, this is not audio\n" * 20, UnsupportedMediaType, "not_wav"),
    BadWav("random_bytes", _random_bytes, UnsupportedMediaType, "not_wav"),
    BadWav(
        "riff_header_then_garbage",
        lambda: _real_wav()[:12] + _random_bytes(),
        UnsupportedMediaType,
        "not_wav",
    ),
    BadWav(
        "fmt_then_garbage",
        lambda: _real_wav()[:36] + _random_bytes(),
        UnsupportedMediaType,
        "not_wav",
    ),
    BadWav("corrupt_fmt", _corrupt_fmt, UnsupportedMediaType, "not_wav"),
    BadWav("truncated_10_bytes", lambda: _real_wav()[:10], Unprocessable, "truncated_header"),
    BadWav("truncated_20_bytes", lambda: _real_wav()[:20], Unprocessable, "truncated_header"),
    BadWav("truncated_30_bytes", lambda: _real_wav()[:30], Unprocessable, "truncated_header"),
    BadWav("truncated_40_bytes", lambda: _real_wav()[:40], Unprocessable, "truncated_header"),
    BadWav("header_only_44_bytes", lambda: _real_wav()[:44], Unprocessable, "no_audio"),
    BadWav("zero_frames", _zero_frames, Unprocessable, "no_audio"),
    BadWav("codec_wma", unsupported_codec_wav, UnsupportedMediaType, "unsupported_codec"),
    BadWav(
        "codec_aac",
        lambda: unsupported_codec_wav(0x00FF),
        UnsupportedMediaType,
        "unsupported_codec",
    ),
    BadWav("extensible_wma", _extensible_wma, UnsupportedMediaType, "unsupported_codec"),
)


# --- analysis -----------------------------------------------------------------------------


def decode_mp3(data: bytes) -> tuple[FloatArray, int]:
    """``(samples (frames, channels), sample_rate)`` of an MP3, via libsndfile's decoder."""
    with sf.SoundFile(io.BytesIO(data)) as mp3:
        if mp3.format != "MP3":
            raise AssertionError(f"not an MP3 but {mp3.format}")
        samples: FloatArray = mp3.read(dtype="float64", always_2d=True)
        return samples, int(mp3.samplerate)


def _spectrum(signal: FloatArray, sample_rate: int) -> tuple[FloatArray, FloatArray]:
    windowed = signal * np.hanning(len(signal))
    power: FloatArray = np.abs(np.fft.rfft(windowed)) ** 2
    freqs = np.fft.rfftfreq(len(signal), 1 / sample_rate).astype(np.float64)
    return freqs, power


def dominant_frequency(signal: FloatArray, sample_rate: int) -> float:
    """The strongest frequency of a 1-D signal."""
    freqs, power = _spectrum(signal, sample_rate)
    return float(freqs[int(np.argmax(power))])


def tone_level(
    signal: FloatArray, sample_rate: int, frequency: float, width_hz: float = 15.0
) -> float:
    """Fraction of a 1-D signal's energy within ``width_hz`` of ``frequency`` (0..1)."""
    freqs, power = _spectrum(signal, sample_rate)
    total = float(power.sum())
    if total == 0.0:
        return 0.0
    return float(power[np.abs(freqs - frequency) <= width_hz].sum()) / total


# LAME adds a fixed 576-sample encoder delay and pads the end with at least 576 samples up
# to a frame boundary; lameenc writes no info header that would let decoders trim them.
LAME_FIXED_EXTRA_SAMPLES = 1152


def mp3_frame_samples(sample_rate: int) -> int:
    """Samples per Layer III frame: 1152 for MPEG-1 (32-48 kHz), 576 for MPEG-2/2.5."""
    return 1152 if sample_rate >= 32000 else 576


_MP3_RATES = {0b11: (44100, 48000, 32000), 0b10: (22050, 24000, 16000), 0b00: (11025, 12000, 8000)}
_MP3_KBPS_V1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MP3_KBPS_V2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)


@dataclass(frozen=True)
class Mp3Frame:
    sample_rate: int
    bitrate_kbps: int
    channels: int
    length: int  # bytes


def mp3_frames(data: bytes) -> list[Mp3Frame]:
    """Walk every MPEG Layer III frame of ``data``; AssertionError on anything else."""
    frames: list[Mp3Frame] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 4:
            raise AssertionError(f"{len(data) - pos} stray bytes at the end")
        word = int.from_bytes(data[pos : pos + 4], "big")
        version, layer = (word >> 19) & 3, (word >> 17) & 3
        bitrate_index, rate_index = (word >> 12) & 0xF, (word >> 10) & 3
        if word >> 21 != 0x7FF or version == 1 or layer != 1 or bitrate_index in (0, 15):
            raise AssertionError(f"no Layer III frame header at byte {pos}: {word:08x}")
        rate = _MP3_RATES[version][rate_index]
        kbps = (_MP3_KBPS_V1 if version == 3 else _MP3_KBPS_V2)[bitrate_index]
        per_frame = 144 if version == 3 else 72
        length = per_frame * kbps * 1000 // rate + ((word >> 9) & 1)
        channels = 1 if (word >> 6) & 3 == 3 else 2
        frames.append(Mp3Frame(rate, kbps, channels, length))
        pos += length
    if not frames:
        raise AssertionError("no MP3 frames")
    return frames
