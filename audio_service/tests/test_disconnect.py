"""A client that disconnects during its upload's conversion stops it, and nothing is stored.

Only a real server shows a disconnect, so the app runs under uvicorn (``served_app``) on
PostgreSQL. The conversion is long enough (a minute of stereo at LAME's slowest quality)
that it cannot end on its own in the moments between the test seeing it run and the
server seeing the client leave; the metrics say when it runs and how it ended.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from audio_service.main import create_app
from audio_service.tests.conftest import RowCounts, StagedFiles, make_settings
from testkit.apps import served_app
from testkit.audio import create_user, upload
from testkit.metrics import Scrape
from testkit.wav import write_tone_wav

CANCELLED = {"outcome": "cancelled", "reason": "none", "codec": "unknown"}


async def until(client: httpx.AsyncClient, name: str, value: float, **labels: str) -> None:
    for _ in range(1000):  # 10 s at most
        if Scrape((await client.get("/metrics")).text).value(name, **labels) == value:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{name}{labels} never reached {value}")


async def test_a_client_that_leaves_stops_its_conversion(
    database_url: str,
    staging_root: Path,
    tmp_path: Path,
    row_counts: RowCounts,
    staged_files: StagedFiles,
) -> None:
    wav = write_tone_wav(tmp_path / "minute.wav", sample_rate=44100, channels=2, duration_s=60)
    settings = make_settings(
        database_url, staging_root, max_upload_bytes=16 * 1024 * 1024, mp3_quality=0
    )
    before = await row_counts()
    with served_app(create_app(settings)) as (host, port):
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=30) as client:
            user = await create_user(client)
            async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=30) as leaver:
                pending = asyncio.create_task(upload(leaver, user, wav))
                await until(client, "audio_conversions_in_progress", 1)
                pending.cancel()  # httpx drops the connection
                await asyncio.wait({pending})
            await until(client, "audio_conversions_total", 1, **CANCELLED)
            metrics = Scrape((await client.get("/metrics")).text)
    assert metrics.value("audio_conversions_in_progress") == 0
    assert metrics.value("audio_conversion_seconds_count") == 0, "no conversion finished"
    assert metrics.value("http_requests_total", route="/record", method="POST", status="499") == 1
    assert metrics.value("audio_mp3_stored_bytes_total") == 0
    after = await row_counts()
    assert after["records"] == before["records"]
    assert after["record_chunks"] == before["record_chunks"]
    assert staged_files() == []
