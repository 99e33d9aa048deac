"""A key given twice in a request body is a 422 naming it, in JSON bodies and in forms.

JSON parsers keep the last of repeated keys, so ``{"questions_num": 1, "questions_num": 100}``
would mean 100 to us and perhaps 1 to whatever looked at the body before us; a form keeps
the last of repeated fields, so ``user_id=B&user_id=A`` must not act for A. Neither is a
choice to make for the client: it is refused.

Both are dependencies, run after FastAPI has read (and cached) the body:
``refuse_repeated_keys`` is app-wide (``create_service_app``) and costs a second parse of a
JSON body the body limit keeps small; ``refuse_repeated_fields`` goes on each route that
takes a form (it must not go on others: it would parse their body as a form).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.requests import Request

_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _may_be_json(request: Request) -> bool:
    # No Content-Type at all: FastAPI may still read the body as JSON, so it is checked too.
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type in ("", "application/json") or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def repeated_json_keys(body: bytes) -> list[str]:
    """Keys given twice in one object anywhere in ``body``; [] for invalid JSON (that is
    FastAPI's to refuse)."""
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen and key not in repeated:
                repeated.append(key)
            seen.add(key)
        return dict(items)

    try:
        json.loads(body, object_pairs_hook=pairs)
    except ValueError:
        return []
    return repeated


def _refuse(keys: list[str], kind: str, message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"type": kind, "loc": ("body", key), "msg": message} for key in keys]
    )


async def refuse_repeated_keys(request: Request) -> None:
    if request.method in _WITH_BODY and _may_be_json(request):
        repeated = repeated_json_keys(await request.body())
        if repeated:
            raise _refuse(repeated, "duplicate_key", "Key given more than once")


async def refuse_repeated_fields(request: Request) -> None:
    form = await request.form()  # the route parsed it already; Starlette caches it
    repeated = sorted(key for key in form if len(form.getlist(key)) > 1)
    if repeated:
        raise _refuse(repeated, "duplicate_field", "Field given more than once")
