"""Routes of the audio service: HTTP in and out only; the work is in ``service.AudioService``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from audio_service import auth, downloads, links, waveforms
from audio_service.downloads import MP3_MEDIA_TYPE, DownloadRequest, Mp3Response
from audio_service.jobs import Accepted, ConversionJob
from audio_service.peaks import MAX_PIXELS
from audio_service.resources import AudioResources
from audio_service.schemas import (
    MAX_USER_ID,
    JobOut,
    RecordOut,
    RecordPage,
    UploadForm,
    UserCreate,
    UserCreated,
)
from audio_service.settings import AudioSettings
from shared.disconnect import unless_client_leaves
from shared.openapi import SchemaEdit, operation
from shared.problems import problem_responses
from shared.repeated_keys import refuse_repeated_fields
from shared.resources import resources_dependency

# Room in a POST /record body for the other form fields and the multipart framing.
MULTIPART_ALLOWANCE_BYTES = 64 * 1024

router = APIRouter(tags=["audio"])

Resources = Annotated[AudioResources, Depends(resources_dependency(AudioResources))]

_bearer = HTTPBearer(
    auto_error=False,
    description="The user's token from POST /user, as `Authorization: Bearer <token>`.",
)
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

RecordId = Annotated[uuid.UUID, Query(alias="id", description="The record id from POST /record")]
UserIdQuery = Annotated[
    int, Query(alias="user", ge=1, le=MAX_USER_ID, description="The record owner's user id")
]

_MP3_BODY = {MP3_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}
_DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The whole MP3", "content": _MP3_BODY},
    206: {"description": "The requested byte range of the MP3", "content": _MP3_BODY},
    302: {
        "description": (
            "With AUDIO_STORAGE_BACKEND=s3 and AUDIO_S3_DOWNLOAD=redirect only: the MP3's "
            "short-lived presigned URL in the object store"
        )
    },
    304: {"description": "Not modified: the If-None-Match ETag is current"},
    **problem_responses(404, 416, 422, 503),
}
_RECORD_QUERY = {"id": "$response.body#/record_id", "user": "$response.body#/user_id"}
_RECORD_LINKS = {
    "DownloadRecord": {"operationId": "download_record", "parameters": _RECORD_QUERY},
    "HeadRecord": {"operationId": "head_record", "parameters": _RECORD_QUERY},
    "DeleteRecord": {"operationId": "delete_record", "parameters": _RECORD_QUERY},
    "RecordPeaks": {"operationId": "record_peaks", "parameters": _RECORD_QUERY},
}
_RECORD_METHODS = "GET, HEAD, POST, DELETE"
RangeHeader = Annotated[
    str | None,
    Header(
        alias="Range",
        description="A single `bytes=a-b`, `bytes=a-` or `bytes=-n` range (several: whole file)",
    ),
]
IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match")]
IfRange = Annotated[str | None, Header(alias="If-Range")]
# Set by the gateway only (see downloads.DownloadRequest); not part of the public API.
GatewayRange = Annotated[str | None, Header(alias="X-Gateway-Range", include_in_schema=False)]
GatewayIfNoneMatch = Annotated[
    str | None, Header(alias="X-Gateway-If-None-Match", include_in_schema=False)
]
GatewayIfRange = Annotated[str | None, Header(alias="X-Gateway-If-Range", include_in_schema=False)]


@dataclass(frozen=True, slots=True)
class _DownloadParams:
    record_id: RecordId
    user_id: UserIdQuery
    range_header: RangeHeader = None
    if_none_match: IfNoneMatch = None
    if_range: IfRange = None
    gateway_range: GatewayRange = None
    gateway_if_none_match: GatewayIfNoneMatch = None
    gateway_if_range: GatewayIfRange = None


DownloadQuery = Annotated[_DownloadParams, Depends()]


def upload_body_limit(settings: AudioSettings) -> int:
    """The largest POST /record body: the file, plus the other fields and the framing."""
    return settings.max_upload_bytes + MULTIPART_ALLOWANCE_BYTES


def document_settings(settings: AudioSettings) -> SchemaEdit:
    """Writes AUDIO_MAX_UPLOAD_BYTES and AUDIO_DOWNLOAD_MAX_AGE_S into the operations."""

    def edit(schema: dict[str, Any]) -> None:
        operation(schema, "upload_record")["description"] += (
            f" Largest file: {settings.max_upload_bytes} bytes (AUDIO_MAX_UPLOAD_BYTES); "
            "larger uploads are refused with 413 as soon as they pass the limit."
        )
        operation(schema, "delete_record")["description"] += (
            " A browser that downloaded it may keep playing its copy for up to "
            f"{settings.download_max_age_s} s (AUDIO_DOWNLOAD_MAX_AGE_S)."
        )

    return edit


def _bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    return credentials.credentials if credentials is not None else None


@router.post(
    "/user",
    operation_id="create_user",
    status_code=201,
    summary="Create a user; the answer holds its id and its token (shown only once)",
    responses=problem_responses(409, 413, 422),
)
async def create_user(body: UserCreate, resources: Resources, response: Response) -> UserCreated:
    user, token = await resources.audio.create_user(body.name)
    # The only response that carries a token: no cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    return UserCreated(user_id=user.id, name=user.name, token=uuid.UUID(token))


def respond_async_preferred(prefer: list[str]) -> bool:
    """Whether the ``Prefer`` headers (RFC 7240) ask for ``respond-async``: a comma-separated
    list of preferences, each a token with optional ``=value`` and ``;`` parameters; the
    token is case-insensitive."""
    for header in prefer:
        for preference in header.split(","):
            token = preference.split(";", 1)[0].split("=", 1)[0].strip()
            if token.lower() == "respond-async":
                return True
    return False


PreferHeader = Annotated[
    list[str] | None,
    Header(
        alias="Prefer",
        description=(
            "`respond-async` (RFC 7240): answer 202 with a conversion job at once instead of "
            "converting within the request"
        ),
    ),
]


@router.post(
    "/record",
    operation_id="upload_record",
    status_code=201,
    response_model=RecordOut,
    summary="Upload a WAV file; it is converted to MP3 and stored",
    description=(
        "A `multipart/form-data` form with the fields `user_id`, `token` (or the "
        "`Authorization: Bearer <token>` header instead) and `file` (the WAV), and "
        "optionally `title` and `artist` for the MP3's ID3 tag. The file is judged by its "
        "bytes only; its name is kept as metadata (and is the default title). The MP3 "
        "starts with an ID3v2 tag (title, artist, encoder, the record id as TXXX "
        "`record_id`, the creation date) and a Xing/Info frame with the LAME extension, so "
        "decoders return exactly the input's length. With `Prefer: respond-async`, or when "
        "the audio lasts longer than AUDIO_SYNC_MAX_DURATION_S, the answer is 202 with a "
        "conversion job (`Location: /record/jobs/{id}`) as soon as the file is received; a "
        "worker converts it."
    ),
    form_limits={"max_files": 1, "max_fields": 16, "max_part_size": 4096},
    dependencies=[Depends(refuse_repeated_fields)],
    responses={
        201: {"links": _RECORD_LINKS},
        202: {"model": JobOut, "description": "Accepted: a worker converts it (poll the job)"},
        **problem_responses(400, 401, 413, 415, 422),
    },
    # The Bearer header is optional here: the token may come in the form instead.
    openapi_extra={"security": [{"HTTPBearer": []}, {}]},
)
async def upload_record(
    request: Request,
    form: Annotated[UploadForm, Form(media_type="multipart/form-data")],
    resources: Resources,
    bearer: Bearer,
    response: Response,
    prefer: PreferHeader = None,
) -> RecordOut | Response:
    base = links.base_url(request, resources.settings)  # before the work, which may be long
    upload = partial(
        resources.jobs.upload,
        user_id=form.user_id,
        token=auth.choose_token(form.token, _bearer_token(bearer)),
        file=form.file.file,
        filename=form.file.filename,
        title=form.title,
        artist=form.artist,
        respond_async=respond_async_preferred(prefer or []),
        base_url=base,
        callback_url=form.callback_url,
    )
    # A client that disconnects stops its conversion: nobody would read the answer.
    outcome = await unless_client_leaves(
        request.receive, lambda cancel: upload(cancel=cancel), what="its upload"
    )
    if isinstance(outcome, Accepted):
        return _job_response(outcome.job, base, status_code=202, applied=outcome.preference_applied)
    url = links.record_url(base, outcome.id, form.user_id)
    response.headers["Location"] = url
    return RecordOut.of(outcome, url, links.peaks_url(base, outcome.id, form.user_id))


def _job_out(job: ConversionJob, base: str) -> JobOut:
    record_url = (
        links.record_url(base, job.record_id, job.user_id) if job.record_id is not None else None
    )
    return JobOut.of(job, links.job_url(base, job.id), record_url)


def _job_response(
    job: ConversionJob, base: str, *, status_code: int, applied: bool = False
) -> Response:
    body = _job_out(job, base)
    headers = {"Location": body.url, "Cache-Control": "no-store"}
    if applied:
        headers["Preference-Applied"] = "respond-async"
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=headers)


@router.get(
    "/record/jobs/{job_id}",
    operation_id="get_job",
    summary="A conversion job's status (the owner's Bearer token required)",
    description=(
        "`status` is queued, converting (with `progress`), done (with `record_url`, the "
        "record's download link) or failed (with `problem`). Another user's job is a 404."
    ),
    responses=problem_responses(401, 404, 422),
)
async def get_job(
    request: Request,
    job_id: Annotated[uuid.UUID, Path(description="The job id from POST /record's 202")],
    resources: Resources,
    bearer: Bearer,
    response: Response,
) -> JobOut:
    job = await resources.jobs.get(job_id, _bearer_token(bearer))
    response.headers["Cache-Control"] = "no-store"
    return _job_out(job, links.base_url(request, resources.settings))


async def _record_response(
    resources: AudioResources, query: _DownloadParams, *, send_body: bool
) -> Response:
    """GET and HEAD answer alike; HEAD just leaves the body out."""
    settings = resources.settings
    request = DownloadRequest(
        send_body=send_body,
        range_header=query.range_header,
        if_none_match=query.if_none_match,
        if_range=query.if_range,
        gateway_range=query.gateway_range,
        gateway_if_none_match=query.gateway_if_none_match,
        gateway_if_range=query.gateway_if_range,
    )
    plan = partial(downloads.plan, request=request, max_age_s=settings.download_max_age_s)
    download = await resources.audio.open_download(query.record_id, query.user_id, plan)
    if download.url is not None and settings.s3_download == "redirect":
        headers = downloads.redirect_headers(download.record, settings.download_max_age_s)
        return downloads.redirect(await resources.audio.presigned_url(download.record, headers))
    return downloads.respond(download)


# GET and HEAD share their documentation but keep an operation (and an id) each.
_DOWNLOAD_ROUTE: dict[str, Any] = {"response_class": Mp3Response, "responses": _DOWNLOAD_RESPONSES}
_HEAD_SUMMARY = "The headers GET /record would send, without the body"


@router.get(
    "/record",
    operation_id="download_record",
    summary="Download a record's MP3 (anybody with the link may)",
    **_DOWNLOAD_ROUTE,
)
async def download_record(resources: Resources, query: DownloadQuery) -> Response:
    return await _record_response(resources, query, send_body=True)


@router.head("/record", operation_id="head_record", summary=_HEAD_SUMMARY, **_DOWNLOAD_ROUTE)
async def head_record(resources: Resources, query: DownloadQuery) -> Response:
    return await _record_response(resources, query, send_body=False)


_PEAKS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "audiowaveform's JSON format version 2 (what wavesurfer.js and peaks.js load): "
            "`data` holds, pixel after pixel, each channel's min then max"
        ),
        "content": {
            waveforms.JSON_MEDIA_TYPE: {
                "example": {
                    "version": 2,
                    "channels": 1,
                    "sample_rate": 44100,
                    "samples_per_pixel": 512,
                    "bits": 8,
                    "length": 2,
                    "data": [-12, 13, -90, 88],
                }
            }
        },
    },
    304: {"description": "Not modified: the If-None-Match ETag is current"},
    **problem_responses(404, 422),
}


@router.get(
    "/record/peaks",
    operation_id="record_peaks",
    summary="A record's waveform peaks, for drawing it (anybody with the link may)",
    description=(
        "Min/max per pixel and channel, computed during the conversion (at most 65,536 "
        "pixels, 256 samples a pixel or coarser for long records) and reduced here to at "
        "most `pixels` pixels by merging whole stored pixels. 404 and 422 exactly as the "
        "download; 404 too for a record converted before peaks were kept."
    ),
    response_class=Response,
    responses=_PEAKS_RESPONSES,
)
async def record_peaks(
    record_id: RecordId,
    user_id: UserIdQuery,
    resources: Resources,
    pixels: Annotated[
        int | None,
        Query(ge=1, le=MAX_PIXELS, description="At most this many pixels (default: all stored)"),
    ] = None,
    bits: Annotated[
        int,
        Query(ge=8, le=16, multiple_of=8, description="8 or 16 bits a value (audiowaveform's)"),
    ] = 8,
    if_none_match: IfNoneMatch = None,
) -> Response:
    record, peaks = await resources.audio.get_peaks(record_id, user_id)
    return await waveforms.respond(
        record,
        peaks,
        pixels=pixels,
        bits=bits,
        if_none_match=if_none_match,
        max_age_s=resources.settings.download_max_age_s,
    )


@router.delete(
    "/record",
    operation_id="delete_record",
    status_code=204,
    summary="Delete one of your records (Bearer token required)",
    description=(
        "The record and its MP3 are gone at once: the service's next GET answers 404. "
        "The gateway's download cache may still serve it for up to 60 s."
    ),
    responses=problem_responses(401, 404, 413, 422),
)
async def delete_record(
    record_id: RecordId, user_id: UserIdQuery, resources: Resources, bearer: Bearer
) -> Response:
    await resources.audio.delete_record(record_id, user_id, _bearer_token(bearer))
    return Response(status_code=204)


@router.get(
    "/user/{user_id}/records",
    operation_id="list_records",
    summary="List your records, newest first (Bearer token required)",
    responses=problem_responses(401, 413, 422),
)
async def list_records(
    request: Request,
    user_id: Annotated[int, Path(ge=1, le=MAX_USER_ID)],
    resources: Resources,
    bearer: Bearer,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_USER_ID)] = 0,
) -> RecordPage:
    base = links.base_url(request, resources.settings)
    records, total = await resources.audio.list_records(
        user_id, _bearer_token(bearer), limit=limit, offset=offset
    )
    return RecordPage(
        items=[
            RecordOut.of(
                r, links.record_url(base, r.id, user_id), links.peaks_url(base, r.id, user_id)
            )
            for r in records
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.api_route(
    "/record",
    methods=["PUT", "PATCH", "OPTIONS", "TRACE"],
    include_in_schema=False,
)
async def record_other_methods() -> Response:
    # /record has one route per method, and Starlette's 405 would list only the first
    # route's methods in Allow; this one lists them all.
    raise HTTPException(405, headers={"Allow": _RECORD_METHODS})
