"""How uploads are run: off the event loop, bounded by the worker count, all or nothing."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.pool import QueuePool

from audio_service import repository, uploads
from audio_service.resources import AudioResources
from audio_service.tests.conftest import ClientFactory, RowCounts, StagedFiles
from audio_service.tests.gates import GatedConversions
from testkit.apps import running_app
from testkit.audio import AudioUser, create_user, upload
from testkit.wav import write_tone_wav


async def test_the_event_loop_keeps_serving_during_a_conversion(
    client: httpx.AsyncClient,
    user: AudioUser,
    tone_wav: Path,
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gated = GatedConversions()
    monkeypatch.setattr(uploads, "convert_wav_to_mp3", gated)
    pending = asyncio.create_task(upload(client, user, tone_wav))
    await gated.until_running(1)
    # Answered while the conversion is held at its gate: it does not block the loop.
    assert (await client.get("/health")).status_code == 200
    assert gated.running == 1
    # No pooled connection is held while converting (auth used its own short session).
    resources: AudioResources = app.state.resources
    pool = resources.database.engine.pool
    assert isinstance(pool, QueuePool)
    assert pool.checkedout() == 0
    gated.gate.set()
    assert (await pending).status_code == 201
    assert threading.main_thread().name not in gated.threads


async def test_conversions_at_once_are_bounded_by_the_worker_count(
    make_client: ClientFactory, tone_wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gated = GatedConversions()
    monkeypatch.setattr(uploads, "convert_wav_to_mp3", gated)
    async with make_client(conversion_workers=2, max_uploads_per_user=5) as client:
        user = await create_user(client, "Busy")
        uploads_ = [asyncio.create_task(upload(client, user, tone_wav)) for _ in range(5)]
        await gated.until_running(2)  # both slots taken, three uploads waiting for one
        gated.gate.set()
        responses = await asyncio.gather(*uploads_)
        assert [r.status_code for r in responses] == [201] * 5
        assert gated.peak == 2


async def test_a_failure_while_storing_leaves_nothing(
    client: httpx.AsyncClient,
    user: AudioUser,
    tmp_path: Path,
    row_counts: RowCounts,
    staged_files: StagedFiles,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wav = write_tone_wav(tmp_path / "long.wav", channels=1, duration_s=3.0)
    calls = 0
    real_add_chunk = repository.add_chunk

    async def failing_add_chunk(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("disk full")
        await real_add_chunk(*args)

    monkeypatch.setattr(repository, "add_chunk", failing_add_chunk)
    before = await row_counts()
    response = await upload(client, user, wav)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "disk full" not in response.text
    assert await row_counts() == before
    assert staged_files() == []


async def test_one_structured_log_line_per_conversion(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="audio.conversion")
    body = (await upload(client, user, tone_wav)).json()
    await upload(client, user, b"not a wav")
    records = [r for r in caplog.records if r.name == "audio.conversion"]
    assert [r.getMessage() for r in records] == ["conversion", "conversion refused"]
    fields: dict[str, Any] = records[0].fields  # type: ignore[attr-defined]
    assert fields["record_id"] == body["record_id"]
    assert fields["input_codec"] == "PCM_16"
    assert fields["input_sample_rate"] == 44100
    assert fields["input_channels"] == 2
    assert fields["duration_s"] == 0.5
    assert fields["input_bytes"] == body["input"]["size_bytes"]
    assert fields["mp3_bytes"] == body["output"]["size_bytes"]
    assert fields["convert_s"] > 0
    assert fields["realtime_factor"] > 1
    refused: dict[str, Any] = records[1].fields  # type: ignore[attr-defined]
    assert refused["code"] == "not_wav"


async def test_staging_dir_is_removed_with_the_app(app: FastAPI, staging_root: Path) -> None:
    async with running_app(app):
        (staging,) = [path async for path in anyio.Path(staging_root).glob("audio-staging-*")]
        assert await anyio.Path(staging).is_dir()
    assert not await anyio.Path(staging).exists()
