"""Small helpers shared by the end-to-end tests.

- audio: ``create_user``, ``tone_wav`` (a generated PCM WAV), ``upload_wav``, ``download``,
  ``multipart_parts`` (to stream an upload by hand); decoding and analysing MP3s is
  ``testkit.wav``'s;
- quiz: ``post_quiz``, ``quiz_rows``, ``duplicate_upstream_ids``, ``use_fresh_id_pool`` (and
  ``skip_stored_upstream_ids``, the same plus a check against the database);
- both: ``instance_health``, ``wait_until``, ``table_counts``,
  ``upstream_ports_served`` (which instances the gateway used, from its access log),
  ``private_stack`` (a stack of a test module's own, to stop and restart at will).

Everything talks HTTP to the gateway or reads PostgreSQL directly (never the services' code).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import itertools
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from devstack.gateway import NGINX_INSTALL_HINT, NO_RATE_LIMITS, nginx_binary
from devstack.ports import free_port
from devstack.stack import LocalStack, StackConfig
from testkit.audio import AudioUser
from testkit.postgres import unavailable
from tests.e2e.db_snapshot import connect, quote_ident, table_names

REQUEST_ID_HEADER = "X-Request-ID"

# --- generic ---------------------------------------------------------------------------------


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_request_id(prefix: str) -> str:
    """A request id the gateway and the services keep as is ([A-Za-z0-9._-], <= 128)."""
    return f"{prefix}-{uuid.uuid4().hex}"


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], *, timeout_s: float, interval_s: float = 0.1
) -> bool:
    """Polls ``predicate`` until it is true (True) or ``timeout_s`` has passed (False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if await predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval_s)


async def status_of(client: httpx.AsyncClient, url: str, timeout_s: float = 5.0) -> int | None:
    """The status of ``GET url``; None when the connection failed or timed out."""
    try:
        return (await client.get(url, timeout=timeout_s)).status_code
    except httpx.HTTPError:
        return None


async def instance_health(stack: LocalStack, kind: str) -> dict[str, int | None]:
    """``GET /health`` of every instance of ``kind`` (direct) and through the gateway."""
    names = [name for name in stack.service_names if name.startswith(f"{kind}-")]
    async with httpx.AsyncClient(timeout=5) as client:
        results = {
            name: await status_of(client, f"{stack.service_url(name)}/health") for name in names
        }
        if stack.gateway is not None:
            results["gateway"] = await status_of(
                client, f"{stack.gateway_url}/services/{kind}/health"
            )
    return results


async def upstream_ports_served(
    stack: LocalStack, request_ids: Iterable[str], timeout_s: float = 5.0
) -> Counter[int]:
    """How many of the given requests each upstream port answered, from nginx's access log.

    nginx writes a request's log line just after the response went out, so this waits (up to
    ``timeout_s``) until every request has its line.
    """
    wanted = set(request_ids)
    served: Counter[int] = Counter()

    async def all_logged() -> bool:
        nonlocal served
        try:
            served = _ports_in_access_log(stack, wanted)
        except ValueError:  # a line caught half-written
            return False
        return sum(served.values()) >= len(wanted)

    await wait_until(all_logged, timeout_s=timeout_s)
    return served


def _ports_in_access_log(stack: LocalStack, wanted: set[str]) -> Counter[int]:
    assert stack.gateway is not None
    served: Counter[int] = Counter()
    for entry in stack.gateway.access_log_entries():
        if entry.get("request_id") in wanted:
            # "127.0.0.1:1234" or, after a retry on another instance, "a:1, b:2": the last answered.
            address = str(entry.get("upstream_addr", "")).split(",")[-1].strip()
            if ":" in address:
                served[int(address.rsplit(":", 1)[1])] += 1
    return served


# --- database --------------------------------------------------------------------------------


async def fetch(url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    connection = await connect(url)
    try:
        return [dict(row) for row in await connection.fetch(sql, *args)]
    finally:
        await connection.close()


async def table_counts(url: str) -> dict[str, int]:
    """Rows per table (``schema.table``) of the database at ``url``."""
    connection = await connect(url)
    try:
        counts: dict[str, int] = {}
        for schema, table in await table_names(connection):
            qualified = f"{quote_ident(schema)}.{quote_ident(table)}"
            value = await connection.fetchval(f"SELECT count(*) FROM {qualified}")  # noqa: S608
            counts[f"{schema}.{table}"] = int(value)
        return counts
    finally:
        await connection.close()


# --- quiz ------------------------------------------------------------------------------------


async def post_quiz(
    client: httpx.AsyncClient, questions_num: int, *, request_id: str | None = None
) -> httpx.Response:
    headers = {REQUEST_ID_HEADER: request_id} if request_id else {}
    return await client.post("/quiz", json={"questions_num": questions_num}, headers=headers)


async def quiz_rows(url: str, request_id: str | None = None) -> list[dict[str, Any]]:
    """Stored questions (id, source, upstream_id, question, answer, request_id) by id; only
    those one request stored when ``request_id`` is given."""
    columns = "id, source, upstream_id, question, answer, request_id"
    if request_id is None:
        return await fetch(url, f"SELECT {columns} FROM questions ORDER BY id")  # noqa: S608
    return await fetch(
        url,
        f"SELECT {columns} FROM questions WHERE request_id = $1 ORDER BY id",  # noqa: S608
        request_id,
    )


async def duplicate_upstream_ids(url: str) -> list[tuple[str, str, int]]:
    """(source, upstream_id, copies) for every upstream identity stored more than once."""
    rows = await fetch(
        url,
        "SELECT source, upstream_id, count(*) AS copies FROM questions "
        "GROUP BY source, upstream_id HAVING count(*) > 1",
    )
    return [(row["source"], row["upstream_id"], int(row["copies"])) for row in rows]


# Bit lengths of the emulator pools handed out by ``use_fresh_id_pool`` in this process.
_POOL_BITS = itertools.count(18)
# The emulator's clue dates overflow year 9999 a little above 2**44 ids.
_MAX_POOL_BITS = 44


async def use_fresh_id_pool(emulator: httpx.AsyncClient) -> int:
    """Switches the emulator to an id pool no earlier caller of this function drew from.

    The emulator picks ids with ``Random.sample(range(1, pool_size + 1), n)`` from a seeded
    RNG that ``/_control/reset`` (after every test) and a restart rewind to the same start,
    so two tests that ask alike get the same ids, and a request whose rounds bring only
    stored ids ends in 503 (``QUIZ_MAX_STALLED_ROUNDS``). ``randbelow(n)`` turns each random
    word into an id with ``n.bit_length()`` bits of it, so a pool of another bit length turns
    the same words into unrelated ids: each call gets a pool of a bit length of its own
    (2**18 - 1, 2**19 - 1, ...), above the default pool's 17 bits. Returns the pool size.
    """
    bits = next(_POOL_BITS)
    if bits > _MAX_POOL_BITS:
        raise RuntimeError("no fresh emulator id pool left in this test session")
    pool_size = (1 << bits) - 1
    response = await emulator.put("/_control/config", json={"pool_size": pool_size})
    assert response.status_code == 200, response.text
    return pool_size


async def skip_stored_upstream_ids(emulator: httpx.AsyncClient, quiz_db_url: str) -> int:
    """Makes the emulator's next ids ones the quiz service has not stored: switches it to a
    fresh id pool (``use_fresh_id_pool``) and checks one page of it against the database.
    Returns the pool size."""
    pool_size = await use_fresh_id_pool(emulator)
    stored = await fetch(quiz_db_url, "SELECT upstream_id FROM questions")
    page = await emulator.get("/api/random", params={"count": 100})
    page.raise_for_status()
    overlap = {str(item["id"]) for item in page.json()} & {row["upstream_id"] for row in stored}
    assert len(overlap) <= 1, f"the fresh id pool {pool_size} repeats stored ids: {overlap}"
    return pool_size


# --- audio -----------------------------------------------------------------------------------


def upload_auth(user: AudioUser) -> dict[str, str]:
    """The upload's form fields other than the file."""
    return {"user_id": str(user.user_id), "token": user.token}


async def download(client: httpx.AsyncClient, record_id: str, user_id: int) -> httpx.Response:
    """GET /record past the gateway's download cache: these tests judge what the services
    stored (after a restart, during a database outage), not what nginx kept."""
    return await client.get(
        "/record",
        params={"id": record_id, "user": str(user_id)},
        headers={"Cache-Control": "no-cache"},
    )


def multipart_parts(
    fields: Mapping[str, str], file_field: str, filename: str, content_type: str = "audio/wav"
) -> tuple[bytes, bytes, str]:
    """(head, tail, Content-Type) of a multipart/form-data body: the file's bytes go between
    head and tail, so a test can stream them at its own pace."""
    boundary = uuid.uuid4().hex
    head = io.BytesIO()
    for name, value in fields.items():
        disposition = f'Content-Disposition: form-data; name="{name}"'
        head.write(f"--{boundary}\r\n{disposition}\r\n\r\n{value}\r\n".encode())
    head.write(
        f"--{boundary}\r\nContent-Disposition: form-data; "
        f'name="{file_field}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
    )
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head.getvalue(), tail, f"multipart/form-data; boundary={boundary}"


# --- private stacks --------------------------------------------------------------------------


@contextlib.contextmanager
def private_stack(
    prefix: str,
    env: Mapping[str, str],
    *,
    quiz: int = 1,
    audio: int = 1,
    gateway_settings: Mapping[str, str] = NO_RATE_LIMITS,
) -> Iterator[LocalStack]:
    """A stack of its own (emulator, ``quiz`` + ``audio`` instances, gateway) for tests that
    stop or restart things the session's shared stack must keep; its work dir (logs) is
    deleted afterwards unless KEEP_E2E_LOGS=1. The gateway's rate limits are off unless
    ``gateway_settings`` says otherwise."""
    if nginx_binary() is None:
        unavailable(f"nginx is needed for end-to-end tests: {NGINX_INSTALL_HINT}")
    workdir = Path(tempfile.mkdtemp(prefix=f"e2e-{prefix}-"))
    config = StackConfig(
        workdir=workdir,
        gateway_port=free_port(),
        quiz_ports=[free_port() for _ in range(quiz)],
        audio_ports=[free_port() for _ in range(audio)],
        emulator_port=free_port(),
        env=dict(env),
        gateway_settings=dict(gateway_settings),
    )
    stack = LocalStack(config)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        if os.environ.get("KEEP_E2E_LOGS") != "1":
            shutil.rmtree(workdir, ignore_errors=True)
