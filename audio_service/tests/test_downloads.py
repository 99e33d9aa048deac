"""GET/HEAD /record: headers, ranges over stored chunks, conditional requests, 404/416/422.

Every test that takes ``client`` runs on both backends: PostgreSQL (the app in-process) and
S3 (the app on a real port behind the real gateway, the bytes in a real SeaweedFS, streamed
by nginx from the object store): the download contract is the same.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from audio_service.filenames import content_disposition, download_filename, sanitize_filename
from audio_service.main import create_app
from audio_service.models import Base, RecordChunk
from audio_service.tests.conftest import (
    TEST_CHUNK_BYTES,
    ClientFactory,
    make_settings,
    s3_overrides,
)
from devstack.gateway import NO_RATE_LIMITS, Gateway, nginx_binary
from devstack.seaweedfs import SeaweedFS
from shared.request_context import ResponseAborted
from testkit.apps import running_app, served_app
from testkit.audio import AudioUser, create_user, upload
from testkit.postgres import truncate_all, unavailable
from testkit.s3 import Bucket
from testkit.wav import write_tone_wav


@pytest.fixture(scope="module")
def s3_gateway(
    database_url: str,
    seaweedfs: SeaweedFS,
    s3_bucket_name: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Gateway, int]]:
    """The app on the S3 backend on a real port, behind the real gateway; (gateway, port)."""
    if nginx_binary() is None:
        unavailable("nginx is needed for the S3 download tests")
    workdir = tmp_path_factory.mktemp("s3-downloads")
    staging = workdir / "staging"
    staging.mkdir()
    settings = make_settings(database_url, staging, **s3_overrides(seaweedfs, s3_bucket_name))
    with served_app(create_app(settings)) as (_, port):
        gateway = Gateway.local(
            workdir / "nginx",
            quiz_servers=[f"127.0.0.1:{port}"],
            audio_servers=[f"127.0.0.1:{port}"],
            # Every test here creates its own user, more than the per-address limit on
            # POST /user allows in a minute; the limits have tests of their own.
            settings={**NO_RATE_LIMITS, "GATEWAY_S3_SERVERS": f"server {seaweedfs.address};"},
        )
        with gateway:
            yield gateway, port


@pytest.fixture(params=["postgres", "s3"])
async def client(
    request: pytest.FixtureRequest, settings: Any, db_engine: AsyncEngine
) -> AsyncIterator[httpx.AsyncClient]:
    """postgres: the app in-process; s3: through the gateway in front of the S3 app."""
    try:
        if request.param == "postgres":
            async with running_app(create_app(settings)) as in_process:
                yield in_process
        else:
            gateway, _ = request.getfixturevalue("s3_gateway")
            bucket: Bucket = request.getfixturevalue("bucket")
            async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as through_gateway:
                yield through_gateway
            assert bucket.uploads() == [], "no multipart upload is left open"
    finally:
        await truncate_all(db_engine, Base.metadata)


@pytest.fixture
async def record(client: httpx.AsyncClient, user: AudioUser, tmp_path: Path) -> dict[str, Any]:
    """A record whose MP3 spans several stored chunks (3 s at 128 kbps: ~48 KB)."""
    wav = write_tone_wav(tmp_path / "long.wav", sample_rate=44100, channels=1, duration_s=3.0)
    response = await upload(client, user, wav, filename="long.wav")
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["output"]["size_bytes"] > 2 * TEST_CHUNK_BYTES
    return body


@pytest.fixture
async def full(client: httpx.AsyncClient, record: dict[str, Any]) -> bytes:
    response = await client.get(record["url"])
    assert response.status_code == 200
    return response.content


def params(record: dict[str, Any], user_id: int | None = None) -> dict[str, str]:
    return {"id": record["record_id"], "user": str(user_id or record["user_id"])}


async def test_full_download_headers_and_bytes(
    client: httpx.AsyncClient, record: dict[str, Any]
) -> None:
    response = await client.get("/record", params=params(record))
    assert response.status_code == 200
    size = record["output"]["size_bytes"]
    assert len(response.content) == size
    assert hashlib.sha256(response.content).hexdigest() == record["output"]["sha256"]
    headers = response.headers
    assert headers["content-type"] == "audio/mpeg"
    assert headers["content-length"] == str(size)
    assert headers["etag"] == f'"{record["output"]["sha256"]}"'
    assert headers["accept-ranges"] == "bytes"
    assert headers["content-disposition"] == 'attachment; filename="long.mp3"'
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"].startswith("private, max-age=")
    assert "immutable" in headers["cache-control"]


async def test_a_record_deleted_mid_download_cuts_the_stream_short(
    make_client: ClientFactory,
    tmp_path: Path,
    db_engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # PostgreSQL, a download larger than one window (one chunk here), so its bytes are read
    # while it is sent. The headers (with the full Content-Length) are gone when the loss is
    # noticed: the only honest signal left is to abort, so the client sees a truncated body.
    async with make_client(download_window_bytes=TEST_CHUNK_BYTES) as client:
        user = await create_user(client, "Ada")
        record = await _long_record(client, user, tmp_path)
        await _cut_short(client, record, db_engine, caplog)


async def _long_record(
    client: httpx.AsyncClient, user: AudioUser, tmp_path: Path
) -> dict[str, Any]:
    wav = write_tone_wav(tmp_path / "long.wav", sample_rate=44100, channels=1, duration_s=3.0)
    response = await upload(client, user, wav, filename="long.wav")
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _cut_short(
    client: httpx.AsyncClient,
    record: dict[str, Any],
    db_engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with db_engine.begin() as connection:
        await connection.execute(
            delete(RecordChunk).where(
                RecordChunk.record_id == uuid.UUID(record["record_id"]), RecordChunk.seq == 1
            )
        )
    with caplog.at_level(logging.INFO), pytest.raises(ResponseAborted):
        await client.get("/record", params=params(record))
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.levelname, r.getMessage()) for r in warnings] == [
        (
            "audio.downloads",
            "WARNING",
            "download cut short: the record was deleted while it was being sent",
        )
    ], "logged once, as a warning, without a traceback"
    assert not any(r.exc_info for r in caplog.records)
    (access,) = [r for r in caplog.records if r.name == "access"]
    fields = access.__dict__["fields"]
    assert (fields["status"], fields["complete"]) == (200, False)
    assert fields["bytes"] == TEST_CHUNK_BYTES, "the first chunk went out, then the cut"
    assert fields["aborted"] == "record deleted during the download"
    # The first chunk alone is still served.
    first = await client.get("/record", params=params(record), headers={"Range": "bytes=0-9"})
    assert first.status_code == 206


async def test_a_record_missing_chunks_before_the_first_byte_is_404(
    make_client: ClientFactory, tmp_path: Path, db_engine: AsyncEngine
) -> None:
    """Deleted between its metadata and its bytes (read in one transaction when they fit one
    window): nothing was sent yet, so the answer is still an honest 404."""
    async with make_client() as client:
        user = await create_user(client, "Ada")
        record = await _long_record(client, user, tmp_path)
        await _drop_chunks(client, record, db_engine)


async def _drop_chunks(
    client: httpx.AsyncClient, record: dict[str, Any], db_engine: AsyncEngine
) -> None:
    async with db_engine.begin() as connection:
        await connection.execute(
            delete(RecordChunk).where(RecordChunk.record_id == uuid.UUID(record["record_id"]))
        )
    response = await client.get("/record", params=params(record))
    assert response.status_code == 404


async def test_head_sends_the_headers_without_a_body(
    client: httpx.AsyncClient, record: dict[str, Any]
) -> None:
    get = await client.get("/record", params=params(record))
    head = await client.head("/record", params=params(record))
    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-length", "etag", "accept-ranges", "content-disposition"):
        assert head.headers[name] == get.headers[name]


C = TEST_CHUNK_BYTES


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("bytes=0-99", lambda size: (0, 99)),
        ("bytes=100-", lambda size: (100, size - 1)),
        ("bytes=-100", lambda size: (size - 100, size - 1)),
        # Crosses the boundary between the first two stored chunks.
        (f"bytes={C - 10}-{C + 9}", lambda size: (C - 10, C + 9)),
        # Spans three chunks.
        (f"bytes=5-{2 * C + 5}", lambda size: (5, 2 * C + 5)),
        # Exactly the second chunk.
        (f"bytes={C}-{2 * C - 1}", lambda size: (C, 2 * C - 1)),
        ("bytes=0-0", lambda size: (0, 0)),
        ("bytes=0-999999999", lambda size: (0, size - 1)),
        ("bytes=-999999999", lambda size: (0, size - 1)),
        (" Bytes = 10 - 19 ", lambda size: (10, 19)),
    ],
)
async def test_single_ranges_are_206(
    client: httpx.AsyncClient,
    record: dict[str, Any],
    full: bytes,
    spec: str,
    expected: Callable[[int], tuple[int, int]],
) -> None:
    size = len(full)
    first, last = expected(size)
    if client.base_url.host != "testserver":
        spec = spec.strip()  # on a real connection the outer blanks are not part of the value
    response = await client.get("/record", params=params(record), headers={"Range": spec})
    assert response.status_code == 206, response.text
    assert response.headers["content-range"] == f"bytes {first}-{last}/{size}"
    assert response.headers["content-length"] == str(last - first + 1)
    assert response.content == full[first : last + 1]
    assert response.headers["content-type"] == "audio/mpeg"


async def test_head_with_a_range_is_206_without_a_body(
    client: httpx.AsyncClient, record: dict[str, Any], full: bytes
) -> None:
    response = await client.head("/record", params=params(record), headers={"Range": "bytes=10-"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 10-{len(full) - 1}/{len(full)}"
    assert response.headers["content-length"] == str(len(full) - 10)
    assert response.content == b""


@pytest.mark.parametrize(
    "spec",
    ["bytes=0-1,5-6", "items=0-10", "bytes=5-1", "bytes=abc", "bytes=", "bytes=--1", "0-10"],
)
async def test_unusable_ranges_are_ignored_with_the_whole_file(
    client: httpx.AsyncClient, record: dict[str, Any], full: bytes, spec: str
) -> None:
    response = await client.get("/record", params=params(record), headers={"Range": spec})
    assert response.status_code == 200
    assert response.content == full
    assert "content-range" not in response.headers


@pytest.mark.parametrize("spec", ["bytes={size}-", "bytes={size}-{bigger}", "bytes=-0"])
async def test_ranges_outside_the_file_are_416(
    client: httpx.AsyncClient, record: dict[str, Any], spec: str
) -> None:
    size = record["output"]["size_bytes"]
    header = spec.format(size=size, bigger=size + 10)
    for method in ("GET", "HEAD"):
        response = await client.request(
            method, "/record", params=params(record), headers={"Range": header}
        )
        assert response.status_code == 416
        assert response.headers["content-range"] == f"bytes */{size}"
        if method == "GET":
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["type"].endswith("/range-not-satisfiable")


@pytest.mark.parametrize("template", ["{etag}", "W/{etag}", '"other", {etag}', "*"])
async def test_a_current_etag_gets_304(
    client: httpx.AsyncClient, record: dict[str, Any], template: str
) -> None:
    etag = f'"{record["output"]["sha256"]}"'
    for method in ("GET", "HEAD"):
        response = await client.request(
            method,
            "/record",
            params=params(record),
            headers={"If-None-Match": template.format(etag=etag), "Range": "bytes=0-1"},
        )
        assert response.status_code == 304
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert "cache-control" in response.headers


async def test_a_stale_etag_gets_the_file(
    client: httpx.AsyncClient, record: dict[str, Any], full: bytes
) -> None:
    response = await client.get(
        "/record", params=params(record), headers={"If-None-Match": '"stale"'}
    )
    assert response.status_code == 200
    assert response.content == full


async def test_if_range_honours_the_range_only_for_the_current_etag(
    client: httpx.AsyncClient, record: dict[str, Any], full: bytes
) -> None:
    etag = f'"{record["output"]["sha256"]}"'
    current = await client.get(
        "/record", params=params(record), headers={"Range": "bytes=0-9", "If-Range": etag}
    )
    assert current.status_code == 206
    assert current.content == full[:10]
    for stale in ('"stale"', f"W/{etag}", "Wed, 21 Oct 2015 07:28:00 GMT"):
        response = await client.get(
            "/record", params=params(record), headers={"Range": "bytes=0-9", "If-Range": stale}
        )
        assert response.status_code == 200
        assert response.content == full


async def test_unknown_record_and_another_users_record_are_404(
    client: httpx.AsyncClient, record: dict[str, Any]
) -> None:
    unknown = {"id": str(uuid.uuid4()), "user": str(record["user_id"])}
    wrong_user = params(record, user_id=record["user_id"] + 1)
    for query in (unknown, wrong_user):
        for method in ("GET", "HEAD", "DELETE"):
            headers = {"Authorization": "Bearer x"} if method == "DELETE" else {}
            response = await client.request(method, "/record", params=query, headers=headers)
            expected = 401 if method == "DELETE" else 404
            assert response.status_code == expected
        response = await client.get("/record", params=query)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "No such record for this user."


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"id": "not-a-uuid", "user": "1"},
        {"id": "{record_id}"},
        {"user": "1"},
        {"id": "{record_id}", "user": "abc"},
        {"id": "{record_id}", "user": "0"},
        {"id": "{record_id}", "user": str(2**53)},
    ],
)
async def test_malformed_queries_are_422(
    client: httpx.AsyncClient, record: dict[str, Any], query: dict[str, str]
) -> None:
    filled = {key: value.format(record_id=record["record_id"]) for key, value in query.items()}
    response = await client.get("/record", params=filled)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"]


@pytest.mark.parametrize(
    ("uploaded", "disposition"),
    [
        ("song.wav", 'attachment; filename="song.mp3"'),
        (
            "Привет мир.wav",
            "attachment; filename=\"audio.mp3\"; filename*=UTF-8''"
            "%D0%9F%D1%80%D0%B8%D0%B2%D0%B5%D1%82%20%D0%BC%D0%B8%D1%80.mp3",
        ),
        (
            "Café Noël.wav",
            "attachment; filename=\"Cafe Noel.mp3\"; filename*=UTF-8''Caf%C3%A9%20No%C3%ABl.mp3",
        ),
        ("../../etc/passwd", 'attachment; filename="passwd.mp3"'),
        ("C:\\Users\\me\\take 1.wav", 'attachment; filename="take 1.mp3"'),
    ],
)
async def test_content_disposition_is_safe_for_any_name(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path, uploaded: str, disposition: str
) -> None:
    response = await upload(client, user, tone_wav, filename=uploaded)
    assert response.status_code == 201, response.text
    download = await client.head(response.json()["url"])
    assert download.headers["content-disposition"] == disposition


async def test_hostile_raw_filenames_are_sanitised(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path
) -> None:
    """Names sent as raw bytes, as no well-behaved client library would send them."""
    wav = await anyio.Path(tone_wav).read_bytes()
    cases = {
        b'evil\\"; x=\\"y.wav': "evil_; x=_y.mp3",
        b"ctl\x1b[31m\x07\tname.wav": "ctl[31mname.mp3",
        b"\xe2\x80\xaeevil\xe2\x80\xacgnp.wav": "evilgnp.mp3",
        b"  ...hidden.wav  ": "hidden.mp3",
        b"../..": "audio.mp3",
    }
    boundary = "hostile-boundary"
    for raw_name, expected in cases.items():
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="user_id"\r\n\r\n'
            f"{user.user_id}\r\n--{boundary}\r\n"
            f'Content-Disposition: form-data; name="token"\r\n\r\n{user.token}\r\n'
            f"--{boundary}\r\n"
        ).encode()
        body += b'Content-Disposition: form-data; name="file"; filename="' + raw_name + b'"\r\n'
        body += b"Content-Type: audio/wav\r\n\r\n" + wav + f"\r\n--{boundary}--\r\n".encode()
        response = await client.post(
            "/record",
            content=body,
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        assert response.status_code == 201, (raw_name, response.text)
        assert response.json()["filename"] == expected, raw_name
        download = await client.head(response.json()["url"])
        disposition = download.headers["content-disposition"]
        assert "\r" not in disposition
        assert "\n" not in disposition
        assert disposition.count('"') == 2


def test_filename_helpers() -> None:
    assert sanitize_filename(None) is None
    assert sanitize_filename("") is None
    assert sanitize_filename("a/b/c.wav") == "c.wav"
    assert sanitize_filename("a\\b\\c.wav") == "c.wav"
    assert sanitize_filename('a"b<c>|?*.wav') == "a_b_c____.wav"
    assert sanitize_filename("line\r\nbreak.wav") == "linebreak.wav"
    assert sanitize_filename("x" * 300) == "x" * 255
    assert download_filename(None) == "audio.mp3"
    assert download_filename("take.WAVE") == "take.mp3"
    assert download_filename(".wav") == "audio.mp3"
    assert download_filename("notes.txt") == "notes.txt.mp3"
    assert download_filename("y" * 255).endswith("y.mp3")
    assert len(download_filename("y" * 255)) == 204
    assert content_disposition("a b.mp3") == 'attachment; filename="a b.mp3"'
    assert content_disposition("it's.mp3") == (
        "attachment; filename=\"it_s.mp3\"; filename*=UTF-8''it%27s.mp3"
    )
    assert content_disposition("日本.mp3").startswith('attachment; filename="audio.mp3"')


async def test_s3_downloads_through_the_gateway_are_authorised_each_time(
    s3_gateway: tuple[Gateway, int],
    bucket: Bucket,
    tone_wav: Path,
    db_engine: AsyncEngine,
) -> None:
    """Never served from the gateway's cache (a deleted record is a 404 at once), and an
    object store failure behind the redirect is the gateway's 503 problem, not nginx's page
    nor the store's XML."""
    gateway, _ = s3_gateway
    try:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
            user = await create_user(client)
            body = (await upload(client, user, tone_wav)).json()
            query = {"id": body["record_id"], "user": str(body["user_id"])}
            for _ in range(2):
                response = await client.get("/record", params=query)
                assert response.status_code == 200
                assert hashlib.sha256(response.content).hexdigest() == body["output"]["sha256"]
                assert "x-accel-redirect" not in response.headers
                assert "x-storage-url" not in response.headers
                assert "x-amz-request-id" not in response.headers
            bucket.client.delete_object(Bucket=bucket.name, Key=f"records/{body['record_id']}.mp3")
            lost = await client.get("/record", params=query)
            assert lost.status_code == 503
            assert lost.headers["content-type"] == "application/problem+json"
            assert lost.json()["detail"] == "The object store is unavailable; retry later."
            assert lost.headers["x-request-id"]
            deleted = await client.delete(
                "/record", params=query, headers={"Authorization": f"Bearer {user.token}"}
            )
            assert deleted.status_code == 204
            assert (await client.get("/record", params=query)).status_code == 404
    finally:
        await truncate_all(db_engine, Base.metadata)
