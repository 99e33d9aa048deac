"""Audio service tests run on a real PostgreSQL database created for this test session.

The app runs in-process (httpx over ASGI) with small limits, so that size limits and
multi-chunk storage are exercised by files of a few hundred kilobytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi import FastAPI

from audio_service import repository
from audio_service.main import create_app
from audio_service.models import Base
from audio_service.settings import AudioSettings
from audio_service.tests.wav_fixtures import write_tone_wav
from shared.migrations import upgrade_database
from shared.testing import running_app, temporary_database, truncate_all

ALEMBIC_INI = Path(__file__).parents[1] / "alembic.ini"

TEST_MAX_UPLOAD_BYTES = 1024 * 1024
TEST_CHUNK_BYTES = 16 * 1024


@dataclass(frozen=True)
class AudioUser:
    user_id: int
    name: str
    token: str


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    async with temporary_database("test_audio") as url:
        await asyncio.to_thread(upgrade_database, ALEMBIC_INI, url)
        yield url


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
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(app) as client:
        try:
            yield client
        finally:
            await truncate_all(app.state.database.engine, Base.metadata)


@pytest.fixture
def row_counts(app: FastAPI) -> Callable[[], Awaitable[dict[str, int]]]:
    async def count() -> dict[str, int]:
        async with app.state.database.sessionmaker() as session:
            return await repository.count_rows(session)

    return count


@pytest.fixture
def staged_files(app: FastAPI, staging_root: Path) -> Callable[[], list[Path]]:
    """Files left in the service's staging directories (there must be none between requests)."""
    return lambda: [path for path in staging_root.rglob("*") if path.is_file()]


async def create_user(client: httpx.AsyncClient, name: str) -> AudioUser:
    response = await client.post("/user", json={"name": name})
    assert response.status_code == 201, response.text
    body = response.json()
    return AudioUser(user_id=body["user_id"], name=body["name"], token=body["token"])


@pytest.fixture
async def user(client: httpx.AsyncClient) -> AudioUser:
    return await create_user(client, "Ada")


@pytest.fixture
def tone_wav(tmp_path: Path) -> Path:
    """0.5 s of 44.1 kHz 16-bit stereo: about 88 KB."""
    return write_tone_wav(tmp_path / "tone.wav", sample_rate=44100, channels=2, duration_s=0.5)


async def upload(
    client: httpx.AsyncClient,
    user: AudioUser | None,
    content: bytes | Path,
    *,
    filename: str = "tone.wav",
    token: str | None = None,
    bearer: str | None = None,
    user_id: int | str | None = None,
    headers: dict[str, str] | None = None,
    send_token: bool = True,
) -> httpx.Response:
    """POST /record; the user's token goes in the form unless ``bearer`` or ``token`` is given."""
    data: dict[str, str] = {}
    if user_id is not None:
        data["user_id"] = str(user_id)
    elif user is not None:
        data["user_id"] = str(user.user_id)
    form_token = token if token is not None else (user.token if user and bearer is None else None)
    if form_token is not None and send_token:
        data["token"] = form_token
    all_headers = dict(headers or {})
    if bearer is not None:
        all_headers["Authorization"] = bearer
    body = await anyio.Path(content).read_bytes() if isinstance(content, Path) else content
    return await client.post(
        "/record",
        data=data,
        files={"file": (filename, body, "audio/wav")},
        headers=all_headers,
    )
