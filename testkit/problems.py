"""The one check of a problem+json answer, for every test of a service or of the gateway."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from shared.errors import PROBLEM_TYPE_BASE, problem_type

PROBLEM_JSON = "application/problem+json"


def assert_problem(
    response: httpx.Response,
    status: int | Iterable[int],
    *,
    slug: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """The problem body of ``response`` after checking it against the error table.

    Checked: the status (one of ``status``), the media type, ``status`` in the body, the
    type URI (``slug`` when given) and the one title of the status, a non-empty detail, the
    request id (the response header's), no traceback, and every ``fields`` item.
    """
    allowed = {status} if isinstance(status, int) else set(status)
    context = f"{response.status_code} {response.text[:500]}"
    assert response.status_code in allowed, f"expected {sorted(allowed)}, got {context}"
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    assert media_type == PROBLEM_JSON, f"not a problem response ({media_type}): {context}"
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code, context
    assert body["type"].startswith(PROBLEM_TYPE_BASE), context
    if slug is not None:
        assert body["type"] == PROBLEM_TYPE_BASE + slug, context
    assert body["title"] == problem_type(response.status_code).title, context
    assert isinstance(body["detail"], str), context
    assert body["detail"].strip(), context
    if "x-request-id" in response.headers:
        assert body["request_id"] == response.headers["x-request-id"], context
    assert "Traceback" not in response.text, context
    for key, value in fields.items():
        assert body.get(key) == value, f"{key}: {body.get(key)!r} != {value!r} in {context}"
    return body
