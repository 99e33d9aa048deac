"""Restart durability: SIGTERM every service process, start them again, nothing is lost.

This module runs its own stack (emulator, one quiz and one audio instance, gateway) on two
fresh databases of the machine's PostgreSQL, with ``TMPDIR`` and ``AUDIO_TMP_DIR`` pointed
at directories of its own, so that any file a service leaves behind can be seen.

- Durability: after uploads and stored questions, every service process gets SIGTERM and
  shuts down gracefully (exits by itself, after uvicorn's "Finished server process"), and
  is started again: every record downloads byte-identical (SHA-256
  before = after = the one reported at upload), every quiz question is listed as before, both
  databases are byte-for-byte unchanged (row counts and checksums of every table), the
  tokens still work, and no temporary file is left.
- SIGTERM during an upload: a WAV is streamed slowly and the signal is sent while its body is
  still arriving, once with the default graceful shutdown period (the request may finish)
  and once with ``AUDIO_GRACEFUL_SHUTDOWN_S=1`` (the request is cut). Either the upload
  completes (201, and the record downloads intact after the restart) or it fails cleanly
  (5xx or a dropped connection): no record row without all its MP3 bytes, no chunk without a
  record, counts up by exactly the records that were answered 201, and no temp file left.
- SIGKILL during a conversion: the killed process cannot clean up, so its staging directory
  (the WAV copy, the partial MP3) is still there; the next start of the service sweeps it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from audio_service.staging import LOCK_NAME
from devstack.stack import LocalStack
from testkit.audio import AudioUser, create_user, upload
from testkit.postgres import temporary_database
from testkit.wav import tone_wav
from tests.e2e.db_snapshot import diff, snapshot
from tests.e2e.helpers import (
    download,
    fetch,
    multipart_parts,
    post_quiz,
    private_stack,
    sha256_hex,
    table_counts,
    upload_auth,
    wait_until,
)

pytestmark = pytest.mark.e2e

STREAM_CHUNKS = 24
STREAM_PAUSE_S = 0.1  # the body takes STREAM_CHUNKS * STREAM_PAUSE_S (2.4 s) to arrive
SIGNAL_AFTER_CHUNK = 5  # ~0.5 s in: the service has the headers and part of the body


@pytest.fixture(scope="module")
def temp_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("restart-tmp")
    roots = {"TMPDIR": root / "tmp", "AUDIO_TMP_DIR": root / "audio-staging"}
    for path in roots.values():
        path.mkdir()
    return roots


@pytest.fixture(scope="module")
async def restart_stack(temp_roots: dict[str, Path]) -> AsyncIterator[LocalStack]:
    async with AsyncExitStack() as exit_stack:
        quiz_url = await exit_stack.enter_async_context(temporary_database("e2e_restart_quiz"))
        audio_url = await exit_stack.enter_async_context(temporary_database("e2e_restart_audio"))
        env = {
            "QUIZ_DATABASE_URL": quiz_url,
            "AUDIO_DATABASE_URL": audio_url,
            "QUIZ_REQUEST_DEADLINE_S": "5",
            "AUDIO_TOKEN_SECRET": "e2e-restart-token-secret",
            "AUDIO_MAX_UPLOAD_BYTES": str(8 * 1024 * 1024),
            **{name: str(path) for name, path in temp_roots.items()},
        }
        with private_stack("restart", env) as stack:
            yield stack


@pytest.fixture
async def client(restart_stack: LocalStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=restart_stack.gateway_url, timeout=60) as http:
        yield http


def leftover_files(roots: dict[str, Path]) -> list[Path]:
    """Every file (not directory) under the temp roots but a running service's staging lock."""
    found: list[Path] = []
    for root in roots.values():
        for directory, _dirs, files in os.walk(root):
            found.extend(Path(directory) / name for name in files if name != LOCK_NAME)
    return found


def staging_dirs(roots: dict[str, Path]) -> list[Path]:
    return sorted(roots["AUDIO_TMP_DIR"].iterdir())


# uvicorn re-raises the signal it caught once its graceful shutdown is done.
GRACEFUL_EXIT_CODES = {0, -signal.SIGTERM}


def graceful_stop(stack: LocalStack, name: str) -> str | None:
    """SIGTERM ``name`` and wait for it; None if it shut down gracefully, else what went wrong.

    Graceful means: it exited by itself (not killed by ManagedProcess's SIGKILL fallback)
    after uvicorn's "Finished server process [pid]", which follows the app's lifespan end.
    """
    process = stack.processes[name]
    pid, log_path = process.pid, process.log_path
    code = stack.stop_service(name, signal.SIGTERM)
    log = log_path.read_text(errors="replace") if log_path else ""
    if code not in GRACEFUL_EXIT_CODES:
        return f"{name} exited {code}"
    if f"Finished server process [{pid}]" not in log:
        return f"{name} (pid {pid}) did not log the end of its shutdown"
    return None


async def restart_all(stack: LocalStack) -> list[str]:
    """SIGTERM to every service process (in parallel), then start each again; the problems."""
    names = stack.service_names
    problems = await asyncio.gather(*(asyncio.to_thread(graceful_stop, stack, n) for n in names))
    await asyncio.gather(*(asyncio.to_thread(stack.start_service, name) for name in names))
    return [problem for problem in problems if problem]


async def all_questions(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, int] = {"limit": 100}
    for _ in range(100):  # bounded: 10,000 questions at most
        page = await client.get("/quiz/questions", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        items.extend(body["items"])
        if body["next_before_id"] is None:
            return items
        params["before_id"] = body["next_before_id"]
    raise AssertionError("more pages than expected")


async def record_integrity(audio_url: str) -> list[dict[str, Any]]:
    """Records whose stored chunks do not add up to their MP3, and chunks without a record."""
    broken = await fetch(
        audio_url,
        "SELECT r.id::text AS id, r.mp3_size, c.bytes, c.chunks, c.last_seq FROM records r "
        "LEFT JOIN (SELECT record_id, sum(length(data)) AS bytes, count(*) AS chunks, "
        "max(seq) AS last_seq FROM record_chunks GROUP BY record_id) c ON c.record_id = r.id "
        "WHERE c.bytes IS DISTINCT FROM r.mp3_size OR c.last_seq <> c.chunks - 1",
    )
    orphans = await fetch(
        audio_url,
        "SELECT record_id::text AS id FROM record_chunks c "
        "WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.id = c.record_id)",
    )
    return broken + orphans


async def test_sigterm_and_restart_lose_nothing(
    restart_stack: LocalStack, client: httpx.AsyncClient, temp_roots: dict[str, Path]
) -> None:
    stack = restart_stack
    quiz_url = stack.config.env["QUIZ_DATABASE_URL"]
    audio_url = stack.config.env["AUDIO_DATABASE_URL"]
    users = [await create_user(client) for _ in range(2)]
    uploads: list[tuple[AudioUser, dict[str, Any], str]] = []
    variants = [(440.0, 0.6, 16_000, 1), (523.0, 1.1, 44_100, 2), (660.0, 0.3, 8_000, 1)]
    for index, (frequency, duration, rate, channels) in enumerate(variants * 2):
        user = users[index % 2]
        wav = tone_wav(frequency, duration, sample_rate=rate, channels=channels)
        response = await upload(client, user, wav, filename=f"durable-{index}.wav")
        assert response.status_code == 201, response.text
        body = response.json()
        got = await download(client, str(body["record_id"]), user.user_id)
        assert got.status_code == 200
        assert sha256_hex(got.content) == body["output"]["sha256"]
        uploads.append((user, body, sha256_hex(got.content)))
    for _ in range(2):
        assert (await post_quiz(client, 5)).status_code == 200
    # Idle between requests: every upload's staging files are gone already.
    assert leftover_files(temp_roots) == []
    questions_before = await all_questions(client)
    assert len(questions_before) == 10
    snapshots_before = {url: await snapshot(url) for url in (quiz_url, audio_url)}
    old_pids = {name: stack.processes[name].pid for name in stack.service_names}

    assert await restart_all(stack) == []
    assert all(stack.processes[n].pid != old_pids[n] for n in stack.service_names)
    for user, body, digest in uploads:
        got = await download(client, str(body["record_id"]), user.user_id)
        assert got.status_code == 200, got.text
        assert sha256_hex(got.content) == digest == body["output"]["sha256"]
    assert await all_questions(client) == questions_before
    for url, before in snapshots_before.items():
        assert diff(before, await snapshot(url)) == []
    # The users' tokens survived too.
    wav = tone_wav(300.0, 0.2, sample_rate=16_000)
    again = await upload(client, users[0], wav, filename="after-restart.wav")
    assert again.status_code == 201, again.text
    assert leftover_files(temp_roots) == []
    assert len(staging_dirs(temp_roots)) == 1, staging_dirs(temp_roots)  # the new process's


async def _slow_upload(
    client: httpx.AsyncClient, user: AudioUser, wav: bytes, halfway: asyncio.Event
) -> httpx.Response | BaseException:
    head, tail, content_type = multipart_parts(upload_auth(user), "file", "slow.wav")
    size = len(wav)
    step = -(-size // STREAM_CHUNKS)

    async def body() -> AsyncIterator[bytes]:
        yield head
        for index, start in enumerate(range(0, size, step)):
            yield wav[start : start + step]
            if index + 1 == SIGNAL_AFTER_CHUNK:
                halfway.set()
            await asyncio.sleep(STREAM_PAUSE_S)
        yield tail

    length = len(head) + size + len(tail)
    try:
        return await client.post(
            "/record",
            content=body(),
            headers={"Content-Type": content_type, "Content-Length": str(length)},
        )
    except httpx.HTTPError as exc:
        return exc
    finally:
        halfway.set()


async def _sigterm_mid_upload(
    stack: LocalStack, client: httpx.AsyncClient, user: AudioUser, wav: bytes
) -> tuple[httpx.Response | BaseException, float]:
    """Streams ``wav`` slowly to audio-0 and sends SIGTERM while the body is still arriving;
    returns how the upload ended and how long the process took to exit after the signal."""
    halfway = asyncio.Event()
    pending = asyncio.create_task(_slow_upload(client, user, wav, halfway))
    await asyncio.wait_for(halfway.wait(), timeout=30)
    assert not pending.done(), "the upload finished before the signal"
    signalled_at = time.monotonic()
    stack.processes["audio-0"].send_signal(signal.SIGTERM)
    outcome = await asyncio.wait_for(pending, timeout=60)
    problem = await asyncio.to_thread(graceful_stop, stack, "audio-0")
    assert problem is None, problem
    return outcome, time.monotonic() - signalled_at


async def test_sigterm_during_upload_completes_or_fails_cleanly(
    restart_stack: LocalStack, client: httpx.AsyncClient, temp_roots: dict[str, Path]
) -> None:
    stack = restart_stack
    env = stack.config.env
    audio_url = env["AUDIO_DATABASE_URL"]
    user = await create_user(client)
    # 40 s of 16 kHz mono: 1.25 MB, more than Starlette keeps in memory (spooled to disk).
    wav = tone_wav(350.0, 40.0, sample_rate=16_000)
    # Round 1 with the running process's (default, 30 s) graceful period; round 2 with 1 s,
    # shorter than the rest of the body takes to arrive, so uvicorn cancels the request.
    periods = [env.get("AUDIO_GRACEFUL_SHUTDOWN_S"), "1"]
    outcomes: list[str] = []
    for round_index, period in enumerate(periods):
        counts_before = await table_counts(audio_url)
        outcome, stopped_in = await _sigterm_mid_upload(stack, client, user, wav)
        completed = isinstance(outcome, httpx.Response) and outcome.status_code == 201
        outcomes.append(f"graceful period {period or 'default'}: {outcome!r}")
        if period:
            assert stopped_in <= float(period) + 5.0, f"exit took {stopped_in:.1f} s"
        if isinstance(outcome, httpx.Response) and not completed:
            assert outcome.status_code >= 500, f"neither completed nor failed: {outcome.text}"

        # While it is stopped: nothing half-stored, and its files and staging dir are gone.
        counts_after = await table_counts(audio_url)
        added = 1 if completed else 0
        assert counts_after["public.records"] == counts_before["public.records"] + added
        if not completed:
            assert counts_after["public.record_chunks"] == counts_before["public.record_chunks"]
        assert await record_integrity(audio_url) == []
        assert leftover_files(temp_roots) == []
        assert staging_dirs(temp_roots) == [], "the stopped process left its staging dir"

        last_round = round_index == len(periods) - 1
        if not last_round:
            env["AUDIO_GRACEFUL_SHUTDOWN_S"] = periods[round_index + 1] or ""
        if completed or not last_round:
            await asyncio.to_thread(stack.start_service, "audio-0")
        if completed:
            assert isinstance(outcome, httpx.Response)
            record = outcome.json()
            got = await download(client, str(record["record_id"]), user.user_id)
            assert got.status_code == 200, got.text
            assert sha256_hex(got.content) == record["output"]["sha256"]
            assert record["duration_s"] == pytest.approx(40.0, abs=1e-3)
    print("SIGTERM during an upload:", *outcomes, sep="\n  ")


async def test_staging_left_by_a_sigkill_is_swept_on_the_next_start(
    restart_stack: LocalStack, client: httpx.AsyncClient, temp_roots: dict[str, Path]
) -> None:
    stack = restart_stack
    if not stack.processes["audio-0"].running():  # the test before may leave it stopped
        await asyncio.to_thread(stack.start_service, "audio-0")
    audio_url = stack.config.env["AUDIO_DATABASE_URL"]
    user = await create_user(client)
    # 4 min of 16 kHz mono, 7.7 MB: a conversion of a few seconds, long enough to kill.
    wav = tone_wav(250.0, 240.0, sample_rate=16_000)
    (killed_dir,) = staging_dirs(temp_roots)
    counts_before = await table_counts(audio_url)
    pending = asyncio.create_task(upload(client, user, wav, filename="killed.wav"))

    async def converting() -> bool:
        return any(path.suffix == ".mp3" for path in killed_dir.iterdir())

    try:
        assert await wait_until(converting, timeout_s=30, interval_s=0.02), "no conversion seen"
        await asyncio.to_thread(stack.stop_service, "audio-0", signal.SIGKILL)
    finally:
        outcome = await asyncio.gather(pending, return_exceptions=True)
    assert not (isinstance(outcome[0], httpx.Response) and outcome[0].status_code == 201)
    staged = {path.suffix for path in killed_dir.iterdir() if path.name != LOCK_NAME}
    assert staged == {".wav", ".mp3"}, "SIGKILL leaves the staged files behind"

    await asyncio.to_thread(stack.start_service, "audio-0")
    assert not killed_dir.exists(), "the new process swept the dead one's staging directory"
    assert len(staging_dirs(temp_roots)) == 1, staging_dirs(temp_roots)  # the new process's
    assert leftover_files(temp_roots) == []
    assert (await table_counts(audio_url))["public.records"] == counts_before["public.records"]
    again = await upload(client, user, tone_wav(300.0, 0.2, sample_rate=16_000))
    assert again.status_code == 201, again.text
