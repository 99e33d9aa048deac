"""The response of ``GET``/``HEAD /record``: headers, 304, ranges, and the streamed body."""

from __future__ import annotations

from starlette.responses import Response, StreamingResponse

from audio_service import ranges, service
from audio_service.filenames import content_disposition, download_filename
from audio_service.models import Record
from shared.db import Database

MP3_MEDIA_TYPE = "audio/mpeg"


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


def build_response(
    *,
    database: Database,
    record: Record,
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
        service.stream_mp3(database, record, byte_range.start, byte_range.end),
        status_code=status,
        headers=headers,
        media_type=MP3_MEDIA_TYPE,
    )
