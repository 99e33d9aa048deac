"""The S3 backend against a real SeaweedFS: where bytes go, deletes, the 503s, the sweeper,
the redirect mode, and the migration between backends (in-process; the process-killing
fault tests are in tests/e2e/test_storage_faults.py)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from audio_service.main import create_app
from audio_service.resources import open_storages
from audio_service.settings import AudioSettings
from audio_service.storage_migrate import migrate
from audio_service.storage_s3 import S3Storage
from audio_service.storage_sweep import sweep
from audio_service.tests.conftest import (
    ClientFactory,
    RowCounts,
    make_settings,
    s3_overrides,
)
from devstack.seaweedfs import SeaweedFS
from shared.db import Database
from testkit.apps import running_app
from testkit.audio import AudioUser, bearer_header, create_user, upload
from testkit.s3 import Bucket
from testkit.wav import write_tone_wav


@pytest.fixture
def s3(seaweedfs: SeaweedFS, s3_bucket_name: str, bucket: Bucket) -> dict[str, Any]:
    return s3_overrides(seaweedfs, s3_bucket_name)


@pytest.fixture
def s3_settings(database_url: str, staging_root: Path, s3: dict[str, Any]) -> AudioSettings:
    return make_settings(database_url, staging_root, **s3)


@pytest.fixture
async def s3_client(
    make_client: ClientFactory, s3: dict[str, Any]
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(**s3) as client:
        yield client


def _query(body: dict[str, Any]) -> dict[str, str]:
    return {"id": body["record_id"], "user": str(body["user_id"])}


async def _upload(client: httpx.AsyncClient, user: AudioUser, wav: Path) -> dict[str, Any]:
    response = await upload(client, user, wav)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _storage_rows(db_engine: AsyncEngine) -> list[tuple[str, str | None, str]]:
    async with db_engine.connect() as connection:
        result = await connection.execute(
            text("SELECT storage, storage_key, state FROM records ORDER BY created_at")
        )
        return [(row[0], row[1], row[2]) for row in result.all()]


async def test_an_upload_goes_to_the_bucket_and_the_service_hands_the_download_off(
    s3_client: httpx.AsyncClient,
    tone_wav: Path,
    bucket: Bucket,
    db_engine: AsyncEngine,
    row_counts: RowCounts,
) -> None:
    user = await create_user(s3_client)
    body = await _upload(s3_client, user, tone_wav)
    key = f"records/{body['record_id']}.mp3"
    assert bucket.names() == [key]
    assert hashlib.sha256(bucket.read(key)).hexdigest() == body["output"]["sha256"]
    assert await _storage_rows(db_engine) == [("s3", key, "ready")]
    assert (await row_counts())["record_chunks"] == 0, "no bytes in the database"
    assert bucket.uploads() == []

    # The service itself sends no MP3 bytes: it authorises and names the object for the
    # gateway (tests/…/test_downloads.py checks what the gateway makes of it).
    response = await s3_client.get("/record", params=_query(body))
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["x-accel-redirect"] == "/_storage/s3"
    assert response.headers["x-storage-url"].startswith(
        f"{s3_client_endpoint(bucket)}/{bucket.name}/{key}?"
    )
    assert "X-Amz-Signature=" in response.headers["x-storage-url"]
    assert response.headers["x-storage-range"] == ""
    assert response.headers["etag"] == f'"{body["output"]["sha256"]}"'
    ranged = await s3_client.get("/record", params=_query(body), headers={"Range": "bytes=5-9"})
    assert ranged.headers["x-storage-range"] == "bytes=5-9"
    # The presigned URL really serves the object.
    async with httpx.AsyncClient() as outside:
        fetched = await outside.get(
            response.headers["x-storage-url"], headers={"Range": "bytes=5-9"}
        )
    assert fetched.status_code == 206
    assert fetched.content == bucket.read(key)[5:10]


def s3_client_endpoint(bucket: Bucket) -> str:
    return str(bucket.client.meta.endpoint_url).rstrip("/")


async def test_delete_removes_the_row_and_the_object(
    s3_client: httpx.AsyncClient, tone_wav: Path, bucket: Bucket, row_counts: RowCounts
) -> None:
    user = await create_user(s3_client)
    body = await _upload(s3_client, user, tone_wav)
    deleted = await s3_client.delete("/record", params=_query(body), headers=bearer_header(user))
    assert deleted.status_code == 204
    assert bucket.names() == []
    assert (await row_counts())["records"] == 0
    assert (await s3_client.get("/record", params=_query(body))).status_code == 404


async def test_the_store_down_is_a_503_then_it_works_again_without_a_restart(
    make_client: ClientFactory,
    s3: dict[str, Any],
    seaweedfs: SeaweedFS,
    tone_wav: Path,
    bucket: Bucket,
    db_engine: AsyncEngine,
    s3_settings: AudioSettings,
) -> None:
    async with make_client(**s3, s3_read_timeout_s=0.5) as client:
        user = await create_user(client)
        kept = await _upload(client, user, tone_wav)
        seaweedfs.freeze()  # accepts connections, answers nothing
        try:
            failed = await upload(client, user, tone_wav)
            listing = await client.get(f"/user/{user.user_id}/records", headers=bearer_header(user))
            downloaded = await client.get("/record", params=_query(kept))
        finally:
            seaweedfs.thaw()
        assert failed.status_code == 503, failed.text
        problem = failed.json()
        assert failed.headers["content-type"] == "application/problem+json"
        assert problem["code"] == "storage_unavailable"
        assert "Traceback" not in failed.text
        # Nothing half-written is visible: the one record is the one stored before.
        assert [item["record_id"] for item in listing.json()["items"]] == [kept["record_id"]]
        # Metadata and authorisation need no object store; the gateway fetches the bytes.
        assert downloaded.status_code == 200
        # Back up: the same process stores again.
        again = await _upload(client, user, tone_wav)
        assert again["record_id"] != kept["record_id"]
    # The failed upload left only its pending row (it names the key); a sweep removes it.
    states = sorted(state for _, _, state in await _storage_rows(db_engine))
    assert states in (["ready", "ready"], ["pending", "ready", "ready"])
    await _sweep(s3_settings, grace_s=0)
    assert sorted(state for _, _, state in await _storage_rows(db_engine)) == ["ready", "ready"]
    assert sorted(bucket.names()) == sorted(
        f"records/{body['record_id']}.mp3" for body in (kept, again)
    )
    assert bucket.uploads() == []


async def _sweep(settings: AudioSettings, *, grace_s: float) -> Any:
    database = Database.from_settings(settings, "test-sweep")
    try:
        async with open_storages(settings, database) as storages:
            return await sweep(database, storages, grace_s=grace_s)
    finally:
        await database.dispose()


async def test_the_sweeper_removes_orphans_and_keeps_what_is_young_or_named(
    s3_client: httpx.AsyncClient,
    tone_wav: Path,
    bucket: Bucket,
    s3_settings: AudioSettings,
    db_engine: AsyncEngine,
) -> None:
    user = await create_user(s3_client)
    body = await _upload(s3_client, user, tone_wav)
    named = f"records/{body['record_id']}.mp3"
    orphan = f"records/{uuid.uuid4()}.mp3"
    bucket.put(orphan, b"left by a crash")
    bucket.put("elsewhere/not-ours.bin", b"outside the prefix")
    upload_id = bucket.client.create_multipart_upload(Bucket=bucket.name, Key=orphan)["UploadId"]
    # A pending row whose upload was abandoned, and one being deleted.
    async with db_engine.begin() as connection:
        await connection.execute(
            text("UPDATE records SET state = 'pending', created_at = :old"),
            {"old": datetime.now(UTC) - timedelta(hours=2)},
        )

    young = await _sweep(s3_settings, grace_s=3600)
    assert young.orphan_objects == 0, "a young orphan may be an upload still in progress"
    assert young.abandoned_uploads == 1, "the row pending for two hours is abandoned"
    assert bucket.names() == sorted(["elsewhere/not-ours.bin", orphan])

    swept = await _sweep(s3_settings, grace_s=0)
    assert (swept.orphan_objects, swept.aborted_multipart) == (1, 1)
    assert bucket.names() == ["elsewhere/not-ours.bin"]
    assert upload_id not in [u for _, u, _ in bucket.uploads()]
    assert named not in bucket.names()
    again = await _sweep(s3_settings, grace_s=0)
    assert again.removed == 0, "idempotent"


async def test_redirect_mode_sends_the_client_to_a_presigned_url(
    make_client: ClientFactory, s3: dict[str, Any], tone_wav: Path
) -> None:
    async with make_client(**s3, s3_download="redirect") as client:
        user = await create_user(client)
        body = await _upload(client, user, tone_wav)
        response = await client.get("/record", params=_query(body))
        assert response.status_code == 302
        assert response.headers["cache-control"] == "no-store"
        async with httpx.AsyncClient() as outside:
            fetched = await outside.get(response.headers["location"])
        assert fetched.status_code == 200
        assert hashlib.sha256(fetched.content).hexdigest() == body["output"]["sha256"]
        assert fetched.headers["content-disposition"] == 'attachment; filename="tone.mp3"'
        assert fetched.headers["content-type"] == "audio/mpeg"
        # Conditionals are still the service's: no redirect for a current ETag.
        etag = f'"{body["output"]["sha256"]}"'
        cached = await client.get("/record", params=_query(body), headers={"If-None-Match": etag})
        assert cached.status_code == 304


async def test_migrate_both_ways_verifies_and_moves_every_record(
    database_url: str,
    staging_root: Path,
    s3: dict[str, Any],
    tmp_path: Path,
    bucket: Bucket,
    db_engine: AsyncEngine,
    row_counts: RowCounts,
) -> None:
    postgres_settings = make_settings(database_url, staging_root)
    wavs = [
        write_tone_wav(tmp_path / f"{i}.wav", sample_rate=22050, channels=1, duration_s=0.3 + i)
        for i in range(3)
    ]
    async with running_app(create_app(postgres_settings)) as client:
        user = await create_user(client)
        bodies = [await _upload(client, user, wav) for wav in wavs]
    chunks_before = (await row_counts())["record_chunks"]
    assert chunks_before > 0

    both = make_settings(database_url, staging_root, **s3)
    report = await _migrate(both, "s3")
    assert (report.moved, report.changed, report.corrupt) == (3, 0, [])
    assert (await row_counts())["record_chunks"] == 0
    assert sorted(bucket.names()) == sorted(f"records/{b['record_id']}.mp3" for b in bodies)
    assert (await _migrate(both, "s3")).moved == 0, "idempotent"

    back = await _migrate(both, "postgres")
    assert back.moved == 3
    assert (await row_counts())["record_chunks"] == chunks_before
    assert bucket.names() == []
    async with running_app(create_app(postgres_settings)) as client:
        for body in bodies:
            response = await client.get("/record", params=_query(body))
            assert hashlib.sha256(response.content).hexdigest() == body["output"]["sha256"]
    assert {row[0] for row in await _storage_rows(db_engine)} == {"postgres"}


async def _migrate(settings: AudioSettings, target: str) -> Any:
    database = Database.from_settings(settings, "test-migrate")
    try:
        async with open_storages(settings, database) as storages:
            return await migrate(database, storages, target, tmp_dir=settings.tmp_dir)
    finally:
        await database.dispose()


async def test_a_bucket_created_by_another_process_meanwhile_is_not_an_error(
    seaweedfs: SeaweedFS, database_url: str, staging_root: Path
) -> None:
    """Two replicas starting together both find the bucket missing and both create it: the
    one that comes second gets "already exists", which is the state it wanted. The other
    replica is played by the test, creating the bucket between our check and our create."""
    name = f"race-{uuid.uuid4().hex[:12]}"
    settings = make_settings(database_url, staging_root, **s3_overrides(seaweedfs, name))
    other = Bucket(seaweedfs, name)
    database = Database.from_settings(settings, "test-bucket-race")
    try:
        async with open_storages(settings, database) as storages:
            storage = storages.get("s3")
            assert isinstance(storage, S3Storage)
            client: Any = storage.client
            checked = client.head_bucket

            async def check_then_lose_the_race(**kwargs: Any) -> Any:
                try:
                    return await checked(**kwargs)
                finally:
                    other.client.create_bucket(Bucket=name)

            client.head_bucket = check_then_lose_the_race
            await storage.ensure_bucket()  # no 503: the bucket is there, made by the other
        assert other.names() == []
    finally:
        await database.dispose()
