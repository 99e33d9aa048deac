"""Routes of the audio service: HTTP in and out only; the work is in ``service``."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    Form,
    Header,
    Path,
    Query,
    Request,
    Response,
)
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException
from starlette.types import Message

from audio_service import auth, links, service
from audio_service.downloads import MP3_MEDIA_TYPE, Mp3Response, build_response
from audio_service.runtime import Runtime
from audio_service.schemas import (
    MAX_USER_ID,
    RecordOut,
    RecordPage,
    UploadForm,
    UserCreate,
    UserCreated,
)
from audio_service.settings import AudioSettings
from shared.db import DbSession, get_database
from shared.problems import problem_responses

# Room in a POST /record body for the other form fields and the multipart framing.
MULTIPART_ALLOWANCE_BYTES = 64 * 1024
# Every other route takes at most a small JSON body.
SMALL_BODY_MAX_BYTES = 16 * 1024

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _body_too_large(limit: int) -> HTTPException:
    # An HTTPException, not an AppError: raised while FastAPI reads the body, where FastAPI
    # turns anything else into "400 error parsing the body".
    return HTTPException(413, f"The request body is larger than the {limit} bytes allowed.")


def body_limited(limit: int) -> type[APIRoute]:
    """Routes that refuse a body over ``limit`` bytes with a 413 problem, while it arrives.

    A declared Content-Length over the limit is refused before any byte is read; a chunked
    body is counted as it comes and refused as soon as it passes the limit, so the
    multipart parser never spools more than ``limit`` bytes. (FastAPI's own
    ``max_body_size`` answers in text/plain from inside the route, past our problem
    handlers.)
    """

    class BodyLimitedRoute(APIRoute):
        def get_route_handler(self) -> Handler:
            handler = super().get_route_handler()

            async def limited(request: Request) -> Response:
                declared = request.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise _body_too_large(limit)
                receive = request.receive
                received = 0

                async def counting_receive() -> Message:
                    nonlocal received
                    message = await receive()
                    if message["type"] == "http.request":
                        received += len(message.get("body", b""))
                        if received > limit:
                            raise _body_too_large(limit)
                    return message

                response: Response = await handler(Request(request.scope, counting_receive))
                return response

            return limited

    return BodyLimitedRoute


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
    304: {"description": "Not modified: the If-None-Match ETag is current"},
    **problem_responses(404, 416, 422),
}
_RECORD_QUERY = {"id": "$response.body#/record_id", "user": "$response.body#/user_id"}
_RECORD_LINKS = {
    "DownloadRecord": {"operationId": "download_record", "parameters": _RECORD_QUERY},
    "HeadRecord": {"operationId": "head_record", "parameters": _RECORD_QUERY},
    "DeleteRecord": {"operationId": "delete_record", "parameters": _RECORD_QUERY},
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


@dataclass(frozen=True, slots=True)
class _DownloadParams:
    record_id: RecordId
    user_id: UserIdQuery
    range_header: RangeHeader = None
    if_none_match: IfNoneMatch = None
    if_range: IfRange = None


DownloadQuery = Annotated[_DownloadParams, Depends()]


async def _record_response(
    request: Request,
    session: AsyncSession,
    query: _DownloadParams,
    settings: AudioSettings,
    *,
    send_body: bool,
) -> Response:
    """GET and HEAD answer alike; HEAD just leaves the body out."""
    record = await service.get_record(session, query.record_id, query.user_id)
    return build_response(
        database=get_database(request),
        record=record,
        max_age_s=settings.download_max_age_s,
        send_body=send_body,
        range_header=query.range_header,
        if_none_match=query.if_none_match,
        if_range=query.if_range,
    )


def _bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    return credentials.credentials if credentials is not None else None


async def _refuse_repeated_fields(request: Request) -> None:
    # The form model keeps the last of repeated fields: "user_id=B&user_id=A" must not act for A.
    submitted = await request.form()  # already parsed for the route; Starlette caches it
    repeated = sorted(key for key in submitted if len(submitted.getlist(key)) > 1)
    if repeated:
        raise RequestValidationError(
            [
                {
                    "type": "duplicate_field",
                    "loc": ("body", key),
                    "msg": "Field given more than once",
                }
                for key in repeated
            ]
        )


def build_router(settings: AudioSettings) -> APIRouter:
    """Built per app, because the upload's body limit comes from the settings."""
    router = APIRouter(tags=["audio"], route_class=body_limited(SMALL_BODY_MAX_BYTES))
    uploads = APIRouter(
        tags=["audio"],
        route_class=body_limited(settings.max_upload_bytes + MULTIPART_ALLOWANCE_BYTES),
    )

    @router.post(
        "/user",
        operation_id="create_user",
        status_code=201,
        summary="Create a user; the answer holds its id and its token (shown only once)",
        responses=problem_responses(409, 413, 422),
    )
    async def create_user(
        body: UserCreate, session: DbSession, runtime: Runtime, response: Response
    ) -> UserCreated:
        user, token = await service.create_user(session, runtime.hasher, body.name)
        # The only response that carries a token: no cache may keep it.
        response.headers["Cache-Control"] = "no-store"
        return UserCreated(user_id=user.id, name=user.name, token=uuid.UUID(token))

    @uploads.post(
        "/record",
        operation_id="upload_record",
        status_code=201,
        summary="Upload a WAV file; it is converted to MP3 and stored",
        description=(
            "A `multipart/form-data` form with the fields `user_id`, `token` (or the "
            "`Authorization: Bearer <token>` header instead) and `file` (the WAV). The file "
            "is judged by its bytes only; its name is kept as metadata. Largest file: "
            f"{settings.max_upload_bytes} bytes (AUDIO_MAX_UPLOAD_BYTES); longer uploads "
            "are refused with 413 as soon as they pass the limit."
        ),
        form_limits={"max_files": 1, "max_fields": 16, "max_part_size": 4096},
        responses={201: {"links": _RECORD_LINKS}, **problem_responses(400, 401, 413, 415, 422)},
        # The Bearer header is optional here: the token may come in the form instead.
        openapi_extra={"security": [{"HTTPBearer": []}, {}]},
    )
    async def upload_record(
        request: Request,
        form: Annotated[UploadForm, Form(media_type="multipart/form-data")],
        session: DbSession,
        runtime: Runtime,
        bearer: Bearer,
        response: Response,
    ) -> RecordOut:
        await _refuse_repeated_fields(request)
        chosen = auth.choose_token(form.token, _bearer_token(bearer))
        await service.authenticate_briefly(
            get_database(request), runtime.hasher, form.user_id, chosen
        )
        record = await service.create_record(
            session, runtime, user_id=form.user_id, upload=form.file
        )
        url = links.record_url(links.base_url(request, settings), record.id, form.user_id)
        response.headers["Location"] = url
        return RecordOut.of(record, url)

    @router.get(
        "/record",
        operation_id="download_record",
        summary="Download a record's MP3 (anybody with the link may)",
        response_class=Mp3Response,
        responses=_DOWNLOAD_RESPONSES,
    )
    async def download_record(
        request: Request, session: DbSession, query: DownloadQuery
    ) -> Response:
        return await _record_response(request, session, query, settings, send_body=True)

    @router.head(
        "/record",
        operation_id="head_record",
        summary="The headers GET /record would send, without the body",
        response_class=Mp3Response,
        responses=_DOWNLOAD_RESPONSES,
    )
    async def head_record(request: Request, session: DbSession, query: DownloadQuery) -> Response:
        return await _record_response(request, session, query, settings, send_body=False)

    @router.delete(
        "/record",
        operation_id="delete_record",
        status_code=204,
        summary="Delete one of your records (Bearer token required)",
        description=(
            "The record and its MP3 are gone at once: the service's next GET answers 404. "
            "The gateway's download cache may still serve it for up to 60 s, and a browser "
            "that downloaded it may keep playing its copy for up to "
            f"{settings.download_max_age_s} s (AUDIO_DOWNLOAD_MAX_AGE_S)."
        ),
        responses=problem_responses(401, 404, 413, 422),
    )
    async def delete_record(
        record_id: RecordId,
        user_id: UserIdQuery,
        session: DbSession,
        runtime: Runtime,
        bearer: Bearer,
    ) -> Response:
        await auth.authenticate(session, runtime.hasher, user_id, _bearer_token(bearer))
        await service.delete_record(session, record_id, user_id)
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
        session: DbSession,
        runtime: Runtime,
        bearer: Bearer,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_USER_ID)] = 0,
    ) -> RecordPage:
        await auth.authenticate(session, runtime.hasher, user_id, _bearer_token(bearer))
        records, total = await service.list_records(session, user_id, limit=limit, offset=offset)
        base = links.base_url(request, settings)
        return RecordPage(
            items=[RecordOut.of(r, links.record_url(base, r.id, user_id)) for r in records],
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

    router.include_router(uploads)
    return router
