"""What an operator bounds: per-user quotas, the conversion queue, uploads per user, and the
metrics that show them (real PostgreSQL; conversions held at a gate where order matters)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from audio_service import repository, uploads
from audio_service.tests.conftest import ClientFactory, RowCounts, StagedFiles
from audio_service.tests.gates import GatedConversions
from testkit.audio import AudioUser, bearer_header, create_user, upload
from testkit.metrics import Scrape
from testkit.problems import assert_problem


async def scrape(client: httpx.AsyncClient) -> Scrape:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return Scrape(response.text)


async def mp3_size_of(make_client: ClientFactory, tone_wav: Path) -> int:
    """The MP3 size of ``tone_wav``, converted by a service without quotas."""
    async with make_client() as client:
        user = await create_user(client)
        response = await upload(client, user, tone_wav)
    assert response.status_code == 201
    size: int = response.json()["output"]["size_bytes"]
    return size


async def until(check: Any, client: httpx.AsyncClient, *, steps: int = 500) -> Scrape:
    """Scrapes until ``check(scrape)`` holds (bounded: ``steps`` scrapes, 10 ms apart)."""
    for _ in range(steps):
        current = await scrape(client)
        if check(current):
            return current
        await asyncio.sleep(0.01)
    raise AssertionError("the metrics never showed the expected state")


# --- quotas ----------------------------------------------------------------------------------


async def test_a_user_with_no_byte_left_is_refused_before_the_conversion(
    make_client: ClientFactory, tone_wav: Path, row_counts: RowCounts
) -> None:
    size = await mp3_size_of(make_client, tone_wav)
    async with make_client(user_quota_bytes=size) as client:
        user = await create_user(client)
        assert (await upload(client, user, tone_wav)).status_code == 201  # exactly the quota
        before, counts = await scrape(client), await row_counts()
        response = await upload(client, user, tone_wav)
        after = await scrape(client)
    body = assert_problem(
        response,
        403,
        slug="quota-exceeded",
        quota="bytes",
        used_bytes=size,
        max_bytes=size,
        used_records=1,
        max_records=None,
    )
    assert f"{size} of the {size} MP3 bytes" in body["detail"]
    assert await row_counts() == counts
    assert after.value("audio_uploads_rejected_total", reason="quota_bytes") == 1
    # Refused before any conversion: not one more conversion was counted.
    assert after.total("audio_conversions_total") == before.total("audio_conversions_total")


async def test_an_upload_whose_mp3_does_not_fit_is_refused_when_stored(
    make_client: ClientFactory, tone_wav: Path, row_counts: RowCounts, staged_files: StagedFiles
) -> None:
    size = await mp3_size_of(make_client, tone_wav)
    async with make_client(user_quota_bytes=size + 100) as client:
        user = await create_user(client)
        assert (await upload(client, user, tone_wav)).status_code == 201
        counts = await row_counts()
        response = await upload(client, user, tone_wav)  # 100 bytes left: passes the pre-check
        after = await scrape(client)
    assert_problem(
        response, 403, slug="quota-exceeded", used_bytes=size, needed_bytes=size, quota="bytes"
    )
    assert await row_counts() == counts
    assert staged_files() == []
    assert after.value("audio_conversions_total", outcome="ok", reason="none", codec="PCM_16") == 2
    assert after.value("audio_mp3_stored_bytes_total") == size  # only the first was stored


async def test_record_count_quota_frees_up_when_a_record_is_deleted(
    make_client: ClientFactory, tone_wav: Path
) -> None:
    async with make_client(user_max_records=1) as client:
        user = await create_user(client)
        first = await upload(client, user, tone_wav)
        assert first.status_code == 201
        second = await upload(client, user, tone_wav)
        body = assert_problem(second, 403, slug="quota-exceeded", quota="records", max_records=1)
        assert "1 of the 1 records" in body["detail"]
        other = await create_user(client)
        assert (await upload(client, other, tone_wav)).status_code == 201, "quotas are per user"
        query = {"id": first.json()["record_id"], "user": str(user.user_id)}
        deleted = await client.delete("/record", params=query, headers=bearer_header(user))
        assert deleted.status_code == 204
        assert (await upload(client, user, tone_wav)).status_code == 201


async def test_two_concurrent_uploads_cannot_both_take_the_last_free_bytes(
    make_client: ClientFactory,
    tone_wav: Path,
    row_counts: RowCounts,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Room for one MP3 and two uploads converted side by side: both pass the check before
    their conversion; a barrier makes both storing transactions ask for the user's lock at
    the same moment, and PostgreSQL lets one through first. Without the lock both would
    read the same usage and both be stored."""
    size = await mp3_size_of(make_client, tone_wav)
    barrier = asyncio.Barrier(2)
    real_lock_user = repository.lock_user

    async def lock_together(*args: Any) -> bool:
        await barrier.wait()
        return await real_lock_user(*args)

    monkeypatch.setattr(repository, "lock_user", lock_together)
    counts = await row_counts()
    async with make_client(user_quota_bytes=size + size // 2) as client:
        user = await create_user(client)
        responses = await asyncio.wait_for(
            asyncio.gather(upload(client, user, tone_wav), upload(client, user, tone_wav)), 30
        )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201, 403], [r.text for r in responses]
    refused = next(r for r in responses if r.status_code == 403)
    assert_problem(refused, 403, slug="quota-exceeded", used_bytes=size)
    after = await row_counts()
    assert after["records"] == counts["records"] + 1


# --- admission -------------------------------------------------------------------------------


async def test_a_full_conversion_queue_answers_503_at_once(
    make_client: ClientFactory, tone_wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gated = GatedConversions()
    monkeypatch.setattr(uploads, "convert_wav_to_mp3", gated)
    async with make_client(conversion_workers=1, max_queued_conversions=1) as client:
        users = [await create_user(client) for _ in range(3)]
        converting = asyncio.create_task(upload(client, users[0], tone_wav))
        await gated.until_running(1)
        waiting = asyncio.create_task(upload(client, users[1], tone_wav))
        await until(lambda s: s.value("audio_conversion_queue_length") == 1, client)
        refused = await upload(client, users[2], tone_wav)  # answered while the others hold
        assert not converting.done()
        assert not waiting.done()
        gated.gate.set()
        assert (await converting).status_code == (await waiting).status_code == 201
        after = await scrape(client)
    body = assert_problem(refused, 503, slug="service-unavailable", queued=1)
    assert int(refused.headers["retry-after"]) >= 1
    assert "waiting for a conversion" in body["detail"]
    assert after.value("audio_uploads_rejected_total", reason="queue_full") == 1
    assert after.value("audio_conversion_queue_length") == 0
    assert after.value("audio_conversion_queue_wait_seconds_count") == 2


async def test_uploads_in_progress_per_user_are_capped(
    make_client: ClientFactory, tone_wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gated = GatedConversions()
    monkeypatch.setattr(uploads, "convert_wav_to_mp3", gated)
    async with make_client(max_uploads_per_user=1) as client:
        busy, other = await create_user(client), await create_user(client)
        first = asyncio.create_task(upload(client, busy, tone_wav))
        await gated.until_running(1)
        second = await upload(client, busy, tone_wav)
        others = asyncio.create_task(upload(client, other, tone_wav))
        await gated.until_running(2)  # another user's upload is not held back
        gated.gate.set()
        assert (await first).status_code == (await others).status_code == 201
        assert (await upload(client, busy, tone_wav)).status_code == 201, "the slot is free again"
        after = await scrape(client)
    assert_problem(
        second, 429, slug="too-many-requests", uploads_in_progress=1, max_uploads_per_user=1
    )
    assert int(second.headers["retry-after"]) >= 1
    assert after.value("audio_uploads_rejected_total", reason="user_busy") == 1


# --- metrics ---------------------------------------------------------------------------------


async def test_conversion_metrics_follow_the_uploads(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path
) -> None:
    before = await scrape(client)
    ok = (await upload(client, user, tone_wav)).json()
    assert (await upload(client, user, b"not a wav")).status_code == 415
    assert (await upload(client, user, b"")).status_code == 422
    after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved("audio_conversions_total", outcome="ok", reason="none", codec="PCM_16") == 1
    refused = {"outcome": "refused", "codec": "unknown"}
    assert moved("audio_conversions_total", **refused, reason="not_wav") == 1
    assert moved("audio_conversions_total", **refused, reason="empty_file") == 1
    assert moved("audio_conversions_total", outcome="failed", reason="none", codec="unknown") == 0
    assert moved("audio_mp3_stored_bytes_total") == ok["output"]["size_bytes"]
    assert moved("audio_upload_received_bytes_total") == ok["input"]["size_bytes"] + len(
        b"not a wav"
    )
    assert moved("audio_converted_audio_seconds_total") == pytest.approx(0.5)
    assert moved("audio_conversion_seconds_count") == 1
    assert moved("audio_conversion_realtime_factor_count") == 1
    assert after.value("audio_conversion_realtime_factor_sum") > 1
    upload_route = {"route": "/record", "method": "POST"}
    assert moved("http_requests_total", **upload_route, status="201") == 1
    assert moved("http_requests_total", **upload_route, status="415") == 1
    assert after.value("db_pool_in_use_connections") == 0
    assert after.value("db_pool_max_connections") == 20  # pool 10 + overflow 10
