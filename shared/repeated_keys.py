"""A field given twice in a form is a 422 naming it.

A form keeps the last of repeated fields, so ``user_id=B&user_id=A`` must not act for A: it
is not a choice we make for the client, it is refused. ``refuse_repeated_fields`` is a
dependency of each route that takes a form; it runs after FastAPI has parsed (and cached)
the form, and must not go on a route that does not take one (it would parse its body).
"""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from starlette.requests import Request


def _refuse(keys: list[str], kind: str, message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"type": kind, "loc": ("body", key), "msg": message} for key in keys]
    )


async def refuse_repeated_fields(request: Request) -> None:
    form = await request.form()  # the route parsed it already; Starlette caches it
    repeated = sorted(key for key in form if len(form.getlist(key)) > 1)
    if repeated:
        raise _refuse(repeated, "duplicate_field", "Field given more than once")
