"""The Xing/Info frame with the LAME extension: written, parsed back, read by mutagen, checked."""

from __future__ import annotations

from pathlib import Path

import mutagen.mp3
import numpy as np
import pytest
import soundfile as sf

from audio_service.lametag import (
    ENCODER,
    LAME_ENCODER_DELAY,
    InfoTagError,
    id3v2_size,
    parse_info_frame,
    read_info_tag,
    tag_frame_header,
)
from audio_service.mp3_stream import parse_mp3_frame_header
from audio_service.tests.mp3_reference import (
    audio_frames_of,
    convert_to_bytes,
    crc16_arc,
    mutagen_info,
)
from testkit.wav import mp3_frames, write_tone_wav

_convert = convert_to_bytes


@pytest.fixture
def music_wav(tmp_path: Path) -> Path:
    """4 s of stereo at 44.1 kHz whose loudness changes (so VBR frame sizes vary)."""
    rate = 44100
    t = np.arange(4 * rate) / rate
    rng = np.random.default_rng(3)
    level = np.where(t < 2, 0.05, 0.5)[:, None]
    chord = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)], 1)
    samples = level * (0.6 * chord + 0.4 * rng.standard_normal((len(t), 2)))
    path = tmp_path / "music.wav"
    sf.write(path, np.clip(samples, -1, 1), rate, subtype="PCM_16")
    return path


def test_cbr_tag_fields(music_wav: Path) -> None:
    result, mp3 = _convert(music_wav, bitrate_kbps=128, quality=3)
    tag = read_info_tag(mp3)
    assert not tag.is_vbr
    assert tag.encoder == ENCODER.decode()
    assert (tag.encoder_delay, tag.padding) == (LAME_ENCODER_DELAY, result.encoder_padding)
    assert tag.frames == result.mp3_frames == len(mp3_frames(audio_frames_of(mp3)))
    # bytes and music length: the tag frame and the audio, without the ID3v2 tag
    assert tag.bytes == tag.music_length == len(mp3) - id3v2_size(mp3) == len(mp3) - result.id3_size
    assert tag.music_crc == crc16_arc(audio_frames_of(mp3))
    assert tag.header.bitrate_kbps == 128  # the stream's own: a uniform CBR file
    assert (tag.method, tag.bitrate_kbps, tag.quality) == (1, 128, 100 - 40 - 3)
    assert tag.stereo_mode == 3  # joint stereo, as LAME chose
    assert tag.source_rate_code == 1  # 44.1 kHz
    assert tag.peak == pytest.approx(result.loudness.sample_peak if result.loudness else 0)
    assert tag.toc[0] == 0
    assert list(tag.toc) == sorted(tag.toc)


def test_mutagen_reads_the_tag(music_wav: Path) -> None:
    result, mp3 = _convert(music_wav)
    info = mutagen_info(mp3)
    assert info.length == pytest.approx(result.output_frames / 44100, abs=1e-9)
    assert info.bitrate_mode == mutagen.mp3.BitrateMode.CBR
    assert info.encoder_info == "LAME 3.100.0+"
    assert info.encoder_settings == "-b 128"
    assert info.bitrate == pytest.approx(128000, abs=1)  # mutagen averages the padded frames
    assert result.loudness is not None
    assert result.loudness.integrated_lufs is not None
    assert info.track_gain == pytest.approx(-18 - result.loudness.integrated_lufs, abs=0.06)


def test_vbr_tag_fields(music_wav: Path) -> None:
    result, mp3 = _convert(music_wav, mode="vbr", vbr_quality=4, quality=2)
    tag = read_info_tag(mp3)
    assert tag.is_vbr
    assert (tag.method, tag.quality) == (4, 100 - 10 * 4 - 2)
    frames = mp3_frames(audio_frames_of(mp3))
    assert len({f.bitrate_kbps for f in frames}) > 1
    # the smallest MPEG-1 bitrate whose frame holds 4 + 32 + 156 bytes at 44.1 kHz: 64 kbps
    assert tag.header.bitrate_kbps == 64
    info = mutagen_info(mp3)
    assert info.bitrate_mode == mutagen.mp3.BitrateMode.VBR
    assert info.encoder_settings == "-V 4"
    assert info.length == pytest.approx(result.output_frames / 44100, abs=1e-9)
    seconds = result.output_frames / 44100
    assert result.mean_bitrate_kbps == pytest.approx(
        len(audio_frames_of(mp3)) * 8 / (result.mp3_frames * 1152 / 44100) / 1000, abs=1e-3
    )
    assert abs(result.mean_bitrate_kbps - len(audio_frames_of(mp3)) * 8 / seconds / 1000) < 5


def test_toc_points_at_the_frame_of_each_percent(music_wav: Path) -> None:
    _, mp3 = _convert(music_wav, mode="vbr")
    tag = read_info_tag(mp3)
    frames = mp3_frames(audio_frames_of(mp3))
    starts = np.cumsum([0] + [f.length for f in frames]) + tag.frame_length
    assert tag.toc[0] == 0
    for percent, entry in enumerate(tag.toc[1:], start=1):
        true_offset = starts[int(percent * len(frames) / 100)]
        # 1/256 of the file per step; ours rounds to the nearest (plus a frame of slack
        # for the interpolation between sampled offsets).
        assert abs(entry * tag.bytes / 256 - true_offset) <= tag.bytes / 512 + frames[0].length


def test_a_corrupted_tag_frame_is_detected(music_wav: Path) -> None:
    _, mp3 = _convert(music_wav)
    start = id3v2_size(mp3)
    tag = read_info_tag(mp3)
    offset = tag.header.data_offset
    for position in (offset + 9, offset + 141, offset + 150, 2):  # frames, delay, length, header
        broken = bytearray(mp3)
        broken[start + position] ^= 0x10
        with pytest.raises(InfoTagError):
            read_info_tag(bytes(broken))


def test_corrupted_audio_is_detected_by_the_music_crc(music_wav: Path) -> None:
    _, mp3 = _convert(music_wav)
    broken = bytearray(mp3)
    broken[-500] ^= 0x01
    tag = read_info_tag(bytes(broken))  # the tag itself is intact
    assert tag.music_crc != crc16_arc(audio_frames_of(bytes(broken)))
    assert tag.music_crc == crc16_arc(audio_frames_of(mp3))


def test_not_a_tag_frame() -> None:
    with pytest.raises(InfoTagError):
        parse_info_frame(b"RIFF" + bytes(500))
    audio_frame = bytes.fromhex("fffb9064") + bytes(413)  # a plain frame, no Xing/Info
    with pytest.raises(InfoTagError):
        parse_info_frame(audio_frame)


@pytest.mark.parametrize(
    ("header_hex", "vbr", "kbps"),
    [
        ("fffb9064", False, 128),  # 44.1 kHz stereo 128 kbps CBR: its own bitrate
        ("fffb1464", False, 64),  # 48 kHz 32 kbps: 96 bytes cannot hold it -> 64 kbps
        ("fffb9064", True, 64),  # VBR: the smallest that fits (208 bytes)
        ("ffe388c4", True, 24),  # MPEG-2.5 8 kHz mono: 4 + 9 + 156 bytes -> 24 kbps (216)
    ],
)
def test_tag_frame_bitrate(header_hex: str, vbr: bool, kbps: int) -> None:
    first = parse_mp3_frame_header(bytes.fromhex(header_hex))
    assert first is not None
    header = tag_frame_header(first, vbr=vbr)
    assert header.bitrate_kbps == kbps
    assert header.length >= header.data_offset + 156
    assert (header.sample_rate, header.channels) == (first.sample_rate, first.channels)
    assert not header.padding
    assert not header.protected


def test_tag_frame_on_every_mpeg_version(tmp_path: Path) -> None:
    for rate, channels in ((8000, 1), (11025, 2), (16000, 1), (24000, 2), (32000, 1)):
        path = write_tone_wav(tmp_path / f"{rate}.wav", sample_rate=rate, channels=channels)
        for mode in ("cbr", "vbr"):
            result, mp3 = _convert(path, mode=mode)
            tag = read_info_tag(mp3)
            assert (tag.header.sample_rate, tag.header.channels) == (rate, channels)
            assert tag.frames == result.mp3_frames
            assert tag.music_crc == crc16_arc(audio_frames_of(mp3))
