"""GET /record/peaks: the contract around the JSON (404/422 like the download, 304, limits),
and POST /record's optional ``title`` / ``artist`` fields. What the peaks *say* is checked
against the audio in test_exact_mp3s_api."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import anyio
import httpx
import mutagen.id3
import pytest
from pydantic import ValidationError
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from audio_service.models import RecordPeaks
from audio_service.settings import AudioSettings
from testkit.audio import AudioUser, upload
from testkit.problems import assert_problem


@pytest.fixture
async def record(client: httpx.AsyncClient, user: AudioUser, tone_wav: Path) -> dict[str, Any]:
    response = await upload(client, user, tone_wav, filename="take one.wav")
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _query(record: dict[str, Any], **more: object) -> dict[str, str]:
    return {"id": record["record_id"], "user": str(record["user_id"])} | {
        key: str(value) for key, value in more.items()
    }


async def test_peaks_answer_and_validators(
    client: httpx.AsyncClient, record: dict[str, Any]
) -> None:
    assert record["peaks_url"].endswith(
        f"/record/peaks?id={record['record_id']}&user={record['user_id']}"
    )
    response = await client.get("/record/peaks", params=_query(record, pixels=50))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "version",
        "channels",
        "sample_rate",
        "samples_per_pixel",
        "bits",
        "length",
        "data",
    }
    assert (body["version"], body["bits"], body["channels"]) == (2, 8, 2)
    assert 0 < body["length"] <= 50
    assert len(body["data"]) == body["length"] * body["channels"] * 2
    headers = response.headers
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"].startswith("private, max-age=")
    assert "immutable" in headers["cache-control"]
    etag = headers["etag"]
    assert etag.startswith(f'"{record["output"]["sha256"]}-peaks-50-8')
    # Each resolution is its own representation; a current ETag is a 304.
    other = await client.get("/record/peaks", params=_query(record, pixels=51))
    assert other.headers["etag"] != etag
    again = await client.get(
        "/record/peaks", params=_query(record, pixels=50), headers={"If-None-Match": etag}
    )
    assert again.status_code == 304
    assert again.content == b""


async def test_unknown_record_and_another_users_record_are_404(
    client: httpx.AsyncClient, record: dict[str, Any]
) -> None:
    for query in (
        {"id": str(uuid.uuid4()), "user": str(record["user_id"])},
        {"id": record["record_id"], "user": str(record["user_id"] + 1)},
    ):
        response = await client.get("/record/peaks", params=query)
        assert_problem(response, 404, detail="No such record for this user.")


async def test_a_record_without_peaks_is_404(
    client: httpx.AsyncClient, record: dict[str, Any], db_engine: AsyncEngine
) -> None:
    # Records converted before peaks were kept have no row.
    async with db_engine.begin() as connection:
        await connection.execute(delete(RecordPeaks))
    response = await client.get("/record/peaks", params=_query(record))
    problem = assert_problem(response, 404)
    assert "no waveform peaks" in problem["detail"]


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"id": "not-a-uuid", "user": "1"},
        {"id": "{record_id}"},
        {"user": "1"},
        {"id": "{record_id}", "user": "abc"},
        {"id": "{record_id}", "user": "0"},
        {"id": "{record_id}", "user": str(2**53)},
        {"id": "{record_id}", "user": "{user}", "pixels": "0"},
        {"id": "{record_id}", "user": "{user}", "pixels": "65537"},
        {"id": "{record_id}", "user": "{user}", "pixels": "ten"},
        {"id": "{record_id}", "user": "{user}", "bits": "12"},
        {"id": "{record_id}", "user": "{user}", "bits": "32"},
    ],
)
async def test_malformed_queries_are_422_like_the_download(
    client: httpx.AsyncClient, record: dict[str, Any], query: dict[str, str]
) -> None:
    filled = {
        key: value.format(record_id=record["record_id"], user=record["user_id"])
        for key, value in query.items()
    }
    response = await client.get("/record/peaks", params=filled)
    assert_problem(response, 422)
    assert response.json()["errors"]
    if "pixels" not in query and "bits" not in query:
        download = await client.get("/record", params=filled)
        assert download.status_code == 422
        assert download.json()["errors"] == response.json()["errors"]


def _tag(content: bytes) -> Any:
    return mutagen.id3.ID3(io.BytesIO(content))  # type: ignore[no-untyped-call]


async def test_title_and_artist_fields_go_into_the_tag(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path
) -> None:
    response = await client.post(
        "/record",
        data={
            "user_id": str(user.user_id),
            "token": user.token,
            "title": "  Café Noël  ",
            "artist": "Ada Lovelace",
        },
        files={"file": ("x.wav", await anyio.Path(tone_wav).read_bytes(), "audio/wav")},
    )
    assert response.status_code == 201, response.text
    tag = _tag((await client.get(response.json()["url"])).content)
    assert (str(tag["TIT2"]), str(tag["TPE1"])) == ("Café Noël", "Ada Lovelace")


async def test_a_blank_title_falls_back_to_the_file_name(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path
) -> None:
    response = await client.post(
        "/record",
        data={"user_id": str(user.user_id), "token": user.token, "title": " ", "artist": ""},
        files={"file": ("../My take.WAV", await anyio.Path(tone_wav).read_bytes(), "audio/wav")},
    )
    assert response.status_code == 201, response.text
    tag = _tag((await client.get(response.json()["url"])).content)
    assert str(tag["TIT2"]) == "My take"
    assert "TPE1" not in tag


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "a" * 201, "at most 200 characters"),
        ("artist", "b" * 201, "at most 200 characters"),
        ("title", "line\nbreak", "control characters"),
        ("artist", "tab\there", "control characters"),
        ("title", "nul\x00", "control characters"),
        ("title", "bell\x07", "control characters"),
    ],
)
async def test_bad_tag_fields_are_422(
    client: httpx.AsyncClient,
    user: AudioUser,
    tone_wav: Path,
    field: str,
    value: str,
    message: str,
) -> None:
    response = await client.post(
        "/record",
        data={"user_id": str(user.user_id), "token": user.token, field: value},
        files={"file": ("x.wav", await anyio.Path(tone_wav).read_bytes(), "audio/wav")},
    )
    problem = assert_problem(response, 422)
    [error] = problem["errors"]
    assert field in str(error)
    assert message in str(error)


@pytest.mark.parametrize(
    ("values", "valid"),
    [
        ({"mp3_mode": "vbr", "mp3_vbr_quality": "0"}, True),
        ({"mp3_mode": "abr"}, False),
        ({"mp3_vbr_quality": "10"}, False),
        ({"normalize_lufs": "-16"}, True),
        ({"normalize_lufs": ""}, True),
        ({"normalize_lufs": "0"}, False),
        ({"normalize_lufs": "-80"}, False),
    ],
)
def test_mp3_settings_are_validated(values: dict[str, str], valid: bool) -> None:
    if valid:
        settings = AudioSettings.model_validate(values)
        assert settings.normalize_lufs in (None, -16.0)
    else:
        with pytest.raises(ValidationError):
            AudioSettings.model_validate(values)


def test_mp3_settings_defaults() -> None:
    settings = AudioSettings()
    assert (settings.mp3_mode, settings.mp3_vbr_quality, settings.normalize_lufs) == (
        "cbr",
        2,
        None,
    )
