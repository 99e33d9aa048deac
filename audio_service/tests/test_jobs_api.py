"""The job contract of POST /record (RFC 7240 respond-async, long uploads) and GET
/record/jobs/{id}, on PostgreSQL with no worker running: the jobs stay queued, their WAV is in
the database (``job_chunks``) and their queue entry next to them, committed together."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from audio_service.api import respond_async_preferred
from testkit.audio import bearer_header, create_user, upload
from testkit.wav import write_tone_wav

from .conftest import ClientFactory

ASYNC = {"Prefer": "respond-async"}

pytestmark = pytest.mark.usefixtures("empty_queue")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["respond-async"], True),
        (["wait=10, Respond-Async"], True),
        (["respond-async; foo=bar"], True),
        (["return=minimal", "respond-async"], True),
        (["return=minimal"], False),
        (["respond-asynchronously"], False),
        ([], False),
    ],
)
def test_prefer_parsing(headers: list[str], expected: bool) -> None:
    assert respond_async_preferred(headers) is expected


async def _queue_rows(engine: AsyncEngine) -> list[tuple[str, str, str]]:
    async with engine.connect() as connection:
        result = await connection.execute(
            text("SELECT task_name, status::text, args->>'job_id' FROM procrastinate_jobs")
        )
        return [(row[0], row[1], row[2]) for row in result]


async def test_respond_async_answers_202_with_the_queued_job(
    client: httpx.AsyncClient, tone_wav: Path, db_engine: AsyncEngine
) -> None:
    user = await create_user(client)
    response = await upload(client, user, tone_wav, headers=ASYNC)
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["Preference-Applied"] == "respond-async"
    assert response.headers["Location"] == f"http://testserver/record/jobs/{job['job_id']}"
    assert job["url"] == response.headers["Location"]
    assert (job["status"], job["progress"], job["record_url"], job["problem"]) == (
        "queued",
        0.0,
        None,
        None,
    )
    size = (await anyio.Path(tone_wav).stat()).st_size
    assert job["input_size_bytes"] == size
    # The queue entry was committed with the job row.
    assert await _queue_rows(db_engine) == [("audio_service.convert", "todo", job["job_id"])]
    async with db_engine.connect() as connection:
        staged = await connection.scalar(
            text("SELECT sum(length(data)) FROM job_chunks WHERE job_id = :id"),
            {"id": job["job_id"]},
        )
    assert staged == size

    polled = await client.get(f"/record/jobs/{job['job_id']}", headers=bearer_header(user))
    assert polled.status_code == 200, polled.text
    assert polled.json()["status"] == "queued"
    assert polled.headers["Cache-Control"] == "no-store"


async def test_another_users_job_is_404_and_no_token_401(
    client: httpx.AsyncClient, tone_wav: Path
) -> None:
    owner, other = await create_user(client), await create_user(client)
    job = (await upload(client, owner, tone_wav, headers=ASYNC)).json()
    url = f"/record/jobs/{job['job_id']}"
    assert (await client.get(url, headers=bearer_header(other))).status_code == 404
    missing = await client.get(
        "/record/jobs/00000000-0000-4000-8000-000000000000", headers=bearer_header(owner)
    )
    assert missing.status_code == 404
    unauthenticated = await client.get(url)
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["Content-Type"] == "application/problem+json"


async def test_an_upload_longer_than_the_sync_limit_becomes_a_job(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    long_wav = write_tone_wav(tmp_path / "long.wav", sample_rate=8000, channels=1, duration_s=2)
    short_wav = write_tone_wav(tmp_path / "short.wav", sample_rate=8000, channels=1, duration_s=1)
    async with make_client(sync_max_duration_s=1.5) as client:
        user = await create_user(client)
        long = await upload(client, user, long_wav)
        assert long.status_code == 202, long.text
        assert "Preference-Applied" not in long.headers  # the client did not ask
        short = await upload(client, user, short_wav)
        assert short.status_code == 201, short.text


async def test_what_is_no_wav_is_refused_at_once_not_queued(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    user = await create_user(client)
    response = await upload(client, user, b"not a wav at all" * 100, headers=ASYNC)
    assert response.status_code == 415, response.text
    assert await _queue_rows(db_engine) == []


async def test_a_wrong_token_makes_no_job(client: httpx.AsyncClient, tone_wav: Path) -> None:
    user = await create_user(client)
    response = await upload(
        client, user, tone_wav, token="00000000-0000-4000-8000-000000000000", headers=ASYNC
    )
    assert response.status_code == 401
