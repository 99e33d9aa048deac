"""The ID3v2 tag: what it says, where it sits, and that the Info frame still works after it."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from mutagen.id3 import ID3

from audio_service.conversion import LAME_VERSION, convert_wav_to_mp3
from audio_service.lametag import id3v2_size, read_info_tag
from audio_service.mp3_tags import Mp3Tags, id3v2_tag, title_from_filename
from audio_service.tests.mp3_reference import ffmpeg_decode, ffprobe, mutagen_info, require_ffmpeg
from testkit.wav import write_tone_wav

_TAGS = Mp3Tags(
    title="Take 3 — ünïcode",
    artist="Ada",
    record_id="0b7c2f1e-5f0c-4a51-9b55-3f1f3f7c0d1e",
    created_at=datetime(2026, 12, 7, 18, 30, 5, tzinfo=timezone(timedelta(hours=2))),
)


def _id3(mp3: bytes) -> ID3:
    return ID3(io.BytesIO(mp3))  # type: ignore[no-untyped-call]


def test_tag_fields_as_mutagen_reads_them(tmp_path: Path) -> None:
    dst = io.BytesIO()
    result = convert_wav_to_mp3(write_tone_wav(tmp_path / "a.wav"), dst, tags=_TAGS)
    mp3 = dst.getvalue()
    tags = _id3(mp3)
    assert tags.version == (2, 4, 0)
    assert str(tags["TIT2"]) == _TAGS.title
    assert str(tags["TPE1"]) == "Ada"
    assert str(tags["TXXX:record_id"]) == _TAGS.record_id
    assert str(tags["TDRC"]) == "2026-12-07 16:30:05"  # stored in UTC
    assert str(tags["TSSE"]) == f"LAME {LAME_VERSION} (lameenc), CBR 128 kbps, -q 3"
    # ID3v2 first, the Info frame right after it; size and hash cover both
    assert mp3.startswith(b"ID3")
    assert id3v2_size(mp3) == result.id3_size
    assert read_info_tag(mp3).frames == result.mp3_frames
    assert result.mp3_size == len(mp3)
    assert mutagen_info(mp3).length == pytest.approx(result.output_frames / 44100, abs=1e-9)


def test_ffmpeg_reads_the_tag_and_still_trims_by_the_info_frame(tmp_path: Path) -> None:
    require_ffmpeg()
    wav = write_tone_wav(tmp_path / "a.wav", duration_s=1.0)
    mp3 = tmp_path / "a.mp3"
    with mp3.open("x+b") as out:
        result = convert_wav_to_mp3(wav, out, tags=_TAGS)
    probe = ffprobe(mp3)
    assert probe["format"]["tags"]["title"] == _TAGS.title
    assert probe["format"]["tags"]["artist"] == "Ada"
    assert probe["format"]["tags"]["record_id"] == _TAGS.record_id
    decoded, _ = ffmpeg_decode(mp3)
    assert len(decoded) == result.output_frames == 44100


def test_without_tags_only_the_encoder_is_named(tmp_path: Path) -> None:
    dst = io.BytesIO()
    convert_wav_to_mp3(write_tone_wav(tmp_path / "a.wav"), dst, mode="vbr", vbr_quality=5)
    tags = _id3(dst.getvalue())
    assert list(tags.keys()) == ["TSSE"]  # type: ignore[no-untyped-call]
    assert str(tags["TSSE"]) == f"LAME {LAME_VERSION} (lameenc), VBR -V 5, -q 3"


def test_text_is_cleaned_and_bounded() -> None:
    tag = id3v2_tag(Mp3Tags(title="a\x00b\x07c\td" + "x" * 5000), "enc")
    parsed = ID3(io.BytesIO(tag + bytes(10)))  # type: ignore[no-untyped-call]
    title = str(parsed["TIT2"])
    assert title.startswith("abc\td")
    assert len(title) == 1024


def test_naive_datetimes_are_taken_as_utc() -> None:
    tag = id3v2_tag(Mp3Tags(created_at=datetime(2026, 1, 2, 3, 4, 5)), "enc")
    assert str(ID3(io.BytesIO(tag + bytes(10)))["TDRC"]) == "2026-01-02 03:04:05"  # type: ignore[no-untyped-call]
    aware = id3v2_tag(Mp3Tags(created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)), "enc")
    assert aware == tag


@pytest.mark.parametrize(
    ("filename", "title"),
    [
        ("My take.wav", "My take"),
        ("interview.final.WAV", "interview.final"),
        ("C:\\Users\\ada\\voice memo.wav", "voice memo"),
        ("/home/ada/song", "song"),
        (".hidden", ".hidden"),
        ("  spaced  .wav", "spaced"),
        ("", None),
        (None, None),
        (".wav", ".wav"),
    ],
)
def test_title_from_filename(filename: str | None, title: str | None) -> None:
    assert title_from_filename(filename) == title
