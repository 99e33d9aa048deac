"""The Xing/Info tag with the LAME extension, written into the first MPEG frame of every MP3.

lameenc writes no such frame and exposes neither LAME's ``lame_get_lametag_frame`` nor its
encoder delay and padding, so this module writes it from the published "Info Tag rev 1"
layout. It is what lets decoders (ffmpeg, browsers, mutagen) trim the encoder's extra samples
and return exactly the input's length, and what makes a VBR file's length and seeking right.

Layout (offsets from the tag, which starts after the frame header and side information):

====== ====== ==================================================================
offset bytes  field
====== ====== ==================================================================
0      4      ``Xing`` (variable bitrate) or ``Info`` (constant)
4      4      flags: 1 frames, 2 bytes, 4 seek table, 8 quality (we set all four)
8      4      audio frames, the tag frame not counted
12     4      bytes from the tag frame's start to the end of the audio (ID3 excluded)
16     100    seek table: for i % of the duration, 256 * offset / bytes (offset from the
              tag frame's start, rounded to the nearest; entry 0 is 0)
116    4      quality: 100 - 10 * VBR quality - algorithmic quality
120    9      encoder, ``LAME3.100``
129    1      tag revision (0) << 4 | method (1 CBR, 4 VBR)
130    1      lowpass / 100 Hz (0: unknown)
131    4      peak sample amplitude * 2**23
135    2      radio ReplayGain: name 1, originator 3 (automatic), sign, 0.1 dB units
137    2      audiophile ReplayGain (unset)
139    1      encoding flags << 4 | ATH type (0: unknown)
140    1      bitrate (CBR) or minimum bitrate (VBR), kbps, at most 255
141    3      encoder delay (12 bits), padding (12 bits), in samples
144    1      source rate << 6 | unwise << 5 | stereo mode << 2 | noise shaping
145    1      MP3 gain (0)
146    2      surround << 11 | preset (0)
148    4      music length: same span as ``bytes``
152    2      CRC-16 of the audio frames (the tag frame excluded)
154    2      CRC-16 of the tag frame's bytes before this field
====== ====== ==================================================================

CRCs are CRC-16/ARC (polynomial 0x8005 reflected, initial 0), as LAME computes them.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import fastcrc

from audio_service.mp3_stream import (
    LAYER3_BITRATES,
    Mp3FrameHeader,
    Mp3Stream,
    parse_mp3_frame_header,
    with_bitrate,
)

TAG_SIZE = 156
TOC_ENTRIES = 100
FLAGS_ALL = 0x1 | 0x2 | 0x4 | 0x8
ENCODER = b"LAME3.100"
# LAME 3.100 starts its output this many samples late (its MDCT and filterbank delay); the
# decoder adds its own 529, which decoders that read this tag account for themselves.
LAME_ENCODER_DELAY = 576
# LAME's default VBR quality (``lame_set_VBR_q``), which it also writes for CBR files.
_LAME_DEFAULT_VBR_Q = 4
_METHOD_CBR = 1
_METHOD_VBR = 4  # LAME's vbr_mtrh, what ``lame -V`` and lameenc's set_vbr(4) use
_MAX_12_BITS = 0xFFF
# ReplayGain 2.0 (like EBU R128 measured with BS.1770) puts its reference level here.
_REPLAYGAIN_REFERENCE_LUFS = -18.0
# Stereo mode field from the header's channel mode (0 stereo, 1 joint, 2 dual, 3 mono).
_STEREO_MODE = {0: 1, 1: 3, 2: 2, 3: 0}


class InfoTagError(Exception):
    """Not an Info/Xing frame with a LAME extension, or one whose CRC does not match."""


@dataclass(frozen=True, slots=True)
class InfoTag:
    """The fields of a parsed tag frame (``parse_info_frame``)."""

    header: Mp3FrameHeader
    is_vbr: bool  # "Xing" rather than "Info"
    frames: int
    bytes: int
    toc: tuple[int, ...]
    quality: int
    encoder: str
    method: int
    peak: float
    replay_gain_db: float | None
    bitrate_kbps: int
    encoder_delay: int
    padding: int
    stereo_mode: int
    source_rate_code: int
    music_length: int
    music_crc: int
    tag_crc: int
    frame_length: int


@dataclass(frozen=True, slots=True)
class TagFields:
    """What the tag says beyond what the stream itself tells."""

    encoder_delay: int
    padding: int
    quality: int  # LAME's algorithmic quality 0-9
    vbr_quality: int | None  # None for CBR
    source_sample_rate: int
    peak: float = 0.0  # peak sample amplitude, 1.0 = full scale
    loudness_lufs: float | None = None


def tag_frame_header(first: Mp3FrameHeader, *, vbr: bool) -> Mp3FrameHeader:
    """The header of the tag frame for a stream that starts with ``first``.

    CBR: the stream's own bitrate, so that the file stays uniform for players that estimate
    length from the first frame; VBR, or a CBR bitrate whose frame cannot hold the tag: the
    smallest bitrate whose frame can.
    """
    needed = first.side_info_size + 4 + TAG_SIZE
    rates = LAYER3_BITRATES["MPEG-1" if first.version == "MPEG-1" else "MPEG-2"]
    candidates = range(1, len(rates))
    if not vbr:
        candidates = range(first.bitrate_index, len(rates))
    for index in candidates:
        header = with_bitrate(first, index)
        if header.length >= needed:
            return header
    for index in range(1, len(rates)):  # a low CBR bitrate: the smallest one that fits
        header = with_bitrate(first, index)
        if header.length >= needed:
            return header
    raise ValueError(f"no {first.version} frame at {first.sample_rate} Hz holds the tag")


def _toc(stream: Mp3Stream, frame_bytes: int, total: int) -> bytes:
    """Seek table: byte position (x 256 / ``total``) of the frame at each percent of time."""
    offsets, step = stream.frame_offsets, stream.offset_step
    mean_frame = stream.audio_bytes / stream.frames
    toc = bytearray(TOC_ENTRIES)
    for percent in range(TOC_ENTRIES):
        frame = percent * stream.frames / TOC_ENTRIES
        index = min(int(frame // step), len(offsets) - 1)
        base_frame = index * step
        if index + 1 < len(offsets):
            span = offsets[index + 1] - offsets[index]
            offset = offsets[index] + span * (frame - base_frame) / step
        else:
            offset = offsets[index] + mean_frame * (frame - base_frame)
        # Nearest, not floor: halves the worst seek error (the table has 1/256 resolution).
        toc[percent] = min(255, round(256 * (frame_bytes + offset) / total))
    toc[0] = 0  # the start of the stream, tag frame included (decoders skip it)
    return bytes(toc)


def _replay_gain_field(loudness_lufs: float | None) -> int:
    if loudness_lufs is None or not math.isfinite(loudness_lufs):
        return 0
    tenths = round((_REPLAYGAIN_REFERENCE_LUFS - loudness_lufs) * 10)
    tenths = max(-0x1FF, min(0x1FF, tenths))
    sign = 0x200 if tenths < 0 else 0
    return 0x2000 | 0xC00 | sign | abs(tenths)


def _source_rate_code(rate: int) -> int:
    if rate <= 32000:
        return 0
    if rate == 48000:
        return 2
    return 3 if rate > 48000 else 1


def build_info_frame(stream: Mp3Stream, header: Mp3FrameHeader, fields: TagFields) -> bytes:
    """The whole tag frame (``header.length`` bytes) for ``stream``."""
    if not 0 <= fields.encoder_delay <= _MAX_12_BITS or not 0 <= fields.padding <= _MAX_12_BITS:
        raise ValueError(f"delay {fields.encoder_delay} / padding {fields.padding} exceed 12 bits")
    length = header.length
    total = length + stream.audio_bytes
    vbr = fields.vbr_quality is not None
    frame = bytearray(length)
    frame[0:4] = header.raw.to_bytes(4, "big")
    at = header.data_offset
    vbr_q = fields.vbr_quality if fields.vbr_quality is not None else _LAME_DEFAULT_VBR_Q
    quality = max(0, 100 - 10 * vbr_q - fields.quality)
    bitrates = LAYER3_BITRATES["MPEG-1" if header.version == "MPEG-1" else "MPEG-2"]
    bitrate = bitrates[1] if vbr else stream.first_header.bitrate_kbps
    peak = min(0xFFFFFFFF, round(max(0.0, fields.peak) * 2**23))
    misc = (
        _source_rate_code(fields.source_sample_rate) << 6
        | _STEREO_MODE[stream.first_header.channel_mode] << 2
    )
    struct.pack_into(
        ">4sIII100sI9sBBIHHBB3sBBHIH",
        frame,
        at,
        b"Xing" if vbr else b"Info",
        FLAGS_ALL,
        stream.frames,
        total,
        _toc(stream, length, total),
        quality,
        ENCODER,
        _METHOD_VBR if vbr else _METHOD_CBR,
        0,  # lowpass: unknown (lameenc does not tell)
        peak,
        _replay_gain_field(fields.loudness_lufs),
        0,  # audiophile gain
        0,  # encoding flags, ATH type: unknown
        min(255, bitrate),
        (fields.encoder_delay << 12 | fields.padding).to_bytes(3, "big"),
        misc,
        0,  # MP3 gain
        0,  # surround, preset
        total,
        stream.music_crc,
    )
    crc_at = at + TAG_SIZE - 2
    struct.pack_into(">H", frame, crc_at, fastcrc.crc16.arc(bytes(frame[:crc_at])))
    return bytes(frame)


def parse_info_frame(frame: bytes) -> InfoTag:
    """Parse a tag frame (from its sync word); InfoTagError if it is not one or is corrupt."""
    header = parse_mp3_frame_header(frame[:4])
    if header is None:
        raise InfoTagError("no MPEG Layer III frame header")
    at = header.data_offset
    if len(frame) < at + TAG_SIZE or len(frame) < header.length:
        raise InfoTagError("the frame is too short for an Info tag")
    (
        magic,
        flags,
        frames,
        size,
        toc,
        quality,
        encoder,
        method,
        _lowpass,
        peak,
        radio_gain,
        _audiophile_gain,
        _flags,
        bitrate,
        delay_padding,
        misc,
        _mp3_gain,
        _preset,
        music_length,
        music_crc,
        tag_crc,
    ) = struct.unpack_from(">4sIII100sI9sBBIHHBB3sBBHIHH", frame, at)
    if magic not in (b"Xing", b"Info") or flags != FLAGS_ALL:
        raise InfoTagError(f"no Xing/Info tag with all four fields ({magic!r}, {flags:#x})")
    crc_at = at + TAG_SIZE - 2
    expected_crc = fastcrc.crc16.arc(frame[:crc_at])
    if tag_crc != expected_crc:
        raise InfoTagError(f"tag CRC {tag_crc:#06x}, the bytes give {expected_crc:#06x}")
    packed = int.from_bytes(delay_padding, "big")
    gain: float | None = None
    if radio_gain >> 13 == 1:
        gain = (radio_gain & 0x1FF) / 10 * (-1 if radio_gain & 0x200 else 1)
    return InfoTag(
        header=header,
        is_vbr=magic == b"Xing",
        frames=frames,
        bytes=size,
        toc=tuple(toc),
        quality=quality,
        encoder=encoder.decode("latin-1"),
        method=method & 0xF,
        peak=peak / 2**23,
        replay_gain_db=gain,
        bitrate_kbps=bitrate,
        encoder_delay=packed >> 12,
        padding=packed & _MAX_12_BITS,
        stereo_mode=(misc >> 2) & 0b111,
        source_rate_code=misc >> 6,
        music_length=music_length,
        music_crc=music_crc,
        tag_crc=tag_crc,
        frame_length=header.length,
    )


def id3v2_size(data: bytes) -> int:
    """Bytes taken by an ID3v2 tag at the start of ``data`` (0 if there is none)."""
    if len(data) < 10 or data[:3] != b"ID3":
        return 0
    size = 0
    for byte in data[6:10]:
        size = size << 7 | (byte & 0x7F)
    footer = 10 if data[5] & 0x10 else 0
    return 10 + size + footer


def read_info_tag(mp3: bytes) -> InfoTag:
    """The tag of a whole MP3 file (after its ID3v2 tag, if any)."""
    return parse_info_frame(mp3[id3v2_size(mp3) :])
