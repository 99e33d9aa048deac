"""Validate an uploaded file as a WAV from its bytes, and describe the audio in it.

Two independent checks, both required: our own walk of the RIFF/WAVE chunks (libsndfile
happily decodes an MP3 or OGG whatever the file is called, and its errors do not say *why* a
WAV was refused), then libsndfile itself, whose ``format`` must be a WAV flavour.

Streaming recorders leave the RIFF/data size fields at 0 or 0xFFFFFFFF. libsndfile reads
0 as "no audio", so when a declared data size disagrees with the file we hand libsndfile a
view of the file with the size fields corrected, and it decodes the audio that is really
there. Nothing is copied: the view patches the few header bytes as they are read.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import soundfile as sf

from shared.errors import Unprocessable, UnsupportedMediaType

WAV_CONTAINERS = frozenset({"WAV", "WAVEX", "RF64"})

WAVE_FORMAT_EXTENSIBLE = 0xFFFE

# Well-known wFormatTag values, only to make refusals readable.
FORMAT_TAG_NAMES: dict[int, str] = {
    0x0001: "PCM",
    0x0002: "Microsoft ADPCM",
    0x0003: "IEEE float",
    0x0006: "A-law",
    0x0007: "µ-law",
    0x0011: "IMA ADPCM",
    0x0022: "DSP Group TrueSpeech",
    0x0031: "GSM 6.10",
    0x0040: "G.721 ADPCM",
    0x0050: "MPEG Layer I/II",
    0x0055: "MPEG Layer III",
    0x0092: "Dolby AC-3 SPDIF",
    0x00FF: "AAC",
    0x0160: "Windows Media Audio v1",
    0x0161: "Windows Media Audio",
    0x0162: "Windows Media Audio Pro",
    0x0163: "Windows Media Audio Lossless",
    0x1610: "HE-AAC",
    0x2000: "Dolby AC-3",
    0x2001: "DTS",
    0xF1AC: "FLAC",
    WAVE_FORMAT_EXTENSIBLE: "EXTENSIBLE",
}

# Tags libsndfile 1.2 decodes inside a WAV. When libsndfile refuses a file with one of these,
# the file is broken rather than using a foreign codec.
_LIBSNDFILE_WAV_TAGS = frozenset(
    {0x0001, 0x0002, 0x0003, 0x0006, 0x0007, 0x0011, 0x0031, 0x0040, 0x0055}
)

# libsndfile's SF_ERR_UNSUPPORTED_ENCODING.
_LIBSNDFILE_UNSUPPORTED_ENCODING = 4

_PCM_BIT_DEPTHS = {
    "PCM_S8": 8,
    "PCM_U8": 8,
    "PCM_16": 16,
    "PCM_24": 24,
    "PCM_32": 32,
    "FLOAT": 32,
    "DOUBLE": 64,
}

_U32_UNKNOWN = 0xFFFFFFFF
# Real WAVs put fmt and data within a handful of chunks; a file of endless tiny chunks would
# otherwise keep this loop busy for as long as it is big.
_MAX_CHUNKS_BEFORE_AUDIO = 1000
_RIFF_HEADER = struct.Struct("<4sI4s")
_CHUNK_HEADER = struct.Struct("<4sI")
_FMT_BASE = struct.Struct("<HHIIHH")  # tag, channels, rate, byte rate, block align, bits
_FMT_EXTENSIBLE_SIZE = 26  # base 16 + cbSize 2 + valid bits 2 + channel mask 4 + GUID's tag 2


def format_tag_label(tag: int) -> str:
    """``0x0055 (MPEG Layer III)``; unknown tags are shown bare."""
    name = FORMAT_TAG_NAMES.get(tag)
    return f"0x{tag:04X} ({name})" if name else f"0x{tag:04X}"


@dataclass(frozen=True, slots=True)
class InputFormat:
    """What the uploaded WAV holds, as read from its bytes and by libsndfile."""

    container: str  # soundfile format name: "WAV" | "WAVEX" | "RF64"
    codec: str  # soundfile subtype, e.g. "PCM_16", "FLOAT", "ULAW", "IMA_ADPCM", "GSM610"
    format_tag: int  # the fmt chunk's wFormatTag (0xFFFE for EXTENSIBLE)
    subformat_tag: int | None  # for EXTENSIBLE, the sub-format GUID's first two bytes
    channel_mask: int | None  # for EXTENSIBLE, dwChannelMask (speaker positions)
    sample_rate: int
    channels: int
    bit_depth: int | None  # bits per sample of PCM/float; None for companded/compressed codecs
    frames: int
    duration_s: float


@dataclass(frozen=True, slots=True)
class _WavLayout:
    """What our own chunk walk learnt; ``patches`` are (offset, bytes) header corrections."""

    format_tag: int
    subformat_tag: int | None
    channel_mask: int | None
    patches: tuple[tuple[int, bytes], ...]


class _PatchedReader:
    """A read-only file view that overlays a few corrected header bytes on the real file.

    soundfile drives it through libsndfile's virtual I/O (``readinto``/``seek``/``tell``).
    """

    def __init__(self, raw: io.BufferedReader, patches: tuple[tuple[int, bytes], ...]) -> None:
        self._raw = raw
        self._patches = patches
        self.name = raw.name

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def readinto(self, buffer: Any) -> int:
        start = self._raw.tell()
        view = memoryview(buffer).cast("B")
        count = self._raw.readinto(view)
        self._overlay(view[:count], start)
        return count

    def read(self, size: int = -1) -> bytes:
        start = self._raw.tell()
        data = bytearray(self._raw.read(size))
        self._overlay(memoryview(data), start)
        return bytes(data)

    def _overlay(self, view: memoryview, start: int) -> None:
        for offset, patch in self._patches:
            lo = max(start, offset)
            hi = min(start + len(view), offset + len(patch))
            if lo < hi:
                view[lo - start : hi - start] = patch[lo - offset : hi - offset]


def _not_wav(detail: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(detail, code="not_wav")


def _truncated(detail: str) -> Unprocessable:
    return Unprocessable(detail, code="truncated_header")


def _is_printable_id(chunk_id: bytes) -> bool:
    return all(0x20 <= byte <= 0x7E for byte in chunk_id)


def _check_magic(head: bytes) -> bool:
    """Raise unless ``head`` starts a RIFF/RF64 WAVE; return True when it is RF64."""
    if len(head) < _RIFF_HEADER.size:
        riff_id, wave_id = head[:4], head[8:12]
        riff_like = b"RIFF".startswith(riff_id) or b"RF64".startswith(riff_id)
        if riff_like and b"WAVE".startswith(wave_id):
            raise _truncated(f"The file ends after {len(head)} bytes, inside the RIFF/WAVE header.")
        raise _not_wav("The file is not a WAV file (no RIFF/WAVE header).")
    riff_id, _, wave_id = _RIFF_HEADER.unpack(head)
    if riff_id not in (b"RIFF", b"RF64") or wave_id != b"WAVE":
        raise _not_wav("The file is not a WAV file (no RIFF/WAVE header).")
    return bool(riff_id == b"RF64")


def _read_layout(raw: io.BufferedReader, file_size: int) -> _WavLayout:
    """Walk the RIFF chunks up to ``fmt `` and ``data``; raise not_wav / truncated_header."""
    rf64 = _check_magic(raw.read(_RIFF_HEADER.size))
    pos = _RIFF_HEADER.size
    fmt: tuple[int, int | None, int | None] | None = None
    data_found = False
    ds64_data_field: int | None = None  # offset of ds64's 64-bit data size
    ds64_data_size: int | None = None
    patches: list[tuple[int, bytes]] = []

    for _ in range(_MAX_CHUNKS_BEFORE_AUDIO):
        if fmt is not None and data_found:
            break
        raw.seek(pos)
        header = raw.read(_CHUNK_HEADER.size)
        if len(header) < _CHUNK_HEADER.size:
            missing = "'fmt '" if fmt is None else "'data'"
            raise _truncated(
                f"The WAV header ends after {file_size} bytes, before its {missing} chunk."
            )
        chunk_id, size = _CHUNK_HEADER.unpack(header)
        if not _is_printable_id(chunk_id):
            raise _not_wav(f"The file starts like a WAV but has no valid RIFF chunk at byte {pos}.")
        body = pos + _CHUNK_HEADER.size

        if chunk_id == b"ds64" and rf64:
            ds64 = raw.read(min(size, 16))
            if len(ds64) < 16:
                raise _truncated("The RF64 'ds64' chunk is cut short.")
            ds64_data_field = body + 8
            (ds64_data_size,) = struct.unpack_from("<Q", ds64, 8)
        elif chunk_id == b"fmt ":
            fmt = _parse_fmt(raw.read(min(size, _FMT_EXTENSIBLE_SIZE)), size)
        elif chunk_id == b"data":
            data_found = True
            available = file_size - body
            declared = size
            size_field = pos + 4
            if rf64 and size == _U32_UNKNOWN and ds64_data_size is not None:
                declared = ds64_data_size
            size = declared
            if declared in (0, _U32_UNKNOWN) or declared > available:
                patches.extend(
                    _size_patches(rf64, size_field, ds64_data_field, available, file_size)
                )
                size = available
        pos = body + size + (size & 1)
    if fmt is None or not data_found:
        raise _not_wav(
            f"The WAV has no 'fmt ' and 'data' in its first {_MAX_CHUNKS_BEFORE_AUDIO} chunks."
        )

    format_tag, subformat_tag, channel_mask = fmt
    return _WavLayout(format_tag, subformat_tag, channel_mask, tuple(patches))


def _size_patches(
    rf64: bool, data_size_field: int, ds64_data_field: int | None, available: int, file_size: int
) -> list[tuple[int, bytes]]:
    """Header corrections that make the declared sizes match the bytes really present."""
    if rf64 and ds64_data_field is not None:
        return [(ds64_data_field, struct.pack("<Q", available))]
    if available > _U32_UNKNOWN - 1 or file_size - 8 > _U32_UNKNOWN:
        # Over 4 GiB a plain RIFF cannot state the size; libsndfile then reads to the end.
        return []
    return [(4, struct.pack("<I", file_size - 8)), (data_size_field, struct.pack("<I", available))]


def _parse_fmt(body: bytes, declared_size: int) -> tuple[int, int | None, int | None]:
    if len(body) < _FMT_BASE.size:
        raise _truncated("The WAV 'fmt ' chunk is cut short.")
    format_tag = _FMT_BASE.unpack_from(body)[0]
    if format_tag != WAVE_FORMAT_EXTENSIBLE:
        return format_tag, None, None
    if declared_size < _FMT_EXTENSIBLE_SIZE:
        raise _not_wav("The WAV 'fmt ' chunk says EXTENSIBLE but is too short to be one.")
    if len(body) < _FMT_EXTENSIBLE_SIZE:
        raise _truncated("The WAV 'fmt ' chunk is cut short.")
    channel_mask, subformat_tag = struct.unpack_from("<IH", body, 20)
    return format_tag, subformat_tag, channel_mask


def _codec_label(layout: _WavLayout) -> str:
    label = f"WAV format tag {format_tag_label(layout.format_tag)}"
    if layout.subformat_tag is not None:
        label += f" with sub-format {format_tag_label(layout.subformat_tag)}"
    return label


def _effective_tag(layout: _WavLayout) -> int:
    return layout.format_tag if layout.subformat_tag is None else layout.subformat_tag


def _open_soundfile(stack: ExitStack, src: Path, raw: io.BufferedReader, layout: _WavLayout) -> Any:
    # With nothing to patch, libsndfile opens the path itself: its reads then never need the GIL.
    source: Path | _PatchedReader = src
    if layout.patches:
        raw.seek(0)  # libsndfile's virtual I/O takes the current position as the file start
        source = _PatchedReader(raw, layout.patches)
    try:
        sound = sf.SoundFile(source)
    except sf.LibsndfileError as exc:
        tag = _effective_tag(layout)
        if exc.code == _LIBSNDFILE_UNSUPPORTED_ENCODING or tag not in _LIBSNDFILE_WAV_TAGS:
            raise UnsupportedMediaType(
                f"{_codec_label(layout)} is not supported.",
                code="unsupported_codec",
                format_tag=layout.format_tag,
                subformat_tag=layout.subformat_tag,
            ) from exc
        raise _not_wav(
            f"The file has a RIFF/WAVE header but is not a readable WAV ({exc.error_string})."
        ) from exc
    stack.enter_context(sound)
    if sound.format not in WAV_CONTAINERS:
        raise _not_wav(f"The file is not a WAV file (it decodes as {sound.format}).")
    return sound


@dataclass(frozen=True, slots=True)
class OpenWav:
    """A validated WAV, open for decoding. ``sound`` is a ``soundfile.SoundFile``."""

    info: InputFormat
    sound: Any


@contextmanager
def open_wav(src: Path, *, max_duration_s: float | None = None) -> Iterator[OpenWav]:
    """Validate ``src`` and keep it open for decoding; raise the project's errors otherwise.

    Refusals: ``empty_file``, ``truncated_header``, ``no_audio``, ``too_long`` (Unprocessable,
    422); ``not_wav``, ``unsupported_codec`` (UnsupportedMediaType, 415).
    """
    with ExitStack() as stack:
        raw = stack.enter_context(src.open("rb"))
        file_size = raw.seek(0, io.SEEK_END)
        if file_size == 0:
            raise Unprocessable("The file is empty.", code="empty_file")
        raw.seek(0)
        layout = _read_layout(raw, file_size)
        sound = _open_soundfile(stack, src, raw, layout)
        info = _describe(sound, layout)
        if info.frames <= 0:
            raise Unprocessable("The WAV file contains no audio frames.", code="no_audio")
        check_duration(info.duration_s, max_duration_s)
        yield OpenWav(info=info, sound=sound)


def check_duration(duration_s: float, max_duration_s: float | None) -> None:
    """Raise ``too_long`` when ``duration_s`` exceeds the limit (None: no limit)."""
    if max_duration_s is not None and duration_s > max_duration_s:
        raise Unprocessable(
            f"The audio lasts {duration_s:.2f} s; at most {max_duration_s:g} s is allowed.",
            code="too_long",
            duration_s=round(duration_s, 3),
            max_duration_s=max_duration_s,
        )


def probe_wav(src: Path, *, max_duration_s: float | None = None) -> InputFormat:
    """Validate ``src`` as a WAV with audio in it and describe it (blocking)."""
    with open_wav(src, max_duration_s=max_duration_s) as wav:
        return wav.info


def _describe(sound: Any, layout: _WavLayout) -> InputFormat:
    sample_rate = int(sound.samplerate)
    frames = int(sound.frames)
    codec = str(sound.subtype)
    return InputFormat(
        container=str(sound.format),
        codec=codec,
        format_tag=layout.format_tag,
        subformat_tag=layout.subformat_tag,
        channel_mask=layout.channel_mask,
        sample_rate=sample_rate,
        channels=int(sound.channels),
        bit_depth=_PCM_BIT_DEPTHS.get(codec),
        frames=frames,
        duration_s=frames / sample_rate,
    )
