"""POST /record: accepted WAVs, every refusal, size limits, and nothing left behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest

from audio_service.settings import AudioSettings
from audio_service.tests.conftest import (
    TEST_MAX_UPLOAD_BYTES,
    ClientFactory,
    RowCounts,
    StagedFiles,
)
from audio_service.tests.mp3_reference import audio_frames_of
from testkit.audio import AudioUser, create_user, upload
from testkit.problems import assert_problem
from testkit.wav import (
    ACCEPTED_VARIANTS,
    REJECTED_FILES,
    BadWav,
    WavVariant,
    decode_mp3,
    unsupported_codec_wav,
    write_tone_wav,
)

# A spread of what the conversion core accepts, end to end through HTTP (the core's own
# tests cover every variant).
HTTP_VARIANTS = (
    "pcm_u8_mono_22k",
    "pcm_24_stereo_96k",
    "float_stereo_44k",
    "ulaw_stereo_8k",
    "ima_adpcm_stereo_22k",
    "gsm610_mono_8k",
    "wavex_pcm_16_6ch_44k",
    "rf64_pcm_16_stereo_44k",
    "data_size_ffffffff",
)
STATUS_OF = {"Unprocessable": 422, "UnsupportedMediaType": 415}


def _variant(name: str) -> WavVariant:
    return next(variant for variant in ACCEPTED_VARIANTS if variant.name == name)


@pytest.mark.parametrize("name", HTTP_VARIANTS)
async def test_common_wav_variants_convert(
    client: httpx.AsyncClient, user: AudioUser, tmp_path: Path, name: str
) -> None:
    variant = _variant(name)
    response = await upload(client, user, variant.write(tmp_path), filename=f"{name}.wav")
    assert response.status_code == 201, response.text
    body = response.json()
    expected_rate = {96000: 48000, 22050: 22050, 8000: 8000}.get(
        variant.sample_rate, variant.sample_rate
    )
    assert body["output"]["sample_rate"] == expected_rate
    assert body["output"]["channels"] == min(variant.channels, 2)
    assert body["input"]["channels"] == variant.channels
    assert body["input"]["sample_rate"] == variant.sample_rate
    # Block codecs (ADPCM, GSM) pad their last block with silence.
    assert body["duration_s"] == pytest.approx(variant.duration_s, abs=0.06)

    download = await client.get(body["url"])
    assert download.status_code == 200
    samples, rate = decode_mp3(download.content)
    assert rate == expected_rate
    assert samples.shape[1] == min(variant.channels, 2)
    # The Info frame trims LAME's delay and padding: the input's length, resampled or not
    # (test_exact_mp3s_api checks it to the sample, with ffmpeg).
    assert abs(len(samples) / rate - body["duration_s"]) < 1 / rate + 1e-9


@pytest.mark.parametrize("bad", REJECTED_FILES, ids=lambda bad: bad.name)
async def test_bad_files_are_refused_with_their_reason(
    client: httpx.AsyncClient,
    user: AudioUser,
    tmp_path: Path,
    row_counts: RowCounts,
    staged_files: StagedFiles,
    bad: BadWav,
) -> None:
    before = await row_counts()
    response = await upload(client, user, bad.write(tmp_path))
    body = assert_problem(response, STATUS_OF[bad.error.__name__])
    assert body["code"] == bad.code
    assert body["detail"]
    assert await row_counts() == before
    assert staged_files() == []


async def test_unsupported_codec_names_the_format_tag(
    client: httpx.AsyncClient, user: AudioUser
) -> None:
    response = await upload(client, user, unsupported_codec_wav(0x0161))
    body = assert_problem(response, 415)
    assert body["code"] == "unsupported_codec"
    assert "0x0161" in str(body["detail"])
    assert body["format_tag"] == 0x0161


async def test_an_empty_file_is_422(
    client: httpx.AsyncClient, user: AudioUser, row_counts: RowCounts
) -> None:
    before = await row_counts()
    body = assert_problem(await upload(client, user, b""), 422)
    assert body["code"] == "empty_file"
    assert await row_counts() == before


async def test_no_file_part_is_422_naming_the_field(
    client: httpx.AsyncClient, user: AudioUser
) -> None:
    response = await client.post(
        "/record",
        data={"user_id": str(user.user_id), "token": user.token},
        files={"other": ("x.txt", b"x", "text/plain")},
    )
    body = assert_problem(response, 422)
    assert {"field": "body.file", "message": "Field required", "type": "missing"} in list(
        body["errors"]
    )


async def test_a_file_field_without_a_file_is_422(
    client: httpx.AsyncClient, user: AudioUser
) -> None:
    response = await client.post(
        "/record", data={"user_id": str(user.user_id), "token": user.token, "file": "text"}
    )
    assert_problem(response, 422)


@pytest.mark.parametrize(
    "user_id",
    [None, "", "abc", "0", "-1", "1.5", str(2**53), str(2**64), "1.0", " 1", "1 ", "+1", "1_0"],
)
async def test_missing_or_bad_user_id_is_422(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path, user_id: str | None
) -> None:
    data = {"token": user.token}
    if user_id is not None:
        data["user_id"] = user_id
    response = await client.post(
        "/record",
        data=data,
        files={"file": ("t.wav", await anyio.Path(tone_wav).read_bytes(), "audio/wav")},
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == "body.user_id"


async def test_a_body_that_is_not_multipart_is_422(
    client: httpx.AsyncClient, user: AudioUser
) -> None:
    response = await client.post("/record", json={"user_id": user.user_id, "token": user.token})
    assert_problem(response, 422)


async def test_two_file_parts_are_400(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path
) -> None:
    wav = await anyio.Path(tone_wav).read_bytes()
    response = await client.post(
        "/record",
        data={"user_id": str(user.user_id), "token": user.token},
        files=[("file", ("a.wav", wav, "audio/wav")), ("file", ("b.wav", wav, "audio/wav"))],
    )
    assert_problem(response, 400)


async def test_a_file_over_the_limit_is_413_and_nothing_is_left(
    client: httpx.AsyncClient, user: AudioUser, row_counts: RowCounts, staged_files: StagedFiles
) -> None:
    before = await row_counts()
    response = await upload(client, user, b"RIFF" + bytes(TEST_MAX_UPLOAD_BYTES))
    body = assert_problem(response, 413)
    assert body["type"] == "https://problems.quiz-audio.dev/payload-too-large"
    assert await row_counts() == before
    assert staged_files() == []


async def test_a_file_at_the_limit_passes_the_size_check(
    client: httpx.AsyncClient, user: AudioUser
) -> None:
    # Exactly the limit: refused for what it is (not a WAV), not for its size.
    response = await upload(client, user, bytes(TEST_MAX_UPLOAD_BYTES))
    assert assert_problem(response, 415)["code"] == "not_wav"


async def test_a_declared_content_length_over_the_limit_is_413_before_reading(
    client: httpx.AsyncClient, user: AudioUser
) -> None:
    received: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        received.append(1)
        yield b"x"

    response = await client.post(
        "/record",
        content=body(),
        headers={
            "content-type": "multipart/form-data; boundary=x",
            "content-length": str(TEST_MAX_UPLOAD_BYTES * 2),
        },
    )
    assert_problem(response, 413)


async def test_a_chunked_body_over_the_limit_is_413_while_it_arrives(
    client: httpx.AsyncClient, user: AudioUser, row_counts: RowCounts
) -> None:
    boundary = "limit-test-boundary"
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="user_id"\r\n\r\n'
            f"{user.user_id}\r\n--{boundary}\r\nContent-Disposition: form-data; "
            f'name="file"; filename="big.wav"\r\nContent-Type: audio/wav\r\n\r\n'
        ).encode()
        for _ in range(64):  # 4 MiB in all, 4x the limit
            sent.append(1)
            yield bytes(64 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await client.post(
        "/record",
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert_problem(response, 413)
    assert await row_counts() == {"users": 1, "records": 0, "record_chunks": 0, "record_peaks": 0}


async def test_too_long_audio_is_422_when_a_limit_is_set(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    async with make_client(max_duration_s=0.25) as client:
        user = await create_user(client, "Long")
        wav = write_tone_wav(tmp_path / "long.wav", duration_s=0.5)
        assert_problem(await upload(client, user, wav), 422, code="too_long")


async def test_two_users_uploading_the_same_name_get_separate_records(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    ada = await create_user(client, "Ada")
    bob = await create_user(client, "Bob")
    wav_a = write_tone_wav(tmp_path / "a.wav", duration_s=0.3, frequencies=(440.0,))
    wav_b = write_tone_wav(tmp_path / "b.wav", duration_s=0.6, frequencies=(880.0,))
    first = (await upload(client, ada, wav_a, filename="song.wav")).json()
    second = (await upload(client, bob, wav_b, filename="song.wav")).json()
    assert first["record_id"] != second["record_id"]
    assert first["url"] != second["url"]
    assert first["output"]["sha256"] != second["output"]["sha256"]
    a = await client.get(first["url"])
    b = await client.get(second["url"])
    assert a.headers["etag"] == f'"{first["output"]["sha256"]}"'
    assert b.headers["etag"] == f'"{second["output"]["sha256"]}"'
    assert a.content != b.content
    # Each record belongs to its uploader only.
    crossed = await client.get("/record", params={"id": first["record_id"], "user": bob.user_id})
    assert crossed.status_code == 404


async def test_the_same_user_uploading_twice_gets_two_records(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path
) -> None:
    first = (await upload(client, user, tone_wav)).json()
    second = (await upload(client, user, tone_wav)).json()
    assert first["record_id"] != second["record_id"]
    # Each file's ID3 tag names its own record (TXXX record_id): the audio is the same.
    a, b = [(await client.get(record["url"])).content for record in (first, second)]
    assert first["output"]["sha256"] != second["output"]["sha256"]
    assert audio_frames_of(a) == audio_frames_of(b)


async def test_the_upload_answer_describes_the_record(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path, settings: AudioSettings
) -> None:
    response = await upload(client, user, tone_wav, filename="My Song.WAV")
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == body["url"]
    assert body["filename"] == "My Song.mp3"
    assert body["original_filename"] == "My Song.WAV"
    assert body["input"] == {
        "container": "WAV",
        "codec": "PCM_16",
        "format_tag": 1,
        "format": "0x0001 (PCM)",
        "subformat_tag": None,
        "sample_rate": 44100,
        "channels": 2,
        "bit_depth": 16,
        "frames": 22050,
        "size_bytes": (await anyio.Path(tone_wav).stat()).st_size,
    }
    assert body["output"]["bitrate_kbps"] == settings.mp3_bitrate_kbps
    assert body["output"]["format"] == "mp3"
    assert body["created_at"].endswith("Z") or body["created_at"].endswith("+00:00")


async def test_the_filename_is_never_used_as_a_path(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path, staging_root: Path
) -> None:
    response = await upload(client, user, tone_wav, filename="../../escape.wav")
    assert response.status_code == 201
    assert response.json()["original_filename"] == "escape.wav"
    for directory in (staging_root, staging_root.parent, staging_root.parent.parent):
        assert not (directory / "escape.wav").exists()
