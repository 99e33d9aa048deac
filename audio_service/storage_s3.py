"""MP3 bytes as objects in any S3 API (AWS, MinIO, Ceph RGW, SeaweedFS), through aiobotocore.

- Writes are multipart uploads streamed from the staged MP3, one part
  (``AUDIO_S3_PART_BYTES``) in memory at a time; a failed upload is aborted on the spot, and
  one that a crash left open is aborted by the sweeper (``list_uploads``).
- Downloads do not pass through this process: ``locate`` presigns a GET that the gateway
  fetches (``X-Accel-Redirect``) or the client follows (a redirect). Presigned URLs are
  reused while more than half of their lifetime is left, so a popular record costs one
  signature per half-lifetime, not one per download. ``read`` streams an object for the
  migration and the sweeper's checks.
- Every failure to reach the object store (refused, reset, timed out, a 5xx, throttling) is
  ``StorageUnavailable``: the client gets a 503 problem, and the next request tries again on
  a fresh connection — nothing needs a restart.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from audio_service.models import Record
from audio_service.settings import AudioSettings
from audio_service.storage import RecordVanished, StorageUnavailable

if TYPE_CHECKING:
    from types_aiobotocore_s3.client import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

log = logging.getLogger("audio.storage")

MP3_CONTENT_TYPE = "audio/mpeg"
READ_PIECE_BYTES = 256 * 1024
_PRESIGN_CACHE_SIZE = 4096
# S3 errors that say "not now" rather than "never": the object store is unavailable.
_RETRYABLE_CODES = frozenset({"SlowDown", "ServiceUnavailable", "RequestTimeout", "InternalError"})
_ALREADY_THERE = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def unavailable_on_failure(action: str) -> Iterator[None]:
    """Maps every failure of an S3 call to ``StorageUnavailable`` (logged once, no traceback
    for the expected kinds); "the key does not exist" is left to the caller."""
    try:
        yield
    except ClientError as exc:
        if _code(exc) in _MISSING_CODES:
            raise
        level = (
            logging.WARNING
            if _status(exc) >= 500 or _code(exc) in _RETRYABLE_CODES
            else (
                logging.ERROR  # 4xx other than "missing": credentials, bucket or policy are wrong
            )
        )
        log.log(level, "object store refused %s: %s", action, exc)
        raise StorageUnavailable() from exc
    except (BotoCoreError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        log.warning("object store unreachable during %s: %s: %s", action, type(exc).__name__, exc)
        raise StorageUnavailable() from exc


def _config(settings: AudioSettings) -> AioConfig:
    return AioConfig(
        signature_version="s3v4",
        # Path-style works with every S3 API (custom endpoints, dotted bucket names).
        s3={"addressing_style": "path"},
        connect_timeout=settings.s3_connect_timeout_s,
        read_timeout=settings.s3_read_timeout_s,
        # One quick retry for a dropped connection; an outage is a 503, not a long wait.
        retries={"max_attempts": 2, "mode": "standard"},
        max_pool_connections=settings.s3_max_connections,
        # Only what S3 requires: third-party S3 APIs differ in the newer default checksums.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


@asynccontextmanager
async def s3_client(settings: AudioSettings) -> AsyncIterator[S3Client]:
    """The one S3 client of a process (a connection pool); credentials from the settings,
    else botocore's chain (AWS_* variables, profiles, instance roles)."""
    credentials: dict[str, Any] = {}
    if settings.s3_access_key_id is not None and settings.s3_secret_access_key is not None:
        credentials = {
            "aws_access_key_id": settings.s3_access_key_id.get_secret_value(),
            "aws_secret_access_key": settings.s3_secret_access_key.get_secret_value(),
        }
    session = get_session()
    async with session.create_client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        config=_config(settings),
        **credentials,
    ) as client:
        yield client


class S3Storage:
    name = "s3"

    def __init__(self, client: S3Client, settings: AudioSettings) -> None:
        self._client = client
        self._bucket = settings.s3_bucket
        self._prefix = settings.s3_prefix
        self._part_bytes = settings.s3_part_bytes
        self._expires_s = settings.s3_presign_expires_s
        self._bucket_checked = False
        self._presigned: OrderedDict[tuple[str, tuple[tuple[str, str], ...]], tuple[str, float]]
        self._presigned = OrderedDict()

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def client(self) -> S3Client:
        return self._client

    def key_for(self, record: Record) -> str:
        return f"{self._prefix}{record.id}.mp3"

    @staticmethod
    def _key(record: Record) -> str:
        if record.storage_key is None:
            raise ValueError(f"record {record.id} is on s3 without a storage key")
        return record.storage_key

    async def ensure_bucket(self) -> None:
        """Creates the bucket when it does not exist yet (once per process)."""
        if self._bucket_checked:
            return
        with unavailable_on_failure("checking the bucket"):
            try:
                await self._client.head_bucket(Bucket=self._bucket)
            except ClientError as exc:
                if _status(exc) != 404 and _code(exc) not in _MISSING_CODES | {"NoSuchBucket"}:
                    raise
                try:
                    await self._client.create_bucket(Bucket=self._bucket)
                    log.info("created the bucket", extra={"fields": {"bucket": self._bucket}})
                except ClientError as created:
                    # Another process (or replica) created it between our check and ours.
                    if _code(created) not in _ALREADY_THERE:
                        raise
        self._bucket_checked = True

    async def put(self, record: Record, source: Path) -> None:
        await self.ensure_bucket()
        key = self._key(record)
        with unavailable_on_failure("an upload"):
            created = await self._client.create_multipart_upload(
                Bucket=self._bucket,
                Key=key,
                ContentType=MP3_CONTENT_TYPE,
                Metadata={"sha256": record.sha256},
            )
        upload_id = created["UploadId"]
        try:
            parts: list[CompletedPartTypeDef] = []
            stored = 0
            async with await anyio.open_file(source, "rb") as mp3:
                while data := await mp3.read(self._part_bytes):
                    number = len(parts) + 1
                    with unavailable_on_failure("an upload"):
                        part = await self._client.upload_part(
                            Bucket=self._bucket,
                            Key=key,
                            UploadId=upload_id,
                            PartNumber=number,
                            Body=data,
                        )
                    parts.append({"ETag": part["ETag"], "PartNumber": number})
                    stored += len(data)
            if stored != record.mp3_size:
                raise RuntimeError(f"read {stored} MP3 bytes, the encoder wrote {record.mp3_size}")
            with unavailable_on_failure("an upload"):
                await self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
        except BaseException:
            # Shielded: a cancelled request must not leave the upload's parts behind either.
            with anyio.CancelScope(shield=True):
                await self.abort_upload(key, upload_id)
            raise

    async def abort_upload(self, key: str, upload_id: str) -> None:
        """Best effort: when the store is down this fails too, and the sweeper aborts it."""
        try:
            with unavailable_on_failure("aborting an upload"):
                await self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=key, UploadId=upload_id
                )
        except (StorageUnavailable, ClientError):
            pass

    async def read(self, record: Record, start: int, end: int) -> AsyncIterator[bytes]:
        key = self._key(record)
        with unavailable_on_failure("a download"):
            try:
                response = await self._client.get_object(
                    Bucket=self._bucket, Key=key, Range=f"bytes={start}-{end}"
                )
            except ClientError as exc:
                raise RecordVanished(f"object {key} is missing") from exc
        async with response["Body"] as body:
            while True:
                with unavailable_on_failure("a download"):
                    piece = await body.read(READ_PIECE_BYTES)
                if not piece:
                    break
                yield piece

    async def sha256(self, record: Record) -> str:
        """The SHA-256 of the object as stored, read back in full."""
        digest = hashlib.sha256()
        async for piece in self.read(record, 0, record.mp3_size - 1):
            digest.update(piece)
        return digest.hexdigest()

    async def locate(
        self, record: Record, response_headers: Mapping[str, str] | None = None
    ) -> str:
        key = self._key(record)
        extra = tuple(sorted((response_headers or {}).items()))
        cached = self._presigned.get((key, extra))
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            self._presigned.move_to_end((key, extra))
            return cached[0]
        params: dict[str, Any] = {"Bucket": self._bucket, "Key": key, **dict(extra)}
        # Signing is local (no request), so it cannot fail for the store being down.
        url = await self._client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=self._expires_s
        )
        self._presigned[(key, extra)] = (url, now + self._expires_s / 2)
        if len(self._presigned) > _PRESIGN_CACHE_SIZE:
            self._presigned.popitem(last=False)
        return url

    async def delete(self, record: Record) -> None:
        await self.delete_keys([self._key(record)])

    async def delete_keys(self, keys: list[str]) -> None:
        """Deletes up to 1000 objects in one request (missing ones included: S3 says ok)."""
        if not keys:
            return
        for key in keys:
            self._presigned.pop((key, ()), None)
        with unavailable_on_failure("deleting objects"):
            result = await self._client.delete_objects(
                Bucket=self._bucket,
                Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
            )
        errors = result.get("Errors", [])
        if errors:
            log.warning("object store kept %d objects it was asked to delete", len(errors))
            raise StorageUnavailable()

    async def exists(self, key: str) -> bool:
        with unavailable_on_failure("checking an object"):
            try:
                await self._client.head_object(Bucket=self._bucket, Key=key)
            except ClientError as exc:
                if _status(exc) == 404 or _code(exc) in _MISSING_CODES:
                    return False
                raise
        return True

    async def list_objects(self) -> AsyncIterator[list[tuple[str, datetime]]]:
        """(key, last modified) of every object under the prefix, a page at a time."""
        await self.ensure_bucket()
        paginator = self._client.get_paginator("list_objects_v2")
        pages = aiter(paginator.paginate(Bucket=self._bucket, Prefix=self._prefix))
        while True:
            with unavailable_on_failure("listing objects"):
                page = await anext(pages, None)
            if page is None:
                return
            yield [(item["Key"], item["LastModified"]) for item in page.get("Contents", [])]

    async def list_uploads(self) -> list[tuple[str, str, datetime]]:
        """(key, upload id, initiated) of every unfinished multipart upload under the prefix."""
        await self.ensure_bucket()
        uploads: list[tuple[str, str, datetime]] = []
        paginator = self._client.get_paginator("list_multipart_uploads")
        with unavailable_on_failure("listing uploads"):
            async for page in paginator.paginate(Bucket=self._bucket, Prefix=self._prefix):
                uploads += [
                    (item["Key"], item["UploadId"], item["Initiated"])
                    for item in page.get("Uploads", [])
                ]
        return uploads
