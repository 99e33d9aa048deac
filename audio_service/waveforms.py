"""The HTTP answer of ``GET /record/peaks``: the audiowaveform JSON, its validators, 304.

The stored peaks (``audio_service.peaks``) are reduced to the pixels asked for and written
as audiowaveform's JSON format version 2, which wavesurfer.js and peaks.js load as it is. A
record's peaks never change, so the answer is cached like its download: the same
Cache-Control, and an ETag of the record's SHA-256 with the resolution and bits asked for.
"""

from __future__ import annotations

import json

import anyio
from starlette.responses import Response

from audio_service import downloads, ranges
from audio_service.models import Record
from audio_service.peaks import Peaks, waveform_json

JSON_MEDIA_TYPE = "application/json"


def etag(record: Record, pixels: int | None, bits: int) -> str:
    return f'"{record.sha256}-peaks-{pixels or "all"}-{bits}"'


def _body(peaks: Peaks, pixels: int | None, bits: int) -> bytes:
    document = waveform_json(peaks, pixels or peaks.length or 1, bits)
    return json.dumps(document, separators=(",", ":")).encode()


async def respond(
    record: Record,
    peaks: Peaks,
    *,
    pixels: int | None,
    bits: int,
    if_none_match: str | None,
    max_age_s: int,
) -> Response:
    """200 with the JSON (``pixels`` None: every stored pixel), or 304 for a current ETag."""
    headers = {
        **downloads.validators(record, max_age_s),
        "ETag": etag(record, pixels, bits),
    }
    if ranges.none_match(if_none_match, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    # Up to 65,536 pixels: reducing and writing ~260,000 numbers is kept off the event loop.
    body = await anyio.to_thread.run_sync(_body, peaks, pixels, bits)
    headers["X-Content-Type-Options"] = "nosniff"
    return Response(body, headers=headers, media_type=JSON_MEDIA_TYPE)
