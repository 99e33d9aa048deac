"""WAV → MP3 conversion: every accepted WAV flavour, every refusal, and the output's shape.

Length: every MP3 carries an Info frame with LAME's encoder delay and padding, so a decoder
that honours it (here libsndfile's mpg123 and mutagen; ffmpeg in test_exact_length) returns
exactly the input's frames, or ``round(frames * out_rate / in_rate)`` when resampled.
"""

from __future__ import annotations

import hashlib
import io
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_service import conversion
from audio_service.conversion import (
    convert_wav_to_mp3,
    float_to_int16,
    nearest_mp3_sample_rate,
    stereo_downmix_matrix,
)
from audio_service.lametag import LAME_ENCODER_DELAY, read_info_tag
from audio_service.tests.mp3_reference import audio_frames_of, convert_to_bytes, mutagen_info
from shared.errors import AppError, Unprocessable
from testkit.wav import (
    ACCEPTED_VARIANTS,
    REJECTED_FILES,
    BadWav,
    FloatArray,
    WavVariant,
    decode_mp3,
    dominant_frequency,
    mp3_frame_samples,
    mp3_frames,
    mp3_in_wav_bytes,
    tone_frequencies,
    tone_level,
    write_tone_wav,
)

_convert = convert_to_bytes


def _expected_rate(rate: int) -> int:
    carried = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
    return min(carried, key=lambda r: abs(r - rate))


def _middle(samples: FloatArray) -> FloatArray:
    """The steady middle half, away from encoder delay and the tone's edges."""
    quarter = len(samples) // 4
    return samples[quarter : len(samples) - quarter]


@pytest.mark.parametrize("variant", ACCEPTED_VARIANTS, ids=lambda v: v.name)
def test_accepted_variant_converts_to_the_same_tone(tmp_path: Path, variant: WavVariant) -> None:
    result, mp3 = _convert(variant.write(tmp_path))

    out_rate = _expected_rate(variant.sample_rate)
    out_channels = min(variant.channels, 2)
    assert result.output_sample_rate == out_rate
    assert result.output_channels == out_channels
    assert result.mp3_size == len(mp3)
    frames = mp3_frames(audio_frames_of(mp3))
    assert len(frames) == result.mp3_frames
    assert {(f.sample_rate, f.channels, f.bitrate_kbps) for f in frames} == {
        (out_rate, out_channels, result.bitrate_kbps)
    }

    if result.input.bit_depth is not None:
        assert result.input.frames == variant.frames
    else:  # ADPCM/GSM encoders pad the input to whole codec blocks (up to ~2000 frames)
        assert variant.frames <= result.input.frames < variant.frames + 2048
    assert result.duration_s == pytest.approx(result.input.frames / variant.sample_rate)
    expected = round(result.input.frames * out_rate / variant.sample_rate)
    assert result.output_frames == expected

    samples, rate = decode_mp3(mp3)
    assert rate == out_rate
    assert samples.shape == (expected, out_channels)
    tag = read_info_tag(mp3)
    assert (tag.frames, tag.encoder_delay, tag.padding) == (
        result.mp3_frames,
        LAME_ENCODER_DELAY,
        result.encoder_padding,
    )
    assert tag.frames * mp3_frame_samples(out_rate) == LAME_ENCODER_DELAY + expected + tag.padding
    info = mutagen_info(mp3)
    assert info.length == pytest.approx(expected / out_rate, abs=1e-9)

    if variant.channels <= 2:
        for channel, frequency in enumerate(variant.frequencies):
            signal = _middle(samples[:, channel])
            assert dominant_frequency(signal, rate) == pytest.approx(frequency, abs=5)
            assert tone_level(signal, rate, frequency) > 0.9
            # Amplitude 0.5 sine: a wrong int16 scaling shows up here as silence or clipping.
            assert np.sqrt(np.mean(signal**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.15)


@pytest.mark.parametrize("bad", REJECTED_FILES, ids=lambda b: b.name)
def test_refused_file_raises_before_writing(tmp_path: Path, bad: BadWav) -> None:
    dst = io.BytesIO()
    with pytest.raises(bad.error) as caught:
        convert_wav_to_mp3(bad.write(tmp_path), dst)
    assert type(caught.value) is bad.error
    assert caught.value.extra["code"] == bad.code
    assert caught.value.detail
    assert dst.getvalue() == b""


def test_mp3_inside_a_wav_is_accepted_because_libsndfile_decodes_it(tmp_path: Path) -> None:
    path = tmp_path / "layer3.wav"
    path.write_bytes(mp3_in_wav_bytes(duration_s=0.5, sample_rate=44100, channels=2))
    result, mp3 = _convert(path)
    assert (result.input.container, result.input.codec) == ("WAV", "MPEG_LAYER_III")
    assert result.input.format_tag == 0x0055
    samples, rate = decode_mp3(mp3)
    for channel, frequency in enumerate(tone_frequencies(2)):
        assert tone_level(_middle(samples[:, channel]), rate, frequency) > 0.9


def test_unsupported_codec_names_the_format_tag(tmp_path: Path) -> None:
    bad = next(b for b in REJECTED_FILES if b.name == "codec_wma")
    with pytest.raises(AppError) as caught:
        convert_wav_to_mp3(bad.write(tmp_path), io.BytesIO())
    assert caught.value.detail == "WAV format tag 0x0161 (Windows Media Audio) is not supported."
    assert caught.value.extra["format_tag"] == 0x0161


def test_too_long_is_refused_before_writing(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "long.wav", duration_s=1.0)
    dst = io.BytesIO()
    with pytest.raises(Unprocessable) as caught:
        convert_wav_to_mp3(path, dst, max_duration_s=0.5)
    assert caught.value.extra["code"] == "too_long"
    assert "1.00 s" in caught.value.detail
    assert dst.getvalue() == b""

    result, _ = _convert(path, max_duration_s=1.0)
    assert result.duration_s == pytest.approx(1.0)


def test_six_channels_fold_to_left_and_right_by_speaker_position(tmp_path: Path) -> None:
    variant = next(v for v in ACCEPTED_VARIANTS if v.name == "wavex_pcm_16_6ch_44k")
    _, mp3 = _convert(variant.write(tmp_path))
    samples, rate = decode_mp3(mp3)
    left, right = _middle(samples[:, 0]), _middle(samples[:, 1])
    fl, fr, fc, lfe, bl, br = variant.frequencies

    for frequency in (fl, fc, bl):
        assert tone_level(left, rate, frequency) > 0.1
    for frequency in (fr, fc, br):
        assert tone_level(right, rate, frequency) > 0.1
    for frequency in (fr, br, lfe):
        assert tone_level(left, rate, frequency) < 0.01
    for frequency in (fl, bl, lfe):
        assert tone_level(right, rate, frequency) < 0.01


def test_quad_uses_the_channel_mask_not_the_5_1_layout(tmp_path: Path) -> None:
    variant = next(v for v in ACCEPTED_VARIANTS if v.name == "wavex_float_quad_44k")
    result, mp3 = _convert(variant.write(tmp_path))
    assert result.input.channel_mask == 0x33
    samples, rate = decode_mp3(mp3)
    _fl, fr, bl, br = variant.frequencies
    left, right = _middle(samples[:, 0]), _middle(samples[:, 1])
    assert tone_level(left, rate, bl) > 0.2  # a 5.1 reading would treat BL as centre
    assert tone_level(right, rate, br) > 0.2  # ... and drop BR as LFE
    assert tone_level(left, rate, fr) < 0.01


def test_result_hash_and_size_describe_the_bytes_written(tmp_path: Path) -> None:
    result, mp3 = _convert(write_tone_wav(tmp_path / "a.wav", channels=2))
    assert result.sha256 == hashlib.sha256(mp3).hexdigest()
    assert result.mp3_size == len(mp3)
    assert result.bitrate_kbps == 128


def test_block_size_does_not_change_the_output(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "a.wav", channels=2, duration_s=1.0)
    default, _ = _convert(path)
    small, _ = _convert(path, block_frames=1000)
    assert small.sha256 == default.sha256


def test_bitrate_and_quality_are_applied(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "a.wav", channels=2, duration_s=1.0)
    result, mp3 = _convert(path, bitrate_kbps=64, quality=7)
    assert result.bitrate_kbps == 64
    assert {f.bitrate_kbps for f in mp3_frames(audio_frames_of(mp3))} == {64}
    assert read_info_tag(mp3).quality == 100 - 40 - 7  # LAME's formula, default VBR_q 4


def test_bitrate_above_what_the_rate_allows_is_reported_as_used(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "a.wav", sample_rate=22050, duration_s=0.5)
    result, mp3 = _convert(path, bitrate_kbps=320)
    assert result.bitrate_kbps == 160  # the MPEG-2 maximum
    assert {f.bitrate_kbps for f in mp3_frames(audio_frames_of(mp3))} == {160}


def test_conversion_leaves_the_source_untouched(tmp_path: Path) -> None:
    variant = next(v for v in ACCEPTED_VARIANTS if v.name == "data_size_0")
    path = variant.write(tmp_path)
    before = path.read_bytes()
    _convert(path)
    assert path.read_bytes() == before


def test_loud_float_input_is_clipped_not_wrapped(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "loud.wav", subtype="FLOAT", amplitude=4.0)
    _, mp3 = _convert(path)
    samples, rate = decode_mp3(mp3)
    signal = _middle(samples[:, 0])
    assert dominant_frequency(signal, rate) == pytest.approx(440, abs=5)
    assert np.max(np.abs(signal)) < 1.2  # wrapped int16 would not look like a clipped tone
    assert np.sqrt(np.mean(signal**2)) > 0.8


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"bitrate_kbps": 100}, "bitrate_kbps"),
        ({"quality": 10}, "quality"),
        ({"block_frames": 0}, "block_frames"),
        ({"max_duration_s": 0}, "max_duration_s"),
        ({"mode": "abr"}, "mode"),
        ({"vbr_quality": 10}, "vbr_quality"),
        ({"normalize_lufs": 3.0}, "normalize_lufs"),
    ],
)
def test_bad_options_are_programming_errors(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    path = write_tone_wav(tmp_path / "a.wav")
    with pytest.raises(ValueError, match=message):
        _convert(path, **options)


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (8000, 8000),
        (6000, 8000),
        (11025, 11025),
        (37800, 32000),
        (44100, 44100),
        (47250, 48000),
        (88200, 48000),
        (96000, 48000),
        (192000, 48000),
    ],
)
def test_nearest_mp3_sample_rate(rate: int, expected: int) -> None:
    assert nearest_mp3_sample_rate(rate) == expected


def test_downmix_matrix_is_a_weighted_average_without_lfe() -> None:
    matrix = stereo_downmix_matrix(6, None)
    assert matrix.shape == (6, 2)
    np.testing.assert_allclose(matrix.sum(axis=0), [1.0, 1.0], rtol=1e-6)
    assert matrix[3].tolist() == [0.0, 0.0]  # LFE
    assert matrix[2, 0] == matrix[2, 1] > 0  # centre
    assert matrix[0, 1] == matrix[1, 0] == 0.0


def test_downmix_of_unknown_layout_alternates_sides() -> None:
    matrix = stereo_downmix_matrix(10, None)
    np.testing.assert_allclose(matrix[:, 0], [0.2, 0, 0.2, 0, 0.2, 0, 0.2, 0, 0.2, 0])


def test_float_to_int16_scales_clips_and_zeroes_nan() -> None:
    block = np.array(
        [[0.0, 0.5], [-1.0, 1.0], [2.0, -2.0], [np.nan, np.inf], [-np.inf, 1e38]],
        dtype=np.float32,
    )
    out = float_to_int16(block)
    assert out.dtype == np.int16
    assert out.flags.c_contiguous
    assert out.tolist() == [
        [0, 16384],
        [-32768, 32767],
        [32767, -32768],
        [0, 32767],
        [-32768, 32767],
    ]


@pytest.mark.parametrize("channels", [1, 2])
def test_16_bit_pcm_read_directly_encodes_like_the_float_path(
    tmp_path: Path, channels: int
) -> None:
    samples = (np.random.default_rng(7).integers(-20000, 20000, (22050, channels))).astype(np.int16)
    pcm16, as_float = tmp_path / "pcm16.wav", tmp_path / "float.wav"
    sf.write(pcm16, samples, 22050, subtype="PCM_16")
    sf.write(as_float, samples.astype(np.float32) / 32768.0, 22050, subtype="FLOAT")
    direct, through_float = io.BytesIO(), io.BytesIO()
    convert_wav_to_mp3(pcm16, direct)
    convert_wav_to_mp3(as_float, through_float)
    assert direct.getvalue() == through_float.getvalue()


def test_hash_covers_the_whole_file_written_through_a_write_only_handle(tmp_path: Path) -> None:
    # uploads.py opens the MP3 "xb": the Info frame is written last, so the hash is taken by
    # reading the file back by name.
    mp3 = tmp_path / "out.mp3"
    with mp3.open("xb") as out:
        result = convert_wav_to_mp3(write_tone_wav(tmp_path / "a.wav"), out)
    data = mp3.read_bytes()
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.mp3_size == len(data)
    assert data.startswith(b"ID3")


def test_destination_must_be_seekable(tmp_path: Path) -> None:
    class Pipe(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

    with pytest.raises(ValueError, match="seekable"):
        convert_wav_to_mp3(write_tone_wav(tmp_path / "a.wav"), Pipe())  # type: ignore[arg-type]


def test_result_reports_the_new_fields(tmp_path: Path) -> None:
    result, mp3 = _convert(write_tone_wav(tmp_path / "a.wav", channels=2, duration_s=1.0))
    assert (result.mode, result.vbr_quality, result.normalization) == ("cbr", None, None)
    assert result.mean_bitrate_kbps == pytest.approx(128, abs=0.01)
    assert result.output_frames == 44100
    assert result.encoder_delay == LAME_ENCODER_DELAY
    assert result.id3_size == mp3.index(b"\xff\xfb")  # the Info frame follows the tag
    assert result.loudness is not None
    assert result.peaks is not None
    assert result.peaks.length == math.ceil(44100 / 256)


def test_an_encoder_fault_is_an_error_with_a_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Garbage:  # stands in for a broken LAME: bytes that are no MPEG frames
        def encode(self, _pcm: object) -> bytes:
            return b"\x00garbage"

        def flush(self) -> bytes:
            return b""

    monkeypatch.setattr(conversion, "_encoder", lambda *_args: Garbage())
    with pytest.raises(AppError) as caught:
        _convert(write_tone_wav(tmp_path / "a.wav"))
    assert caught.value.extra["code"] == "encoder_failed"
    assert caught.value.status == 500
