"""One GET against an upstream, its failures translated into ``UpstreamError``s."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from quiz_service.upstream.base import FetchContext
from quiz_service.upstream.errors import (
    UpstreamMalformed,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from quiz_service.upstream.retry import parse_retry_after


async def get_json(
    client: httpx.AsyncClient,
    url: str,
    params: Mapping[str, str | int],
    context: FetchContext,
) -> Any:
    """The decoded JSON body of a 200; any other outcome raises."""
    context.calls += 1
    try:
        response = await client.get(url, params=params)
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(
            f"the upstream did not answer in time ({type(exc).__name__})"
        ) from exc
    except httpx.TransportError as exc:
        raise UpstreamUnreachable(
            f"the upstream is unreachable ({type(exc).__name__}: {exc})"
        ) from exc
    status = response.status_code
    if status == httpx.codes.TOO_MANY_REQUESTS:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        raise UpstreamRateLimited("the upstream is rate limiting us (429)", retry_after=retry_after)
    if status >= 500:
        raise UpstreamServerError(f"the upstream failed with {status}")
    if status != httpx.codes.OK:
        raise UpstreamRejected(f"the upstream answered {status}")
    try:
        return json.loads(response.content)
    except ValueError as exc:
        content_type = response.headers.get("content-type", "?")
        raise UpstreamMalformed(f"the upstream sent no JSON (content-type {content_type})") from exc
