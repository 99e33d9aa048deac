"""MPEG audio Layer III frames: header parsing, and a writer that frames an encoder's output.

The writer puts an ID3v2 tag first, then reserves the first MPEG frame for the Xing/Info tag
(``lametag``) and streams the encoder's frames after it, walking their headers as they pass:
frame count, byte count, a bounded sample of frame offsets for the seek table, the CRC-16 of
the audio and whether the bitrate varied. At the end it seeks back and writes the tag frame,
which needs all of that. Nothing is written before the encoder's first frame, so a refusal
raised earlier leaves ``dst`` empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import fastcrc

_MPEG_VERSIONS = {0b11: "MPEG-1", 0b10: "MPEG-2", 0b00: "MPEG-2.5"}
_MPEG_SAMPLE_RATES = {
    0b11: (44100, 48000, 32000),
    0b10: (22050, 24000, 16000),
    0b00: (11025, 12000, 8000),
}
LAYER3_BITRATES = {
    "MPEG-1": (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    "MPEG-2": (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
CHANNEL_MODE_MONO = 0b11

# Offsets of the seek table's samples are kept for at most this many frames at a time,
# halving the resolution when full (as LAME and ffmpeg do): bounded memory at any length.
_MAX_OFFSET_SAMPLES = 400


@dataclass(frozen=True, slots=True)
class Mp3FrameHeader:
    version: str  # "MPEG-1" | "MPEG-2" | "MPEG-2.5"
    sample_rate: int
    bitrate_kbps: int
    channels: int
    version_bits: int = 0b11
    bitrate_index: int = 0
    rate_index: int = 0
    padding: bool = False
    protected: bool = False  # a 16-bit CRC follows the header
    channel_mode: int = 0  # 0 stereo, 1 joint stereo, 2 dual channel, 3 mono
    raw: int = 0  # the 32-bit header word

    @property
    def samples(self) -> int:
        """Samples per channel in a Layer III frame: 1152 (MPEG-1) or 576."""
        return 1152 if self.version == "MPEG-1" else 576

    @property
    def length(self) -> int:
        """Bytes in the frame, header included."""
        return frame_length(self.version, self.bitrate_kbps, self.sample_rate, self.padding)

    @property
    def side_info_size(self) -> int:
        if self.version == "MPEG-1":
            return 17 if self.channels == 1 else 32
        return 9 if self.channels == 1 else 17

    @property
    def data_offset(self) -> int:
        """Where the frame's side information ends (the Xing tag starts) after the sync."""
        return 4 + (2 if self.protected else 0) + self.side_info_size


def frame_length(version: str, bitrate_kbps: int, sample_rate: int, padding: bool) -> int:
    per_kbps = 144_000 if version == "MPEG-1" else 72_000
    return per_kbps * bitrate_kbps // sample_rate + int(padding)


def parse_mp3_frame_header(header: bytes | bytearray | memoryview) -> Mp3FrameHeader | None:
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
    bitrates = LAYER3_BITRATES["MPEG-1" if version == "MPEG-1" else "MPEG-2"]
    channel_mode = (word >> 6) & 0b11
    return Mp3FrameHeader(
        version=version,
        sample_rate=_MPEG_SAMPLE_RATES[version_bits][rate_index],
        bitrate_kbps=bitrates[bitrate_index],
        channels=1 if channel_mode == CHANNEL_MODE_MONO else 2,
        version_bits=version_bits,
        bitrate_index=bitrate_index,
        rate_index=rate_index,
        padding=bool((word >> 9) & 1),
        protected=not (word >> 16) & 1,
        channel_mode=channel_mode,
        raw=word,
    )


def with_bitrate(header: Mp3FrameHeader, bitrate_index: int) -> Mp3FrameHeader:
    """``header`` at another bitrate, without padding or CRC (the shape of a tag frame)."""
    word = header.raw & ~(0xF << 12) & ~(1 << 9) | (bitrate_index << 12) | (1 << 16)
    parsed = parse_mp3_frame_header(word.to_bytes(4, "big"))
    if parsed is None:
        raise ValueError(f"bitrate index {bitrate_index} makes no valid header")
    return parsed


@dataclass(frozen=True, slots=True)
class Mp3Stream:
    """What the writer saw of the encoder's frames (the tag frame not included)."""

    first_header: Mp3FrameHeader
    frames: int
    audio_bytes: int
    music_crc: int  # CRC-16/ARC of the audio frames' bytes
    variable_bitrate: bool
    frame_offsets: tuple[int, ...]  # byte offset (from the first audio frame) of frame k*step
    offset_step: int  # frames between two entries of frame_offsets


class FrameScanner:
    """Walks a stream of Layer III frames fed in arbitrary pieces."""

    def __init__(self) -> None:
        self.first: Mp3FrameHeader | None = None
        self.frames = 0
        self.audio_bytes = 0
        self.crc = 0
        self.variable_bitrate = False
        self._pending = b""
        self._next_frame_at = 0  # stream offset of the next frame header
        self._offsets: list[int] = []
        self._step = 1
        # Byte 2 of a header (bitrate, rate, padding) -> frame length, for this stream.
        self._lengths: dict[int, int] = {}
        self._prefix = b""  # the first two header bytes, which every frame repeats
        self._first_bitrate = 0

    def feed(self, chunk: bytes | bytearray) -> None:
        self.crc = fastcrc.crc16.arc(chunk, initial=self.crc)
        # Either the pending bytes start the next frame's header, or the next frame starts
        # at or after this chunk: ``pos`` is never negative.
        data = self._pending + chunk if self._pending else bytes(chunk)
        base = self.audio_bytes - len(self._pending)  # stream offset of data[0]
        self.audio_bytes += len(chunk)
        pos = self._next_frame_at - base
        while pos + 4 <= len(data):
            length = self._frame_at(data, pos)
            if self.frames % self._step == 0:
                self._sample_offset(base + pos)
            self.frames += 1
            pos += length
        self._next_frame_at = base + pos
        self._pending = data[pos:] if pos < len(data) else b""

    def _frame_at(self, data: bytes, pos: int) -> int:
        if self.first is None:
            header = parse_mp3_frame_header(data[pos : pos + 4])
            if header is None:
                raise Mp3StreamError(f"no MPEG Layer III frame header at byte {pos}")
            self.first = header
            self._prefix = data[pos : pos + 2]
            self._first_bitrate = header.bitrate_index
        if data[pos : pos + 2] != self._prefix:
            raise Mp3StreamError(f"frame {self.frames} does not continue the stream")
        key = data[pos + 2]
        length = self._lengths.get(key)
        if length is None:
            header = parse_mp3_frame_header(data[pos : pos + 4])
            if header is None or header.sample_rate != self.first.sample_rate:
                raise Mp3StreamError(f"frame {self.frames} has an invalid header")
            length = self._lengths[key] = header.length
        if key >> 4 != self._first_bitrate:
            self.variable_bitrate = True
        return length

    def _sample_offset(self, offset: int) -> None:
        self._offsets.append(offset)
        if len(self._offsets) == _MAX_OFFSET_SAMPLES:
            del self._offsets[1::2]
            self._step *= 2

    def result(self) -> Mp3Stream:
        if self.first is None or self.frames == 0:
            raise Mp3StreamError("the encoder produced no MP3 frames")
        if self._next_frame_at != self.audio_bytes:
            raise Mp3StreamError(
                f"the last frame ends at byte {self._next_frame_at}, the stream at "
                f"{self.audio_bytes}"
            )
        return Mp3Stream(
            first_header=self.first,
            frames=self.frames,
            audio_bytes=self.audio_bytes,
            music_crc=self.crc,
            variable_bitrate=self.variable_bitrate,
            frame_offsets=tuple(self._offsets),
            offset_step=self._step,
        )


class Mp3StreamError(Exception):
    """The encoder's output is not a well-formed Layer III stream (a fault, not bad input)."""


TagFrameBuilder = Callable[[Mp3Stream, int], bytes]


class TaggedMp3Writer:
    """``[ID3v2][tag frame][audio frames]`` into a seekable ``dst``; see the module docstring.

    ``tag_frame_size(first_header)`` says how many bytes to reserve once the first frame is
    known; ``finish(build)`` calls ``build(stream, reserved)`` for the tag frame's bytes.
    """

    def __init__(
        self, dst: BinaryIO, id3: bytes, tag_frame_size: Callable[[Mp3FrameHeader], int]
    ) -> None:
        self._dst = dst
        self._id3 = id3
        self._tag_frame_size = tag_frame_size
        self._scanner = FrameScanner()
        self._start: int | None = None
        self._reserved = 0

    def write(self, chunk: bytes | bytearray) -> None:
        if not chunk:
            return
        self._scanner.feed(chunk)
        if self._start is None:
            first = self._scanner.first
            assert first is not None  # feed() raised otherwise
            self._reserved = self._tag_frame_size(first)
            self._start = self._dst.tell()
            self._dst.write(self._id3)
            self._dst.write(bytes(self._reserved))
        self._dst.write(chunk)

    @property
    def started(self) -> bool:
        return self._start is not None

    def finish(self, build: TagFrameBuilder) -> tuple[Mp3Stream, int]:
        """Write the tag frame in its reserved place; return the stream and the file size."""
        stream = self._scanner.result()
        assert self._start is not None
        frame = build(stream, self._reserved)
        if len(frame) != self._reserved:
            raise Mp3StreamError(f"tag frame of {len(frame)} bytes for {self._reserved} reserved")
        end = self._dst.tell()
        self._dst.seek(self._start + len(self._id3))
        self._dst.write(frame)
        self._dst.seek(end)
        return stream, end - self._start
