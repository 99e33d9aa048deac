"""The HTTP answer of ``GET``/``HEAD /record``: validators, 304, ranges, and the bytes.

``plan`` decides, from the record alone, the status, the headers and which bytes to send;
the service authorises the download and finds the bytes (``AudioService.open_download``);
``respond`` turns both into a response:

- bytes from the service (PostgreSQL): a streamed body;
- bytes in an object store (S3), ``AUDIO_S3_DOWNLOAD=gateway`` (the default): an empty
  answer with ``X-Accel-Redirect: /_storage/s3`` and the object's presigned URL and range
  in ``X-Storage-Url``/``X-Storage-Range``; the gateway (its ``/_storage/s3`` location)
  fetches exactly those bytes from the object store and sends them with this answer's
  headers, so the bytes never pass through Python and the contract (ETag, ranges, names) is
  the same as on PostgreSQL;
- ``AUDIO_S3_DOWNLOAD=redirect``: a 302 to a presigned URL that makes the object store answer
  with our Content-Type, Content-Disposition and Cache-Control (its ETag stays its own).

304, 416 and HEAD are always answered here, from the record: they need no bytes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.responses import RedirectResponse, Response, StreamingResponse

from audio_service import ranges
from audio_service.filenames import content_disposition, download_filename
from audio_service.models import Record
from audio_service.ranges import ByteRange
from audio_service.service import Download
from audio_service.storage import RecordVanished
from shared.request_context import ResponseAborted

MP3_MEDIA_TYPE = "audio/mpeg"
ACCEL_LOCATION = "/_storage/s3"
"""The gateway's internal location that streams an object (nginx/templates)."""

log = logging.getLogger("audio.downloads")


class Mp3Response(Response):
    """Only names the media type, for the OpenAPI document."""

    media_type = MP3_MEDIA_TYPE


@dataclass(frozen=True, slots=True)
class DownloadRequest:
    """What the client asked for, as far as the answer depends on it.

    ``gateway_*`` are the client's Range and conditionals as the gateway repeats them
    (``X-Gateway-*``): its download cache leaves the originals out of a request that may
    fill the cache, and cuts ranges and answers 304 from the cached copy itself. A record
    whose answer the gateway does not cache (S3: an X-Accel-Redirect) is judged from them.
    """

    send_body: bool
    range_header: str | None = None
    if_none_match: str | None = None
    if_range: str | None = None
    gateway_range: str | None = None
    gateway_if_none_match: str | None = None
    gateway_if_range: str | None = None

    def for_uncached(self) -> DownloadRequest:
        if self.range_header or self.if_none_match or self.if_range:
            return self  # the originals reached us: the cache was not in the way
        return DownloadRequest(
            self.send_body, self.gateway_range, self.gateway_if_none_match, self.gateway_if_range
        )


@dataclass(frozen=True, slots=True)
class Plan:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    byte_range: ByteRange | None = None  # what the answer covers
    send_body: bool = True

    @property
    def body_range(self) -> ByteRange | None:
        """The bytes to fetch: none for a 304 or a HEAD."""
        return self.byte_range if self.send_body and self.status in (200, 206) else None


def validators(record: Record, max_age_s: int) -> dict[str, str]:
    # Headers a 304 must repeat (RFC 9110 §15.4.5) as well as the 200/206 ones.
    return {
        "ETag": f'"{record.sha256}"',
        # private: the link is a capability, so shared caches must not keep a copy;
        # immutable: a record's bytes never change, so browsers need not revalidate.
        "Cache-Control": f"private, max-age={max_age_s}, immutable",
    }


def plan(record: Record, request: DownloadRequest, *, max_age_s: int) -> Plan:
    """Status, headers and byte range of the answer; raises the 416 problem."""
    if record.storage != "postgres":
        request = request.for_uncached()
    headers = validators(record, max_age_s)
    etag = headers["ETag"]
    if ranges.none_match(request.if_none_match, etag):
        return Plan(304, headers)

    size = record.mp3_size
    headers |= {
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(download_filename(record.original_filename)),
        "X-Content-Type-Options": "nosniff",
    }
    status = 200
    byte_range = ranges.ByteRange(0, size - 1)
    if ranges.range_still_valid(request.if_range, etag):
        requested = ranges.parse_range(request.range_header, size)
        if requested is not None:
            status, byte_range = 206, requested
            headers["Content-Range"] = requested.content_range(size)
    headers["Content-Length"] = str(byte_range.length)
    return Plan(status, headers, byte_range, request.send_body)


async def _body(record: Record, chunks: AsyncIterator[bytes], length: int) -> AsyncIterator[bytes]:
    """The chunks; a record deleted meanwhile ends the download short, logged once here."""
    sent = 0
    try:
        async for chunk in chunks:
            sent += len(chunk)
            yield chunk
    except RecordVanished:
        log.warning(
            "download cut short: the record was deleted while it was being sent",
            extra={"fields": {"record_id": str(record.id), "sent": sent, "length": length}},
        )
        raise ResponseAborted("record deleted during the download") from None


def respond(download: Download[Plan]) -> Response:
    chosen, record = download.plan, download.record
    if chosen.status == 304:
        return Response(status_code=304, headers=chosen.headers)
    wanted = chosen.body_range
    if wanted is None:  # HEAD
        return Response(
            status_code=chosen.status, headers=chosen.headers, media_type=MP3_MEDIA_TYPE
        )
    if download.url is not None:
        return _accel_redirect(chosen, wanted, download.url)
    assert download.body is not None
    return StreamingResponse(
        _body(record, download.body, wanted.length),
        status_code=chosen.status,
        headers=chosen.headers,
        media_type=MP3_MEDIA_TYPE,
    )


def _accel_redirect(chosen: Plan, wanted: ByteRange, url: str) -> Response:
    """Hands the bytes to the gateway: it keeps these headers and fetches ``url``'s
    ``wanted`` bytes itself (its Content-Length comes from the object store's answer)."""
    headers = {name: value for name, value in chosen.headers.items() if name != "Content-Length"}
    headers |= {
        "X-Accel-Redirect": ACCEL_LOCATION,
        "X-Storage-Url": url,
        "X-Storage-Range": f"bytes={wanted.start}-{wanted.end}" if chosen.status == 206 else "",
    }
    return Response(status_code=chosen.status, headers=headers, media_type=MP3_MEDIA_TYPE)


def redirect_headers(record: Record, max_age_s: int) -> dict[str, str]:
    """What a presigned URL makes the object store answer with, for ``redirect`` mode."""
    cached = validators(record, max_age_s)
    return {
        "ResponseContentType": MP3_MEDIA_TYPE,
        "ResponseContentDisposition": content_disposition(
            download_filename(record.original_filename)
        ),
        "ResponseCacheControl": cached["Cache-Control"],
    }


def redirect(url: str) -> Response:
    # The URL expires: no cache may keep the redirect itself.
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
