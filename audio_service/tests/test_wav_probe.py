"""What the probe reads from a WAV's bytes, and that it never trusts the file name."""

from __future__ import annotations

from pathlib import Path

import pytest

from audio_service.wav_probe import InputFormat, format_tag_label, probe_wav
from shared.errors import Unprocessable, UnsupportedMediaType
from testkit.wav import (
    ACCEPTED_VARIANTS,
    REJECTED_FILES,
    BadWav,
    WavVariant,
    chunk,
    mp3_bytes,
    write_tone_wav,
)


def _variant(name: str) -> WavVariant:
    return next(v for v in ACCEPTED_VARIANTS if v.name == name)


@pytest.mark.parametrize(
    ("name", "container", "codec", "tag", "subtag", "bit_depth"),
    [
        ("pcm_u8_mono_22k", "WAV", "PCM_U8", 0x0001, None, 8),
        ("pcm_16_stereo_44k", "WAV", "PCM_16", 0x0001, None, 16),
        ("pcm_24_stereo_48k", "WAV", "PCM_24", 0x0001, None, 24),
        ("pcm_32_mono_32k", "WAV", "PCM_32", 0x0001, None, 32),
        ("float_stereo_44k", "WAV", "FLOAT", 0x0003, None, 32),
        ("double_mono_16k", "WAV", "DOUBLE", 0x0003, None, 64),
        ("alaw_mono_8k", "WAV", "ALAW", 0x0006, None, None),
        ("ulaw_stereo_8k", "WAV", "ULAW", 0x0007, None, None),
        ("ima_adpcm_stereo_22k", "WAV", "IMA_ADPCM", 0x0011, None, None),
        ("ms_adpcm_mono_11k", "WAV", "MS_ADPCM", 0x0002, None, None),
        ("gsm610_mono_8k", "WAV", "GSM610", 0x0031, None, None),
        ("wavex_pcm_24_mono_24k", "WAVEX", "PCM_24", 0xFFFE, 0x0001, 24),
        ("wavex_float_stereo_48k", "WAVEX", "FLOAT", 0xFFFE, 0x0003, 32),
        ("rf64_pcm_16_stereo_44k", "RF64", "PCM_16", 0xFFFE, 0x0001, 16),
    ],
)
def test_probe_describes_codec_and_format_tag(
    tmp_path: Path,
    name: str,
    container: str,
    codec: str,
    tag: int,
    subtag: int | None,
    bit_depth: int | None,
) -> None:
    variant = _variant(name)
    info = probe_wav(variant.write(tmp_path))
    assert (info.container, info.codec, info.format_tag, info.subformat_tag) == (
        container,
        codec,
        tag,
        subtag,
    )
    assert info.bit_depth == bit_depth
    assert info.sample_rate == variant.sample_rate
    assert info.channels == variant.channels


def test_probe_reports_frames_and_duration(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "a.wav", sample_rate=48000, channels=2, duration_s=0.75)
    assert probe_wav(path) == InputFormat(
        container="WAV",
        codec="PCM_16",
        format_tag=1,
        subformat_tag=None,
        channel_mask=None,
        sample_rate=48000,
        channels=2,
        bit_depth=16,
        frames=36000,
        duration_s=0.75,
    )


@pytest.mark.parametrize(
    "name",
    [
        "data_size_0",
        "data_size_ffffffff",
        "riff_and_data_size_0",
        "riff_and_data_size_ffffffff",
        "data_size_too_big",
        "rf64_ds64_data_size_0",
    ],
)
def test_wrong_size_fields_count_the_audio_really_there(tmp_path: Path, name: str) -> None:
    variant = _variant(name)
    assert probe_wav(variant.write(tmp_path)).frames == variant.frames


def test_recorder_file_cut_mid_frame_keeps_whole_frames(tmp_path: Path) -> None:
    variant = _variant("data_size_0")
    path = variant.write(tmp_path)
    path.write_bytes(path.read_bytes()[:-3])  # 2-channel 16-bit: 4 bytes a frame
    assert probe_wav(path).frames == variant.frames - 1


def test_six_channel_wavex_reports_its_channel_mask(tmp_path: Path) -> None:
    info = probe_wav(_variant("wavex_pcm_16_6ch_44k").write(tmp_path))
    assert (info.channels, info.channel_mask) == (6, 0x3F)


def test_extension_and_name_are_ignored(tmp_path: Path) -> None:
    real = write_tone_wav(tmp_path / "tone.mp3")
    assert probe_wav(real).container == "WAV"
    fake = tmp_path / "song.wav"
    fake.write_bytes(mp3_bytes())
    with pytest.raises(UnsupportedMediaType):
        probe_wav(fake)


def test_too_long_uses_the_header_duration(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "a.wav", sample_rate=8000, duration_s=2.0)
    with pytest.raises(Unprocessable) as caught:
        probe_wav(path, max_duration_s=1.5)
    assert caught.value.extra == {"code": "too_long", "duration_s": 2.0, "max_duration_s": 1.5}
    assert caught.value.detail == "The audio lasts 2.00 s; at most 1.5 s is allowed."
    assert probe_wav(path, max_duration_s=2.0).duration_s == 2.0


@pytest.mark.parametrize("bad", REJECTED_FILES, ids=lambda b: b.name)
def test_probe_refuses_like_conversion(tmp_path: Path, bad: BadWav) -> None:
    with pytest.raises(bad.error) as caught:
        probe_wav(bad.write(tmp_path))
    assert caught.value.extra["code"] == bad.code


def test_format_tag_label() -> None:
    assert format_tag_label(0x0055) == "0x0055 (MPEG Layer III)"
    assert format_tag_label(0x1234) == "0x1234"


def test_endless_tiny_chunks_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "chunks.wav"
    path.write_bytes(b"RIFF\0\0\0\0WAVE" + chunk(b"JUNK", b"") * 5000)
    with pytest.raises(UnsupportedMediaType) as caught:
        probe_wav(path)
    assert caught.value.extra["code"] == "not_wav"
