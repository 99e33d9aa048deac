"""Conversion workers as real processes (``python -m audio_service worker``) on the test
PostgreSQL: jobs queued through the API are converted by them; a worker SIGKILLed in the
middle of a conversion loses nothing and makes no duplicate; a restarted API loses no job;
failures end ``failed`` with a problem. The API runs in-process (it is not what dies here)."""

from __future__ import annotations

import base64
import io
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import mutagen.id3
import pytest
from fastapi import FastAPI, Request, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from audio_service.jobs import record_id_of
from audio_service.main import create_app
from audio_service.settings import AudioSettings
from devstack.ports import free_port
from devstack.processes import ManagedProcess, python_module
from devstack.seaweedfs import SeaweedFS
from shared.migrations import upgrade_database
from testkit.apps import running_app, served_app
from testkit.audio import AudioUser, bearer_header, create_user, upload
from testkit.private_postgres import private_postgres
from testkit.s3 import Bucket

from .conftest import ALEMBIC_INI, ClientFactory, make_settings, s3_overrides

pytestmark = pytest.mark.usefixtures("empty_queue")

ASYNC = {"Prefer": "respond-async"}
FINAL = ("done", "failed")
DEADLINE_S = 60.0
# Quick heartbeats, so that a killed worker is noticed within seconds.
WORKER_SETTINGS: dict[str, Any] = {
    "conversion_workers": 1,
    "worker_heartbeat_s": 0.3,
    "worker_stalled_after_s": 1.5,
    "job_retry_wait_s": 0,
    "storage_sweep_interval_s": 0,
}


def _env(settings: AudioSettings, **overrides: Any) -> dict[str, str]:
    """The settings as the worker's environment (AUDIO_<FIELD>)."""
    values = settings.model_dump(mode="json")
    values.update(overrides)
    env = {}
    for name, value in values.items():
        if value is None:
            continue
        if name == "token_secret":
            value = settings.token_secret.get_secret_value()
        env[f"AUDIO_{name.upper()}"] = str(value)
    return env


@pytest.fixture
def worker_settings(settings: AudioSettings) -> AudioSettings:
    return settings.model_copy(update=WORKER_SETTINGS)


@pytest.fixture
def start_worker(worker_settings: AudioSettings, tmp_path: Path) -> Iterator[Any]:
    """``start_worker(hold=None, **settings)``: a worker process; ``hold`` (a directory)
    makes it stop in its first conversion (``worker_process``). All are stopped at the end."""
    started: list[ManagedProcess] = []

    def start(hold: Path | None = None, **overrides: Any) -> ManagedProcess:
        env = _env(worker_settings, **overrides)
        if hold is not None:
            env["TEST_WORKER_HOLD_DIR"] = str(hold)
        process = ManagedProcess(
            f"worker-{len(started)}",
            python_module("audio_service.tests.worker_process"),
            env=env,
            log_path=tmp_path / f"worker-{len(started)}.log",
        )
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop(timeout_s=10)


async def _wait_for(check: Any, what: str) -> Any:
    """Polls ``check()`` until it returns something true; fails after DEADLINE_S."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await anyio.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


async def _final(client: httpx.AsyncClient, user: AudioUser, job_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        response = await client.get(f"/record/jobs/{job_id}", headers=bearer_header(user))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body if body["status"] in FINAL else None

    result: dict[str, Any] = await _wait_for(check, f"job {job_id} to end")
    return result


async def _held_by(hold: Path) -> Path:
    """The marker of the held worker once it is mid-conversion."""

    async def check() -> Path | None:
        return next(iter(await anyio.to_thread.run_sync(lambda: list(hold.iterdir()))), None)

    marker: Path = await _wait_for(check, "the held worker to start converting")
    return marker


async def _queue(client: httpx.AsyncClient, user: AudioUser, wav: Path, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        response = await upload(client, user, wav, headers=ASYNC)
        assert response.status_code == 202, response.text
        ids.append(response.json()["job_id"])
    return ids


async def _records_of(engine: AsyncEngine, user: AudioUser) -> list[tuple[uuid.UUID, str]]:
    async with engine.connect() as connection:
        result = await connection.execute(
            text("SELECT id, state FROM records WHERE user_id = :user"), {"user": user.user_id}
        )
        return [(row[0], row[1]) for row in result]


async def _leftover_staging(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text("SELECT count(*) FROM job_chunks")) or 0)


async def test_a_worker_converts_queued_jobs_into_records(
    make_client: ClientFactory, start_worker: Any, tone_wav: Path, db_engine: AsyncEngine
) -> None:
    async with make_client(**WORKER_SETTINGS) as client:
        user = await create_user(client)
        [job_id] = await _queue(client, user, tone_wav, 1)
        start_worker()
        job = await _final(client, user, job_id)
        assert job["status"] == "done", job
        assert job["progress"] == 1.0
        assert job["record_id"] == str(record_id_of(uuid.UUID(job_id), 1))
        download = await client.get(job["record_url"])
        assert download.status_code == 200
        assert download.headers["Content-Type"] == "audio/mpeg"
        assert await _leftover_staging(db_engine) == 0


async def test_a_job_makes_the_same_mp3_as_an_upload_tags_loudness_and_peaks(
    make_client: ClientFactory, start_worker: Any, tone_wav: Path
) -> None:
    """The title/artist given at upload travel with the job into the ID3 tag, whose record id
    is the record that became visible; loudness and peaks are stored as in the request."""
    async with make_client(**WORKER_SETTINGS) as client:
        user = await create_user(client)
        response = await client.post(
            "/record",
            data={
                "user_id": str(user.user_id),
                "token": user.token,
                "title": "  Café Noël  ",
                "artist": "Ada Lovelace",
            },
            files={"file": ("x.wav", await anyio.Path(tone_wav).read_bytes(), "audio/wav")},
            headers=ASYNC,
        )
        assert response.status_code == 202, response.text
        start_worker()
        job = await _final(client, user, response.json()["job_id"])
        assert job["status"] == "done", job
        download = await client.get(job["record_url"])
        assert download.status_code == 200
        tag = mutagen.id3.ID3(io.BytesIO(download.content))  # type: ignore[no-untyped-call]
        assert (str(tag["TIT2"]), str(tag["TPE1"])) == ("Café Noël", "Ada Lovelace")
        assert str(tag["TXXX:record_id"]) == job["record_id"]
        listed = await client.get(f"/user/{user.user_id}/records", headers=bearer_header(user))
        assert listed.status_code == 200, listed.text
        [record] = listed.json()["items"]
        assert record["record_id"] == job["record_id"]
        assert record["loudness"] is not None
        assert record["loudness"]["integrated_lufs"] < 0
        peaks = await client.get(record["peaks_url"])
        assert peaks.status_code == 200, peaks.text
        assert peaks.json()["length"] > 0


async def test_a_worker_killed_mid_conversion_loses_nothing_and_duplicates_nothing(
    make_client: ClientFactory,
    start_worker: Any,
    tone_wav: Path,
    db_engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    hold = tmp_path / "hold"
    hold.mkdir()
    async with make_client(**WORKER_SETTINGS) as client:
        user = await create_user(client)
        job_ids = await _queue(client, user, tone_wav, 3)
        doomed = start_worker(hold=hold)
        await _held_by(hold)  # mid-conversion of one job (the first: the queue is FIFO)
        doomed.send_signal(signal.SIGKILL)
        start_worker()
        jobs = [await _final(client, user, job_id) for job_id in job_ids]
    assert [job["status"] for job in jobs] == ["done"] * 3, jobs
    records = await _records_of(db_engine, user)
    # One record per job, all visible, none from the killed attempt.
    assert sorted(state for _, state in records) == ["ready"] * 3
    assert {str(record_id) for record_id, _ in records} == {job["record_id"] for job in jobs}
    async with db_engine.connect() as connection:
        attempts = await connection.scalar(
            text("SELECT attempts FROM conversion_jobs WHERE id = :id"), {"id": job_ids[0]}
        )
    assert attempts == 2  # the killed one and its retry on the other worker
    assert await _leftover_staging(db_engine) == 0


async def test_a_job_whose_workers_keep_dying_fails_with_a_problem(
    make_client: ClientFactory, start_worker: Any, tone_wav: Path, tmp_path: Path
) -> None:
    hold = tmp_path / "hold"
    hold.mkdir()
    async with make_client(**WORKER_SETTINGS) as client:
        user = await create_user(client)
        [job_id] = await _queue(client, user, tone_wav, 1)
        doomed = start_worker(hold=hold, job_max_attempts=1)
        await _held_by(hold)
        doomed.send_signal(signal.SIGKILL)
        start_worker(job_max_attempts=1)
        job = await _final(client, user, job_id)
    assert job["status"] == "failed"
    assert job["record_url"] is None
    problem = job["problem"]
    assert (problem["status"], problem["code"], problem["attempts"]) == (
        500,
        "conversion_gave_up",
        1,
    )
    assert "did not finish" in problem["detail"]


async def test_a_restarted_api_loses_no_queued_job(
    make_client: ClientFactory, start_worker: Any, tone_wav: Path
) -> None:
    async with make_client(**WORKER_SETTINGS) as client:
        user = await create_user(client)
        job_ids = await _queue(client, user, tone_wav, 2)
    # That API is gone; the jobs wait in the database for a worker and a new API.
    start_worker()
    async with make_client(**WORKER_SETTINGS) as client:
        jobs = [await _final(client, user, job_id) for job_id in job_ids]
    assert [job["status"] for job in jobs] == ["done", "done"]


async def test_a_job_refused_when_stored_fails_with_that_problem(
    make_client: ClientFactory, start_worker: Any, tone_wav: Path
) -> None:
    # Both pass the quota's check at upload (no record yet); the second is refused by the
    # check under the user's lock when its record is stored.
    async with make_client(**WORKER_SETTINGS, user_max_records=1) as client:
        user = await create_user(client)
        job_ids = await _queue(client, user, tone_wav, 2)
        start_worker(user_max_records=1)
        jobs = [await _final(client, user, job_id) for job_id in job_ids]
    assert [job["status"] for job in jobs] == ["done", "failed"]
    problem = jobs[1]["problem"]
    assert problem["status"] == 403
    assert problem["quota"] == "records"


async def test_two_workers_take_a_job_each_at_once(
    make_client: ClientFactory,
    start_worker: Any,
    tone_wav: Path,
    db_engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    """Both held in a conversion at the same time (two markers); then both are killed and
    a third worker finishes everything."""
    hold = tmp_path / "hold"
    hold.mkdir()
    async with make_client(**WORKER_SETTINGS) as client:
        user = await create_user(client)
        job_ids = await _queue(client, user, tone_wav, 4)
        held = [start_worker(hold=hold), start_worker(hold=hold)]

        async def both() -> bool:
            return len(await anyio.to_thread.run_sync(lambda: list(hold.iterdir()))) == 2

        await _wait_for(both, "both workers to be converting")
        for process in held:
            process.send_signal(signal.SIGKILL)
        start_worker()
        jobs = [await _final(client, user, job_id) for job_id in job_ids]
    assert [job["status"] for job in jobs] == ["done"] * 4
    assert len(await _records_of(db_engine, user)) == 4


WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"webhook-key-of-the-worker-tests!").decode()


@dataclass
class Receiver:
    """A callback receiver outside our system: it refuses the first ``refuse`` deliveries
    with a 500 and records every one."""

    refuse: int
    deliveries: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            self.deliveries.append((dict(request.headers), await request.body()))
            return Response(status_code=500 if len(self.deliveries) <= self.refuse else 204)

        return app


async def test_a_callback_is_signed_retried_and_keeps_its_id(
    make_client: ClientFactory, start_worker: Any, tone_wav: Path
) -> None:
    receiver = Receiver(refuse=2)
    hooks = {"webhook_secret": WEBHOOK_SECRET, "webhook_allow_private_hosts": True}
    with served_app(receiver.app()) as (host, port):
        async with make_client(**WORKER_SETTINGS, **hooks) as client:
            user = await create_user(client)
            response = await client.post(
                "/record",
                data={"user_id": str(user.user_id), "callback_url": f"http://{host}:{port}/hook"},
                files={"file": ("tone.wav", await anyio.Path(tone_wav).read_bytes())},
                headers=bearer_header(user),
            )
            assert response.status_code == 202, response.text  # a callback makes it a job
            assert "Preference-Applied" not in response.headers
            job_id = response.json()["job_id"]
            start_worker(**hooks)
            job = await _final(client, user, job_id)

            async def delivered() -> bool:
                return len(receiver.deliveries) == 3

            await _wait_for(delivered, "the third delivery")
    assert job["status"] == "done"
    ids = {headers["webhook-id"] for headers, _ in receiver.deliveries}
    assert ids == {f"job_{job_id}"}  # one id for every retry: receivers drop the repeats
    verifier = Webhook(WEBHOOK_SECRET)
    for headers, body in receiver.deliveries:
        event = verifier.verify(body, headers)
        assert event["type"] == "conversion_job.done"
        assert event["data"]["record_url"] == job["record_url"]
    headers, body = receiver.deliveries[0]
    with pytest.raises(WebhookVerificationError):
        verifier.verify(body.replace(b"done", b"DONE"), headers)


async def test_a_restart_of_the_queue_loses_no_queued_job(
    start_worker: Any, tone_wav: Path, staging_root: Path
) -> None:
    """The queue is the database: on a server of the test's own, jobs are queued, the
    server restarts under an idle worker, more are queued, and every one is converted."""
    with private_postgres() as server:
        await anyio.to_thread.run_sync(upgrade_database, ALEMBIC_INI, server.url)
        settings = make_settings(server.url, staging_root, **WORKER_SETTINGS)
        async with running_app(create_app(settings)) as client:
            user = await create_user(client)
            before = await _queue(client, user, tone_wav, 2)
        worker = start_worker(database_url=server.url, hold=None)
        await anyio.to_thread.run_sync(server.stop)
        await anyio.to_thread.run_sync(server.start)
        async with running_app(create_app(settings)) as client:
            after = await _queue(client, user, tone_wav, 2)
            jobs = [await _final(client, user, job_id) for job_id in before + after]
        assert [job["status"] for job in jobs] == ["done"] * 4
        assert worker.running()  # it lived through the restart


async def test_a_worker_stores_the_record_on_s3(
    make_client: ClientFactory,
    start_worker: Any,
    tone_wav: Path,
    seaweedfs: SeaweedFS,
    s3_bucket_name: str,
    bucket: Bucket,
) -> None:
    """The WAV still travels in the database; the record it becomes goes to the bucket."""
    s3 = s3_overrides(seaweedfs, s3_bucket_name)
    async with make_client(**{**WORKER_SETTINGS, **s3}) as client:
        user = await create_user(client)
        [job_id] = await _queue(client, user, tone_wav, 1)
        start_worker(**s3)
        job = await _final(client, user, job_id)
        assert job["status"] == "done", job
        assert await anyio.to_thread.run_sync(bucket.names) == [f"records/{job['record_id']}.mp3"]
        # The download is handed to the gateway (X-Accel-Redirect): authorised, not 404.
        download = await client.get(job["record_url"])
        assert download.status_code == 200, download.text


async def test_a_transient_fault_is_retried_then_fails_the_job(
    make_client: ClientFactory, start_worker: Any, tone_wav: Path
) -> None:
    """The worker's object store is unreachable (a closed port): every attempt stores
    nothing, and after AUDIO_JOB_MAX_ATTEMPTS the job fails, saying why; no record."""
    unreachable = {
        "storage_backend": "s3",
        "s3_endpoint_url": f"http://127.0.0.1:{free_port()}",
        "s3_access_key_id": "nobody",
        "s3_secret_access_key": "nothing-at-all",
        "s3_connect_timeout_s": 0.5,
        "job_max_attempts": 2,
    }
    async with make_client(**WORKER_SETTINGS) as client:
        user = await create_user(client)
        [job_id] = await _queue(client, user, tone_wav, 1)
        start_worker(**unreachable)
        job = await _final(client, user, job_id)
        listed = await client.get(f"/user/{user.user_id}/records", headers=bearer_header(user))
    assert job["status"] == "failed"
    problem = job["problem"]
    assert (problem["code"], problem["attempts"]) == ("conversion_gave_up", 2)
    assert "object store is unavailable" in problem["detail"]
    assert listed.json()["total"] == 0
