"""Walking the encoder's frames as they are written, in pieces of any size."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from audio_service.conversion import convert_wav_to_mp3
from audio_service.lametag import read_info_tag
from audio_service.mp3_stream import FrameScanner, Mp3StreamError, parse_mp3_frame_header
from audio_service.tests.mp3_reference import audio_frames_of, crc16_arc
from testkit.wav import mp3_frames, write_tone_wav


@pytest.fixture
def audio(tmp_path: Path) -> bytes:
    dst = io.BytesIO()
    convert_wav_to_mp3(write_tone_wav(tmp_path / "a.wav", channels=2, duration_s=2.0), dst)
    return audio_frames_of(dst.getvalue())


@pytest.mark.parametrize("piece", [1, 3, 417, 418, 1000, 10**6])
def test_any_split_gives_the_same_walk(audio: bytes, piece: int) -> None:
    scanner = FrameScanner()
    for start in range(0, len(audio), piece):
        scanner.feed(audio[start : start + piece])
    stream = scanner.result()
    frames = mp3_frames(audio)
    assert stream.frames == len(frames)
    assert stream.audio_bytes == len(audio)
    assert stream.music_crc == crc16_arc(audio)
    assert not stream.variable_bitrate
    offsets = [sum(f.length for f in frames[:k]) for k in range(0, len(frames), stream.offset_step)]
    assert list(stream.frame_offsets) == offsets


def test_offsets_stay_bounded_on_long_streams(audio: bytes) -> None:
    scanner = FrameScanner()
    for _ in range(20):  # 20 x 2 s of frames: ~1,530 frames
        scanner.feed(audio)
    stream = scanner.result()
    assert len(stream.frame_offsets) < 400
    assert stream.offset_step == 4
    lengths = [f.length for f in mp3_frames(audio)] * 20
    starts = [sum(lengths[:k]) for k in range(0, len(lengths), 4)]
    assert list(stream.frame_offsets) == starts


def test_garbage_and_truncation_are_faults(audio: bytes) -> None:
    with pytest.raises(Mp3StreamError):
        FrameScanner().feed(b"RIFF" + bytes(100))
    scanner = FrameScanner()
    scanner.feed(audio[:-10])
    with pytest.raises(Mp3StreamError, match="last frame"):
        scanner.result()
    with pytest.raises(Mp3StreamError, match="no MP3 frames"):
        FrameScanner().result()


def test_header_parsing() -> None:
    header = parse_mp3_frame_header(bytes.fromhex("fffb90c4"))
    assert header is not None
    assert (header.version, header.sample_rate, header.bitrate_kbps, header.channels) == (
        "MPEG-1",
        44100,
        128,
        1,
    )
    assert (header.samples, header.length, header.side_info_size, header.data_offset) == (
        1152,
        417,
        17,
        21,
    )
    lsf = parse_mp3_frame_header(bytes.fromhex("ffe38844"))
    assert lsf is not None
    assert (lsf.version, lsf.sample_rate, lsf.bitrate_kbps, lsf.channels, lsf.samples) == (
        "MPEG-2.5",
        8000,
        64,
        2,
        576,
    )
    assert parse_mp3_frame_header(b"RIFF") is None
    assert parse_mp3_frame_header(bytes.fromhex("fffd90c4")) is None  # Layer II
    assert parse_mp3_frame_header(b"\xff\xfb") is None


def test_the_info_frame_is_a_valid_first_frame(tmp_path: Path) -> None:
    dst = io.BytesIO()
    convert_wav_to_mp3(write_tone_wav(tmp_path / "a.wav"), dst)
    tag = read_info_tag(dst.getvalue())
    assert tag.frame_length == tag.header.length
