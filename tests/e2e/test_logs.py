"""What the services log, read from the instances' own log files (JSON lines).

- A download cut short on purpose (its record lost a chunk while it was being sent) is one
  warning saying so, and an access line with the status the client got, ``complete: false``
  and why; no error line, no traceback (neither ours nor the server's).
- The access line's ``client`` is never the ``X-Forwarded-For`` a client sent.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.stack import LocalStack
from testkit.audio import create_user, upload
from testkit.wav import tone_wav
from tests.e2e.db_snapshot import connect

pytestmark = pytest.mark.e2e

SERVER_ERROR = "Exception in ASGI application"


def log_files(stack: LocalStack, kind: str) -> list[Path]:
    files = sorted((stack.config.workdir / "logs").glob(f"{kind}-*.log"))
    assert files, f"no {kind} logs under {stack.config.workdir / 'logs'}"
    return files


def log_sizes(stack: LocalStack, kind: str) -> dict[Path, int]:
    return {path: path.stat().st_size for path in log_files(stack, kind)}


def lines_since(sizes: dict[Path, int]) -> list[str]:
    """The log lines the instances wrote after ``sizes`` was taken."""
    lines: list[str] = []
    for path, size in sizes.items():
        with path.open("rb") as log:
            log.seek(size)
            lines += log.read().decode(errors="replace").splitlines()
    return lines


def entries(lines: list[str], request_id: str) -> list[dict[str, Any]]:
    found = []
    for line in lines:
        if request_id in line:
            entry = json.loads(line)
            if entry.get("request_id") == request_id:
                found.append(entry)
    return found


async def test_a_download_cut_short_on_purpose_is_one_warning(
    gateway: httpx.AsyncClient, stack: LocalStack
) -> None:
    user = await create_user(gateway)
    # 200 s at 16 kHz: an MP3 of about 3.2 MB, more than one download window (2 MiB, read
    # in one transaction before the first byte is sent), so the second window is read
    # while the body is already on its way.
    uploaded = await upload(gateway, user, tone_wav(440.0, 200.0, sample_rate=16_000))
    assert uploaded.status_code == 201, uploaded.text
    record = uploaded.json()
    connection = await connect(stack.config.env["AUDIO_DATABASE_URL"])
    try:
        deleted = await connection.execute(
            "DELETE FROM record_chunks WHERE record_id = $1 AND seq = 4",
            uuid.UUID(record["record_id"]),
        )
    finally:
        await connection.close()
    assert deleted == "DELETE 1"

    sizes = log_sizes(stack, "audio")
    request_id = f"cut-{uuid.uuid4().hex}"
    headers = {"X-Request-ID": request_id, "Cache-Control": "no-cache"}
    with pytest.raises(httpx.RemoteProtocolError):  # the body ends before its Content-Length
        await gateway.get(record["url"], headers=headers)
    # The access line is the request's last; once it is there, so is everything else.
    async with httpx.AsyncClient(base_url=stack.gateway_url) as probe:
        assert (await probe.get("/services/audio/health")).status_code == 200
    lines = lines_since(sizes)
    logged = entries(lines, request_id)
    assert [(e["level"], e["msg"]) for e in logged if e["level"] != "INFO"] == [
        ("WARNING", "download cut short: the record was deleted while it was being sent")
    ], logged
    (access,) = [e for e in logged if e["logger"] == "access"]
    assert (access["status"], access["complete"]) == (200, False), access
    assert access["aborted"] == "record deleted during the download"
    assert not [line for line in lines if SERVER_ERROR in line or "Traceback" in line]


async def test_the_client_address_is_not_the_forwarded_for_a_client_sent(
    gateway: httpx.AsyncClient, stack: LocalStack
) -> None:
    sizes = log_sizes(stack, "quiz")
    request_id = f"addr-{uuid.uuid4().hex}"
    response = await gateway.get(
        "/quiz/questions",
        params={"limit": 1},
        headers={"X-Request-ID": request_id, "X-Forwarded-For": "203.0.113.66"},
    )
    assert response.status_code == 200
    (access,) = [e for e in entries(lines_since(sizes), request_id) if e["logger"] == "access"]
    assert access["client"] == "127.0.0.1", access
