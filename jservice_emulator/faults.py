"""Fault injection: the failures a jservice consumer has to survive, each at its own rate."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from random import Random
from typing import Any

from starlette.responses import JSONResponse, PlainTextResponse, Response

from jservice_emulator.questions import Clue
from jservice_emulator.responses import RAILS_JSON, RailsJSONResponse, rails_json
from jservice_emulator.settings import ErrorStatus, MalformedVariant

_PROXY_PAGE = (
    "<html><head><title>{status} {reason}</title></head><body>"
    "<center><h1>{status} {reason}</h1></center><hr><center>nginx</center></body></html>\n"
)
_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_APP_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>We're sorry, but something went wrong</title></head>"
    "<body><h1>We're sorry, but something went wrong.</h1></body></html>\n"
)


def fires(rate: float, rng: Random) -> bool:
    # A zero rate must not draw: turning a fault off keeps the id sequence of a seed unchanged.
    return rate > 0.0 and rng.random() < rate


def rate_limited() -> Response:
    # Rack::Attack's throttled response, verbatim.
    return PlainTextResponse("Retry later\n", status_code=429, headers={"Retry-After": "1"})


def server_error(statuses: Sequence[ErrorStatus], rng: Random) -> Response:
    status = rng.choice(statuses)
    if status == 500:
        # The app itself failed: Rails answers an API route with a small JSON body.
        return JSONResponse({"status": 500, "error": _REASONS[500]}, status_code=500)
    # Anything else comes from the proxy in front, which knows nothing of JSON.
    page = _PROXY_PAGE.format(status=status, reason=_REASONS[status])
    return Response(page, status_code=status, media_type="text/html")


def malformed(variants: Sequence[MalformedVariant], items: list[Clue], rng: Random) -> Response:
    variant = rng.choice(variants)
    return _MALFORMED[variant](items, rng)


def _truncated_json(items: list[Clue], rng: Random) -> Response:
    body = rails_json(items)
    return Response(body[: rng.randint(1, len(body) - 1)], media_type=RAILS_JSON)


def _html(items: list[Clue], rng: Random) -> Response:
    # A 200 with an HTML page, as from a maintenance splash or a captive portal.
    return Response(_APP_ERROR_PAGE, media_type="text/html")


def _wrong_shape(items: list[Clue], rng: Random) -> Response:
    body: Any = {"clues": items} if rng.random() < 0.5 else items[0]
    return RailsJSONResponse(body)


def _missing_fields(items: list[Clue], rng: Random) -> Response:
    broken: list[dict[str, Any]] = []
    for item in items:
        row: dict[str, Any] = dict(item)
        if rng.random() < 0.25:
            category = dict(item["category"])
            del category[rng.choice(list(category))]
            row["category"] = category
        else:
            del row[rng.choice(list(row))]
        broken.append(row)
    return RailsJSONResponse(broken)


def _wrong_types(items: list[Clue], rng: Random) -> Response:
    breakers: tuple[tuple[str, Callable[[Any], Any]], ...] = (
        ("id", str),
        ("value", lambda value: f"${value}"),
        ("question", lambda _: None),
        ("answer", lambda _: 42),
        ("airdate", lambda _: 476712000),
        ("category", lambda category: category["title"]),
        ("category_id", lambda _: [1]),
    )
    broken: list[dict[str, Any]] = []
    for item in items:
        row: dict[str, Any] = dict(item)
        key, breaker = rng.choice(breakers)
        row[key] = breaker(row[key])
        broken.append(row)
    return RailsJSONResponse(broken)


_MALFORMED: dict[MalformedVariant, Callable[[list[Clue], Random], Response]] = {
    "truncated_json": _truncated_json,
    "html": _html,
    "wrong_shape": _wrong_shape,
    "missing_fields": _missing_fields,
    "wrong_types": _wrong_types,
}
