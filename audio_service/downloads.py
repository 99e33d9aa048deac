"""The HTTP answer of ``GET``/``HEAD /record``: validators, 304, ranges, the streamed body.

The bytes come from the service (``AudioService.read_mp3``); this module only decides which
of them to send and with what headers.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

from starlette.responses import Response, StreamingResponse

from audio_service import ranges
from audio_service.filenames import content_disposition, download_filename
from audio_service.models import Record
from audio_service.service import RecordVanished
from shared.request_context import ResponseAborted

MP3_MEDIA_TYPE = "audio/mpeg"

log = logging.getLogger("audio.downloads")

Mp3Reader = Callable[[int, int], AsyncIterator[bytes]]
"""Bytes ``start..end`` (inclusive) of the record's MP3."""


class Mp3Response(Response):
    """Only names the media type, for the OpenAPI document."""

    media_type = MP3_MEDIA_TYPE


def _validators(record: Record, max_age_s: int) -> dict[str, str]:
    # Headers a 304 must repeat (RFC 9110 §15.4.5) as well as the 200/206 ones.
    return {
        "ETag": f'"{record.sha256}"',
        # private: the link is a capability, so shared caches must not keep a copy;
        # immutable: a record's bytes never change, so browsers need not revalidate.
        "Cache-Control": f"private, max-age={max_age_s}, immutable",
    }


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


def build_response(
    *,
    record: Record,
    read: Mp3Reader,
    max_age_s: int,
    send_body: bool,
    range_header: str | None,
    if_none_match: str | None,
    if_range: str | None,
) -> Response:
    headers = _validators(record, max_age_s)
    etag = headers["ETag"]
    if ranges.none_match(if_none_match, etag):
        return Response(status_code=304, headers=headers)

    size = record.mp3_size
    headers |= {
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(download_filename(record.original_filename)),
        "X-Content-Type-Options": "nosniff",
    }
    status = 200
    byte_range = ranges.ByteRange(0, size - 1)
    if ranges.range_still_valid(if_range, etag):
        requested = ranges.parse_range(range_header, size)
        if requested is not None:
            status, byte_range = 206, requested
            headers["Content-Range"] = requested.content_range(size)
    headers["Content-Length"] = str(byte_range.length)

    if not send_body:
        return Response(status_code=status, headers=headers, media_type=MP3_MEDIA_TYPE)
    return StreamingResponse(
        _body(record, read(byte_range.start, byte_range.end), byte_range.length),
        status_code=status,
        headers=headers,
        media_type=MP3_MEDIA_TYPE,
    )
