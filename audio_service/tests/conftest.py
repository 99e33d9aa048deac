"""Audio service tests run on a real PostgreSQL database created for this test session.

The app runs in-process (httpx over ASGI) with small limits, so that size limits and
multi-chunk storage are exercised by files of a few hundred kilobytes. Clients, users and
uploads come from ``testkit.audio``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from audio_service.main import create_app
from audio_service.models import Base
from audio_service.settings import AudioSettings
from audio_service.staging import LOCK_NAME
from devstack.seaweedfs import SeaweedFS
from testkit import postgres
from testkit.apps import running_app
from testkit.audio import AudioUser, create_user
from testkit.postgres import database_fixtures, truncate_all
from testkit.s3 import Bucket, new_bucket, seaweedfs_fixture
from testkit.wav import write_tone_wav

ALEMBIC_INI = Path(__file__).parents[1] / "alembic.ini"

TEST_MAX_UPLOAD_BYTES = 1024 * 1024
TEST_CHUNK_BYTES = 16 * 1024

RowCounts = Callable[[], Awaitable[dict[str, int]]]
StagedFiles = Callable[[], list[Path]]
ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


database_url, db_engine = database_fixtures("test_audio", ALEMBIC_INI)
seaweedfs = seaweedfs_fixture()


def s3_overrides(store: SeaweedFS, bucket: str, **more: object) -> dict[str, object]:
    """Settings of the S3 backend on the test store."""
    return {
        "storage_backend": "s3",
        "s3_endpoint_url": store.endpoint_url,
        "s3_bucket": bucket,
        "s3_access_key_id": store.access_key,
        "s3_secret_access_key": store.secret_key,
        # The tests sweep when they mean to.
        "storage_sweep_interval_s": 0,
        **more,
    }


@pytest.fixture(scope="session")
def s3_bucket_name() -> str:
    return new_bucket()


@pytest.fixture(scope="session")
def session_bucket(seaweedfs: SeaweedFS, s3_bucket_name: str) -> Bucket:
    return Bucket(seaweedfs, s3_bucket_name)  # one client: botocore loads its models slowly


@pytest.fixture
def bucket(session_bucket: Bucket) -> Iterator[Bucket]:
    """The suite's bucket, emptied after each test."""
    yield session_bucket
    session_bucket.clear()


def make_settings(database_url: str, tmp_dir: Path, **overrides: object) -> AudioSettings:
    values: dict[str, object] = {
        "database_url": database_url,
        "log_format": "text",
        "token_secret": "test-secret-of-the-audio-suite",
        "max_upload_bytes": TEST_MAX_UPLOAD_BYTES,
        "storage_chunk_bytes": TEST_CHUNK_BYTES,
        "conversion_workers": 2,
        "tmp_dir": str(tmp_dir),
    }
    values.update(overrides)
    return AudioSettings.model_validate(values)


@pytest.fixture
def staging_root(tmp_path: Path) -> Path:
    root = tmp_path / "staging"
    root.mkdir()
    return root


@pytest.fixture
def settings(database_url: str, staging_root: Path) -> AudioSettings:
    return make_settings(database_url, staging_root)


@pytest.fixture
async def app(settings: AudioSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI, db_engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(app) as client:
        try:
            yield client
        finally:
            await truncate_all(db_engine, Base.metadata)


@pytest.fixture
async def make_client(
    database_url: str, staging_root: Path, db_engine: AsyncEngine
) -> AsyncIterator[ClientFactory]:
    """``async with make_client(**setting_overrides) as client`` runs an app with them."""

    @asynccontextmanager
    async def factory(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(make_settings(database_url, staging_root, **overrides))
        async with running_app(app) as client:
            yield client

    yield factory
    await truncate_all(db_engine, Base.metadata)


# What an upload in the request writes; the job tables are the job tests' to count.
RECORD_TABLES = ("users", "records", "record_chunks", "record_peaks")


@pytest.fixture
def row_counts(db_engine: AsyncEngine) -> RowCounts:
    """Rows of the record tables (``RECORD_TABLES``)."""

    async def counts() -> dict[str, int]:
        every = await postgres.row_counts(db_engine, Base.metadata)
        return {table: every[table] for table in RECORD_TABLES}

    return counts


@pytest.fixture
def staged_files(staging_root: Path) -> StagedFiles:
    """Files left in the service's staging directories (there must be none between requests);
    the running service's own lock file is not one."""
    return lambda: [
        path for path in staging_root.rglob("*") if path.is_file() and path.name != LOCK_NAME
    ]


@pytest.fixture
async def user(client: httpx.AsyncClient) -> AudioUser:
    return await create_user(client, "Ada")


@pytest.fixture
def tone_wav(tmp_path: Path) -> Path:
    """0.5 s of 44.1 kHz 16-bit stereo: about 88 KB."""
    return write_tone_wav(tmp_path / "tone.wav", sample_rate=44100, channels=2, duration_s=0.5)


@pytest.fixture
async def empty_queue(db_engine: AsyncEngine) -> AsyncIterator[None]:
    """The job queue's own tables (procrastinate's, not in our metadata) emptied after the
    test, as ``truncate_all`` empties ours."""
    yield
    async with db_engine.begin() as connection:
        await connection.execute(
            text("TRUNCATE procrastinate_jobs, procrastinate_workers, procrastinate_events CASCADE")
        )
