"""Jobs on the embedded SQLite default (``make run``): no worker process, the service
converts its jobs in-process; the 202 contract is the same, and a restart takes up every
job not final yet."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import aiosqlite
import httpx
import mutagen.id3
import pytest

from audio_service import uploads
from audio_service.main import create_app
from audio_service.tests.conftest import ALEMBIC_INI, make_settings
from audio_service.tests.gates import GatedConversions
from shared.migrations import upgrade_database
from testkit.apps import running_app
from testkit.audio import AudioUser, bearer_header, create_user, upload
from testkit.wav import write_tone_wav

ASYNC = {"Prefer": "respond-async"}


async def _final(client: httpx.AsyncClient, user: AudioUser, job_id: str) -> dict[str, Any]:
    for _ in range(2000):
        response = await client.get(f"/record/jobs/{job_id}", headers=bearer_header(user))
        body: dict[str, Any] = response.json()
        if body["status"] in ("done", "failed"):
            return body
        await asyncio.sleep(0.01)
    pytest.fail(f"job {job_id} never ended")


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'audio.db'}"
    await asyncio.to_thread(upgrade_database, ALEMBIC_INI, url)
    return url


@pytest.mark.sqlite
async def test_respond_async_on_sqlite_converts_in_process(sqlite_url: str, tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    wav = write_tone_wav(tmp_path / "tone.wav", sample_rate=22050, channels=1, duration_s=1.0)
    async with running_app(create_app(make_settings(sqlite_url, staging))) as client:
        user = await create_user(client)
        accepted = await upload(client, user, wav, filename="take one.wav", headers=ASYNC)
        assert accepted.status_code == 202, accepted.text
        assert accepted.headers["Preference-Applied"] == "respond-async"
        job = await _final(client, user, accepted.json()["job_id"])
        assert job["status"] == "done", job
        download = await client.get(job["record_url"])
        assert download.status_code == 200
        tag = mutagen.id3.ID3(io.BytesIO(download.content))  # type: ignore[no-untyped-call]
        assert str(tag["TIT2"]) == "take one"  # the default title, as in the request
        assert str(tag["TXXX:record_id"]) == job["record_id"]
        peaks = await client.get(
            "/record/peaks", params={"id": job["record_id"], "user": user.user_id}
        )
        assert peaks.status_code == 200, peaks.text


@pytest.mark.sqlite
async def test_a_restart_on_sqlite_takes_up_the_unfinished_jobs(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    wav = write_tone_wav(tmp_path / "tone.wav", sample_rate=22050, channels=1, duration_s=1.0)
    settings = make_settings(sqlite_url, staging, conversion_workers=1)
    gated = GatedConversions()
    monkeypatch.setattr(uploads, "convert_wav_to_mp3", gated)
    async with running_app(create_app(settings)) as client:
        user = await create_user(client)
        first = (await upload(client, user, wav, headers=ASYNC)).json()["job_id"]
        second = (await upload(client, user, wav, headers=ASYNC)).json()["job_id"]
        await gated.until_running(1)  # one converting, one queued: then the service stops
        # The gate opens as the service stops: its conversion sees the stop between blocks.
        asyncio.get_running_loop().call_soon(gated.gate.set)
    async with aiosqlite.connect(sqlite_url.removeprefix("sqlite+aiosqlite:///")) as db:
        rows = await (await db.execute("SELECT status, attempts FROM conversion_jobs")).fetchall()
    assert sorted(rows) == [("converting", 1), ("queued", 0)]
    async with running_app(create_app(settings)) as client:
        jobs = [await _final(client, user, job_id) for job_id in (first, second)]
        assert [job["status"] for job in jobs] == ["done", "done"]
        listed = await client.get(f"/user/{user.user_id}/records", headers=bearer_header(user))
        assert listed.json()["total"] == 2
