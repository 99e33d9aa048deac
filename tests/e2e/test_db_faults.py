"""Database faults: the PostgreSQL server goes away mid-traffic and comes back.

This module runs its own stack (emulator, one quiz and one audio instance, gateway) on a
throwaway PostgreSQL cluster (``pgcluster``) that it stops with ``pg_ctl stop -m fast`` while
five kinds of requests flow through the gateway. The machine's shared server is never
touched. What must hold:

- while the server is down: ``/ready`` of both services is a 503 problem, their ``/health``
  and the gateway's stay 200, and every request that needs the database is a 503 problem
  (never a 500, never a dropped connection), answered within the configured DB timeouts
  (``*_DB_CONNECT_TIMEOUT_S`` + ``*_DB_POOL_TIMEOUT_S``, lowered to 1 s each here) plus a margin;
- requests in flight when it stops end as 2xx or 503, nothing else (except a download whose
  200 headers were already sent: it can only be cut short, which the client sees as a body
  shorter than its Content-Length);
- once it is started again, the same processes (same pids, no restart) report ready within
  a bounded wait and serve every kind of request again, and the record stored before the
  outage downloads byte-identical.

The second test starts the server as a standby with hot standby off: up, but answering every
connection with SQLSTATE 57P03, as while it starts up or recovers. The same holds there.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from devstack.stack import LocalStack
from testkit.audio import AudioUser, create_user, upload
from testkit.problems import PROBLEM_JSON, assert_problem
from testkit.wav import tone_wav
from tests.e2e.helpers import (
    download,
    post_quiz,
    private_stack,
    sha256_hex,
    status_of,
    wait_until,
)
from tests.e2e.pgcluster import ClusterError, PgCluster, postgres_bin_dir, throwaway_cluster

pytestmark = pytest.mark.e2e

DB_TIMEOUT_S = 1.0
# connect + pool wait, each DB_TIMEOUT_S, plus scheduling noise: nothing may take longer.
MAX_REQUEST_S = 2 * DB_TIMEOUT_S + 3.0
RECOVERY_WAIT_S = 20.0
PHASE_WAIT_S = 30.0
MAX_ITERATIONS_PER_WORKER = 400
WORKERS_PER_KIND = 3


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    if postgres_bin_dir() is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    try:
        with throwaway_cluster() as started:
            yield started
    except ClusterError as exc:
        pytest.fail(f"could not run a throwaway PostgreSQL cluster: {exc}")


@pytest.fixture(scope="module")
async def db_stack(cluster: PgCluster) -> AsyncIterator[LocalStack]:
    quiz_url = await cluster.create_database("quiz")
    audio_url = await cluster.create_database("audio")
    timeouts = {
        f"{prefix}_{name}": str(DB_TIMEOUT_S)
        for prefix in ("QUIZ", "AUDIO")
        for name in ("DB_CONNECT_TIMEOUT_S", "DB_POOL_TIMEOUT_S")
    }
    env = {
        "QUIZ_DATABASE_URL": quiz_url,
        "AUDIO_DATABASE_URL": audio_url,
        "QUIZ_REQUEST_DEADLINE_S": "5",
        "AUDIO_TOKEN_SECRET": "e2e-db-faults-token-secret",
        "AUDIO_MAX_UPLOAD_BYTES": str(8 * 1024 * 1024),
        **timeouts,
    }
    with private_stack("dbfaults", env) as stack:
        yield stack


@dataclass
class Outcome:
    kind: str
    status: int | None  # None: no HTTP answer (connection error or client timeout)
    error: str | None
    elapsed_s: float
    started_after_stop: bool
    content_type: str


class Traffic:
    """Workers sending one kind of request each in a loop, recording every outcome.

    ``every_kind_answered`` (``..._after_stop``) is set once every kind of request has an
    outcome (one that started after ``stopped_at``): the test's phases wait for them.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.outcomes: list[Outcome] = []
        self.stopped_at: float | None = None  # monotonic time the server was down for sure
        self.every_kind_answered = asyncio.Event()
        self.every_kind_answered_after_stop = asyncio.Event()
        self._stop = asyncio.Event()

    def _record(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        kinds = set(SUCCESS)
        if {o.kind for o in self.outcomes} == kinds:
            self.every_kind_answered.set()
        if {o.kind for o in self.outcomes if o.started_after_stop} == kinds:
            self.every_kind_answered_after_stop.set()

    async def _worker(
        self, kind: str, send: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]
    ) -> None:
        for _ in range(MAX_ITERATIONS_PER_WORKER):
            if self._stop.is_set():
                return
            started = time.monotonic()
            after_stop = self.stopped_at is not None and started >= self.stopped_at
            status: int | None = None
            error: str | None = None
            content_type = ""
            try:
                response = await send(self.client)
                status = response.status_code
                content_type = response.headers.get("content-type", "")
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            self._record(
                Outcome(kind, status, error, time.monotonic() - started, after_stop, content_type)
            )
            await asyncio.sleep(0.02)  # pacing, so that the loops do not flood the stack

    def start(
        self, senders: dict[str, Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]]
    ) -> list[asyncio.Task[None]]:
        return [
            asyncio.create_task(self._worker(kind, send))
            for kind, send in senders.items()
            for _ in range(WORKERS_PER_KIND)
        ]

    def stop(self) -> None:
        self._stop.set()


def _senders(
    user: AudioUser, record_id: str, wav: bytes
) -> dict[str, Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]]:
    return {
        "quiz": lambda c: post_quiz(c, 1),
        "questions": lambda c: c.get("/quiz/questions", params={"limit": 5}),
        "user": lambda c: c.post("/user", json={"name": f"db-{uuid.uuid4().hex[:12]}"}),
        "download": lambda c: download(c, record_id, user.user_id),
        "upload": lambda c: upload(c, user, wav, filename="outage.wav"),
    }


def _cut_download(outcome: Outcome) -> bool:
    """A download whose 200 headers were sent before the server stopped, cut short when the
    next piece of the MP3 could not be read: the status cannot change any more, and a body
    shorter than its Content-Length is how HTTP says "failed". Only in flight, never after."""
    return (
        outcome.kind == "download"
        and not outcome.started_after_stop
        and outcome.error is not None
        and outcome.error.startswith("RemoteProtocolError")
    )


SUCCESS = {"quiz": 200, "questions": 200, "user": 201, "download": 200, "upload": 201}


async def _ready_statuses(client: httpx.AsyncClient) -> dict[str, int | None]:
    return {kind: await status_of(client, f"/services/{kind}/ready") for kind in ("quiz", "audio")}


@dataclass(frozen=True)
class Existing:
    """What was stored before any fault: a user, their record (and its SHA-256), a WAV."""

    user: AudioUser
    record_id: str
    sha256: str
    wav: bytes


@pytest.fixture(scope="module")
async def existing(db_stack: LocalStack) -> Existing:
    async with httpx.AsyncClient(base_url=db_stack.gateway_url, timeout=30) as client:
        assert await _ready_statuses(client) == {"quiz": 200, "audio": 200}
        user = await create_user(client)
        wav = tone_wav(440.0, 0.5, sample_rate=16_000)
        uploaded = await upload(client, user, wav, filename="before.wav")
        assert uploaded.status_code == 201, uploaded.text
        record = uploaded.json()
        first = await post_quiz(client, 2)
        assert first.status_code == 200, first.text
    return Existing(user, str(record["record_id"]), str(record["output"]["sha256"]), wav)


@pytest.fixture
async def client(db_stack: LocalStack, cluster: PgCluster) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the gateway; the cluster runs (as a primary) before and after the test."""
    await _ensure_primary(cluster)
    async with httpx.AsyncClient(base_url=db_stack.gateway_url, timeout=30) as http:
        yield http
    await _ensure_primary(cluster)


async def _ensure_primary(cluster: PgCluster) -> None:
    if cluster.standby_signal.exists() and cluster.running():
        await cluster.astop("fast")
    if not cluster.running():
        await cluster.astart()


async def assert_unavailable_but_alive(client: httpx.AsyncClient, existing: Existing) -> None:
    """While the database cannot be used: not ready, alive, every kind of request a 503."""
    for kind in ("quiz", "audio"):
        assert_problem(await client.get(f"/services/{kind}/ready"), 503)
        assert (await client.get(f"/services/{kind}/health")).status_code == 200
    assert (await client.get("/health")).status_code == 200
    for kind, send in _senders(existing.user, existing.record_id, existing.wav).items():
        started = time.monotonic()
        response = await send(client)
        elapsed = time.monotonic() - started
        assert elapsed <= MAX_REQUEST_S, f"{kind} took {elapsed:.1f} s"
        body = assert_problem(response, 503)
        assert body["request_id"], f"{kind}: {body}"


async def assert_recovered(
    stack: LocalStack, client: httpx.AsyncClient, existing: Existing
) -> None:
    """The same processes report ready within a bounded wait and serve everything again."""

    async def ready() -> bool:
        return await _ready_statuses(client) == {"quiz": 200, "audio": 200}

    assert await wait_until(ready, timeout_s=RECOVERY_WAIT_S, interval_s=0.2), (
        await _ready_statuses(client)
    )
    for kind, send in _senders(existing.user, existing.record_id, existing.wav).items():
        response = await send(client)
        assert response.status_code == SUCCESS[kind], f"{kind}: {response.text[:300]}"
    again = await download(client, existing.record_id, existing.user.user_id)
    assert sha256_hex(again.content) == existing.sha256
    for name in stack.service_names:
        assert stack.processes[name].running(), f"{name} exited"


async def test_database_outage_is_503_and_services_recover_without_restart(
    db_stack: LocalStack, cluster: PgCluster, existing: Existing, client: httpx.AsyncClient
) -> None:
    stack = db_stack
    pids = {name: stack.processes[name].pid for name in stack.service_names}
    traffic = Traffic(client)
    tasks = traffic.start(_senders(existing.user, existing.record_id, existing.wav))
    try:
        await asyncio.wait_for(traffic.every_kind_answered.wait(), PHASE_WAIT_S)
        await cluster.astop("fast")
        traffic.stopped_at = time.monotonic()
        await asyncio.wait_for(traffic.every_kind_answered_after_stop.wait(), PHASE_WAIT_S)
    finally:
        traffic.stop()
        await asyncio.gather(*tasks)
    await assert_unavailable_but_alive(client, existing)

    outcomes = traffic.outcomes
    summary = Counter((o.kind, o.status, o.started_after_stop) for o in outcomes)
    errors = [o for o in outcomes if o.status is None and not _cut_download(o)]
    assert errors == [], f"requests without an HTTP answer: {errors[:5]}"
    slow = [o for o in outcomes if o.elapsed_s > MAX_REQUEST_S]
    assert slow == [], f"requests slower than {MAX_REQUEST_S} s: {slow[:5]}"
    for o in outcomes:
        if _cut_download(o):
            continue
        allowed = {503} if o.started_after_stop else {SUCCESS[o.kind], 503}
        assert o.status in allowed, f"{o.kind}: {o.status} not in {allowed}\n{summary}"
        if o.status == 503:
            assert o.content_type.startswith(PROBLEM_JSON), o
    down = [o for o in outcomes if o.started_after_stop]
    assert {o.kind for o in down} == set(SUCCESS), f"a kind saw no outage: {summary}"

    # Back up: the same processes recover by themselves.
    await cluster.astart()
    await assert_recovered(stack, client, existing)
    assert {name: stack.processes[name].pid for name in stack.service_names} == pids


async def test_database_refusing_connections_is_503_then_recovers(
    db_stack: LocalStack, cluster: PgCluster, existing: Existing, client: httpx.AsyncClient
) -> None:
    """The server is up but refuses every connection with SQLSTATE 57P03 (as while it starts
    up, shuts down or recovers): the same 503s as when it is gone, never a 500."""
    stack = db_stack
    pids = {name: stack.processes[name].pid for name in stack.service_names}
    await cluster.astop("fast")
    await cluster.astart(refuse_connections=True)
    await assert_unavailable_but_alive(client, existing)
    await cluster.astop("fast")
    await cluster.astart()
    await assert_recovered(stack, client, existing)
    assert {name: stack.processes[name].pid for name in stack.service_names} == pids
