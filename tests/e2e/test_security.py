"""Security properties of the deployed system, checked through the gateway.

- the audio database holds no plain token (every column of every row is scanned);
- a record cannot be fetched, listed or deleted with another user's id or token;
- no response, error or not, from a service or from nginx, carries a stack trace or a
  server version;
- downloads carry ``X-Content-Type-Options: nosniff``;
- an upload larger than the gateway's limit is answered by nginx, and the request never
  reaches an audio instance (neither the gateway's access log nor the services' logs show it).
"""

from __future__ import annotations

import asyncio
import re
import socket
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.gateway import Gateway
from devstack.ports import free_port
from devstack.stack import LocalStack
from shared.errors import PROBLEM_TYPES
from testkit.audio import create_user
from testkit.wav import tone_wav, unsupported_codec_wav
from tests.e2e import db_snapshot
from tests.e2e.helpers import wait_until

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
PROBLEM = "application/problem+json"


def small_wav() -> bytes:
    return tone_wav(440.0, 0.2, sample_rate=8000)


async def new_user(gateway: httpx.AsyncClient) -> tuple[int, str]:
    user = await create_user(gateway)
    return user.user_id, user.token


async def upload(
    gateway: httpx.AsyncClient, user_id: int, token: str, *, bearer: bool = False
) -> dict[str, Any]:
    form = {"user_id": str(user_id)} if bearer else {"user_id": str(user_id), "token": token}
    response = await gateway.post(
        "/record",
        data=form,
        files={"file": ("secret.wav", small_wav(), "audio/wav")},
        headers={"Authorization": f"Bearer {token}"} if bearer else None,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def token_spellings(token: str) -> list[str]:
    """Ways a token could sit in a row's text form (bytea is rendered as ``\\x`` + hex)."""
    value = uuid.UUID(token)
    return [
        token.lower(),
        token.upper(),
        value.hex,
        value.hex.upper(),
        token.encode().hex(),  # the token's text stored as bytes
        value.bytes.hex(),  # the token's 16 bytes stored as bytes (hex equals value.hex)
    ]


def service_logs(stack: LocalStack, kind: str) -> str:
    logs = sorted((stack.config.workdir / "logs").glob(f"{kind}-*.log"))
    assert logs, f"no {kind} logs under {stack.config.workdir / 'logs'}"
    return "\n".join(path.read_text(errors="replace") for path in logs)


async def test_database_holds_no_plain_token(gateway: httpx.AsyncClient, stack: LocalStack) -> None:
    tokens: list[str] = []
    for index in range(3):
        user_id, token = await new_user(gateway)
        tokens.append(token)
        await upload(gateway, user_id, token, bearer=index == 1)
        listed = await gateway.get(
            f"/user/{user_id}/records", headers={"Authorization": f"Bearer {token}"}
        )
        assert listed.status_code == 200
        assert token not in listed.text, "the token is shown only once, at creation"

    scanned = 0
    for name in ("AUDIO_DATABASE_URL", "QUIZ_DATABASE_URL"):
        tables = await db_snapshot.table_rows_as_text(stack.config.env[name])
        assert tables, f"{name} has tables"
        for table, rows in tables.items():
            for row in rows:
                scanned += 1
                lowered = row.lower()
                for token in tokens:
                    for spelling in token_spellings(token):
                        assert spelling.lower() not in lowered, f"{table} holds a token: {row}"
    assert scanned > 3

    connection = await db_snapshot.connect(stack.config.env["AUDIO_DATABASE_URL"])
    try:
        hashes = await connection.fetch("SELECT token_hash FROM users")
    finally:
        await connection.close()
    assert all(len(row["token_hash"]) == 32 for row in hashes), "stored as a 32-byte HMAC"

    logs = service_logs(stack, "audio") + service_logs(stack, "quiz")
    logs += (stack.config.workdir / "nginx" / "access.log").read_text(errors="replace")
    for token in tokens:
        for spelling in token_spellings(token):
            assert spelling.lower() not in logs.lower(), "a token leaked into the logs"


async def test_record_is_not_reachable_with_another_users_id(
    gateway: httpx.AsyncClient,
) -> None:
    owner_id, owner_token = await new_user(gateway)
    other_id, other_token = await new_user(gateway)
    record = await upload(gateway, owner_id, owner_token)
    record_id = record["record_id"]
    own = {"id": record_id, "user": str(owner_id)}
    theirs = {"id": record_id, "user": str(other_id)}

    assert (await gateway.get("/record", params=own)).status_code == 200

    for method in ("GET", "HEAD"):
        response = await gateway.request(method, "/record", params=theirs)
        assert response.status_code == 404, method
        assert response.headers["content-type"] == PROBLEM
        assert "audio/mpeg" not in response.headers.get("content-type", "")
    missing = await gateway.get("/record", params={"id": str(uuid.uuid4()), "user": str(owner_id)})
    wrong_owner = await gateway.get("/record", params=theirs)
    assert missing.json()["detail"] == wrong_owner.json()["detail"], (
        "another user's record looks exactly like a missing one"
    )

    other_bearer = {"Authorization": f"Bearer {other_token}"}
    listing = await gateway.get(f"/user/{other_id}/records", headers=other_bearer)
    assert listing.status_code == 200
    assert listing.json()["items"] == []
    peek = await gateway.get(f"/user/{owner_id}/records", headers=other_bearer)
    assert peek.status_code == 401

    for params in (theirs, own):
        deleted = await gateway.delete("/record", params=params, headers=other_bearer)
        assert deleted.status_code in (401, 404), deleted.text
    still_there = await gateway.get("/record", params=own)
    assert still_there.status_code == 200
    assert still_there.headers["etag"].strip('"') == record["output"]["sha256"]


async def test_downloads_are_nosniff(gateway: httpx.AsyncClient) -> None:
    user_id, token = await new_user(gateway)
    url = (await upload(gateway, user_id, token))["url"]
    for method, headers, status in (
        ("GET", {}, 200),
        ("HEAD", {}, 200),
        ("GET", {"Range": "bytes=0-9"}, 206),
    ):
        response = await gateway.request(method, url, headers=headers)
        assert response.status_code == status
        assert response.headers["x-content-type-options"] == "nosniff", (method, headers)
        assert response.headers["content-type"] == "audio/mpeg"
        assert response.headers["content-disposition"].startswith("attachment")


# --- no stack traces, no versions ------------------------------------------------------------

LEAKS = re.compile(
    r"traceback|File \"|site-packages|uvicorn|starlette|fastapi|sqlalchemy|asyncpg|pydantic"
    r"|python/?\d|nginx/\d|<hr><center>|exception:|\bline \d+",
    re.IGNORECASE,
)


def assert_no_leaks(response: httpx.Response, label: str) -> None:
    server = response.headers.get("server")
    assert server in (None, "nginx"), f"{label}: Server: {server}"
    assert "x-powered-by" not in response.headers, label
    for key, value in response.headers.items():
        assert not LEAKS.search(f"{key}: {value}"), f"{label}: header {key}: {value}"
    assert not LEAKS.search(response.text), f"{label}: body {response.text[:500]}"
    if response.status_code >= 400 and response.request.method != "HEAD":
        assert response.headers["content-type"] == PROBLEM, f"{label}: {response.text[:300]}"
        assert response.json()["status"] == response.status_code, label


async def test_no_stack_traces_or_versions_in_any_response(
    gateway: httpx.AsyncClient, emulator: httpx.AsyncClient, stack: LocalStack, tmp_path: Path
) -> None:
    user_id, token = await new_user(gateway)
    record = await upload(gateway, user_id, token)
    probes: list[tuple[str, str, dict[str, object]]] = [
        ("GET", "/health", {}),
        ("GET", "/services/quiz/health", {}),
        ("GET", "/services/audio/ready", {}),
        ("GET", "/services/quiz/openapi.json", {}),
        ("GET", "/quiz/questions", {}),
        ("GET", record["url"], {}),
        (
            "POST",
            "/quiz",
            {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        ),
        ("POST", "/quiz", {"json": {"questions_num": "x" * 300}}),
        ("GET", "/quiz/questions/99999999", {}),
        ("GET", "/quiz/questions/1e999", {}),
        ("DELETE", "/quiz", {}),
        ("POST", "/user", {"json": {"name": "\x00"}}),
        (
            "POST",
            "/user",
            {"content": b"x" * (32 * 1024), "headers": {"Content-Type": "application/json"}},
        ),
        (
            "POST",
            "/record",
            {
                "data": {"user_id": str(user_id), "token": token},
                "files": {"file": ("x.wav", b"RIFF\x00\x00\x00\x00WAVEjunk", "audio/wav")},
            },
        ),
        (
            "POST",
            "/record",
            {
                "data": {"user_id": str(user_id), "token": token},
                "files": {"file": ("x.wav", unsupported_codec_wav(), "audio/wav")},
            },
        ),
        (
            "POST",
            "/record",
            {
                "data": {"user_id": str(user_id), "token": str(uuid.uuid4())},
                "files": {"file": ("x.wav", small_wav(), "audio/wav")},
            },
        ),
        (
            "POST",
            "/record",
            {
                "content": b"--b\r\nbroken",
                "headers": {"Content-Type": "multipart/form-data; boundary=b"},
            },
        ),
        ("GET", "/record", {"params": {"id": "x", "user": "y"}}),
        (
            "GET",
            "/record",
            {
                "params": {"id": record["record_id"], "user": str(user_id)},
                "headers": {"Range": "bytes=99999999-"},
            },
        ),
        ("HEAD", "/record", {"params": {"id": str(uuid.uuid4()), "user": str(user_id)}}),
        ("GET", "/user/1/records", {"headers": {"Authorization": "Bearer nope"}}),
        ("GET", "/no/such/path", {}),
        ("POST", "/health", {}),
        ("GET", "/quiz/questions", {"params": {"before_id": "9" * 20000}}),
        ("GET", "/quiz/questions", {"headers": {"X-Large": "h" * 20000}}),
        (
            "POST",
            "/quiz",
            {"content": b"x" * (9 * MIB + 1), "headers": {"Content-Type": "application/json"}},
        ),
    ]
    seen: set[int] = set()
    for method, url, kwargs in probes:
        response = await gateway.request(method, url, **kwargs)  # type: ignore[arg-type]
        assert response.status_code < 500, f"{method} {url}: {response.status_code}"
        seen.add(response.status_code)
        assert_no_leaks(response, f"{method} {url} -> {response.status_code}")
    assert {200, 401, 404, 405, 413, 414, 415, 416, 422, 431} <= seen, seen

    # A service's own 5xx: the upstream fails every call.
    configured = await emulator.put("/_control/config", json={"error_rate": 1.0})
    assert configured.status_code == 200, configured.text
    failed = await gateway.post("/quiz", json={"questions_num": 1})
    assert failed.status_code in (502, 503, 504), failed.text
    assert "instance" in failed.json(), "the service's problem, not the gateway's"
    assert_no_leaks(failed, f"quiz with a failing upstream -> {failed.status_code}")

    # A malformed request line, answered by nginx itself.
    raw = await asyncio.to_thread(raw_request, stack.config.gateway_port, b"GARBAGE\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400"), raw[:200]
    assert not LEAKS.search(raw.decode(errors="replace")), raw
    assert b"\r\nServer: nginx\r\n" in raw or b"\r\nserver:" not in raw.lower()

    # The gateway's 502 when no instance answers: the project's config, dead upstreams.
    dead = Gateway.local(
        tmp_path / "dead-gateway",
        quiz_servers=[f"127.0.0.1:{free_port()}"],
        audio_servers=[f"127.0.0.1:{free_port()}"],
    )
    with dead:
        async with httpx.AsyncClient(base_url=dead.url, timeout=15) as client:
            for path in ("/quiz/questions", "/record", "/services/audio/docs"):
                response = await client.get(path)
                assert response.status_code == 502, response.text
                assert response.json()["title"] == "Bad Gateway"
                assert_no_leaks(response, f"dead upstream {path}")


def raw_request(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload)
        chunks: list[bytes] = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


# --- the gateway cuts off oversized uploads ---------------------------------------------------


async def _logged(stack: LocalStack, request_id: str, timeout_s: float = 3.0) -> bool:
    """Whether an audio instance logged the request, waiting a little for the log line."""

    async def in_logs() -> bool:
        return request_id in service_logs(stack, "audio")

    return await wait_until(in_logs, timeout_s=timeout_s)


async def access_entries(stack: LocalStack, request_id: str) -> list[dict[str, object]]:
    """The gateway's access log lines of one request; nginx writes a line when it finalises
    the request, which for a refused body is after it has drained the rest (lingering close)."""
    gateway = stack.gateway
    assert gateway is not None
    entries: list[dict[str, object]] = []

    async def logged() -> bool:
        nonlocal entries
        entries = [e for e in gateway.access_log_entries() if e["request_id"] == request_id]
        return bool(entries)

    await wait_until(logged, timeout_s=10)
    return entries


async def test_oversized_upload_is_cut_off_by_the_gateway(
    gateway: httpx.AsyncClient, stack: LocalStack
) -> None:
    user_id, token = await new_user(gateway)
    gateway_limit = stack.config.gateway_max_body_bytes
    form = {"user_id": str(user_id), "token": token}

    too_big = f"oversize-{uuid.uuid4().hex}"
    response = await gateway.post(
        "/record",
        data=form,
        files={"file": ("big.wav", b"RIFF" + bytes(gateway_limit), "audio/wav")},
        headers={"X-Request-ID": too_big},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body == {
        "type": PROBLEM_TYPES[413].uri,
        "title": PROBLEM_TYPES[413].title,
        "status": 413,
        "detail": "The request body is larger than the gateway accepts.",
        "request_id": too_big,
    }, "nginx's own problem body"
    entries = await access_entries(stack, too_big)
    assert len(entries) == 1, entries
    assert entries[0]["status"] == 413
    assert entries[0]["upstream_addr"] == "", "nginx never contacted an instance"

    # Between the service's limit and the gateway's: it reaches a service, which says 413.
    just_over = f"just-over-{uuid.uuid4().hex}"
    service_answer = await gateway.post(
        "/record",
        data=form,
        files={"file": ("big.wav", b"RIFF" + bytes(stack.config.max_upload_bytes), "audio/wav")},
        headers={"X-Request-ID": just_over},
    )
    assert service_answer.status_code == 413
    assert service_answer.json()["instance"] == "/record", "the service's own problem"
    assert (await access_entries(stack, just_over))[0]["upstream_addr"] != ""
    assert await _logged(stack, just_over), "the service saw the smaller one"
    # By now the larger request would have been logged too, had it reached an instance.
    assert too_big not in service_logs(stack, "audio")
