"""``GET /api/random`` and ``GET /api/clues``, the jservice endpoints the quiz service uses."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from jservice_emulator import faults
from jservice_emulator.questions import (
    CATEGORIES_PER_ROUND,
    CLUES_PER_ROUND,
    Clue,
    ids_with_value,
    make_clue,
)
from jservice_emulator.responses import RailsJSONResponse, problem
from jservice_emulator.sampling import pick_ids
from jservice_emulator.settings import EmulatorSettings
from jservice_emulator.state import EmulatorState

MAX_COUNT = 100
CLUES_PAGE = 100
_DIGITS = re.compile(r"[0-9]+")

router = APIRouter()


def get_state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


StateDep = Annotated[EmulatorState, Depends(get_state)]


def parse_count(raw: str | None) -> int | None:
    """jservice's count rules; ``None`` for what made the original answer 500."""
    if raw is None:
        return 1
    digits = raw.strip()
    if not _DIGITS.fullmatch(digits):
        return None
    # Checked on the length first: int() refuses strings over 4300 digits.
    if len(digits.lstrip("0")) > len(str(MAX_COUNT)):
        return MAX_COUNT
    return min(int(digits), MAX_COUNT)


@router.get("/api/random", response_class=RailsJSONResponse)
async def random_clues(
    state: StateDep,
    count: Annotated[
        str | None,
        Query(description="How many clues, default 1; above 100 silently lowered to 100."),
    ] = None,
) -> Response:
    # One snapshot per request: a PUT during a timeout sleep must not half-apply.
    settings = state.settings
    response, served_ids = await _answer(state, settings, count)
    state.record(response.status_code, served_ids)
    return response


async def _fault(state: EmulatorState, settings: EmulatorSettings) -> Response | None:
    """Latency, and the faults that answer before the app looks at the request."""
    rng = state.rng
    if settings.latency_ms > 0:
        await asyncio.sleep(settings.latency_ms / 1000)
    # Rack::Attack sits in front of the app, so the throttle answers before anything else.
    if faults.fires(settings.rate_limit_rate, rng):
        return faults.rate_limited()
    if faults.fires(settings.timeout_rate, rng):
        await asyncio.sleep(settings.timeout_sleep_s)
    if faults.fires(settings.error_rate, rng):
        return faults.server_error(settings.error_statuses, rng)
    return None


async def _answer(
    state: EmulatorState, settings: EmulatorSettings, raw_count: str | None
) -> tuple[Response, list[int]]:
    rng = state.rng
    fault = await _fault(state, settings)
    if fault is not None:
        return fault, []

    count = parse_count(raw_count)
    if count is None:
        # The original crashed with a 500 here; a 400 says what is wrong.
        detail = f"count must be a non-negative integer, got {raw_count!r}"
        return problem(400, "Bad Request", detail), []

    ids = pick_ids(count, settings.pool_size, settings.duplicate_rate, state.served, rng)
    if faults.fires(settings.malformed_rate, rng):
        # A broken body needs at least one item to break, even for count=0.
        broken_ids = ids or [rng.randint(1, settings.pool_size)]
        return faults.malformed(settings.malformed_variants, _clues(broken_ids, settings), rng), []
    return RailsJSONResponse(_clues(ids, settings)), ids


def _clues(ids: list[int], settings: EmulatorSettings) -> list[Clue]:
    return [
        make_clue(
            clue_id,
            seed=settings.seed,
            quirk_rate=settings.quirk_rate,
            quirk_kinds=settings.quirk_kinds,
        )
        for clue_id in ids
    ]


def _parse_natural(raw: str | None) -> int | None:
    """A non-negative integer parameter; -1 for one that is not (jService answered 500)."""
    if raw is None or raw == "":
        return None
    digits = raw.strip()
    if not _DIGITS.fullmatch(digits) or len(digits) > 18:
        return -1
    return int(digits)


def _category_ids(category_id: int, pool_size: int) -> list[int]:
    """The five clue ids of a category, as ``questions.make_clue`` lays clues out."""
    round_no, cat_index = divmod(category_id - 1, CATEGORIES_PER_ROUND)
    first = round_no * CLUES_PER_ROUND + cat_index + 1
    ids = range(first, first + CLUES_PER_ROUND, CATEGORIES_PER_ROUND)
    return [clue_id for clue_id in ids if clue_id <= pool_size]


@router.get("/api/clues", response_class=RailsJSONResponse)
async def clues(
    state: StateDep,
    value: Annotated[str | None, Query(description="Only clues of this dollar value.")] = None,
    category: Annotated[str | None, Query(description="Only clues of this category id.")] = None,
    offset: Annotated[str | None, Query(description="Clues to skip; pages of 100.")] = None,
) -> Response:
    """jService's ``/api/clues`` (value, category, offset; not the air-date filters): the
    matching clues in id order, 100 a page. Every clue is a function of the seed and its id,
    so the same query always gives the same page."""
    settings = state.settings
    fault = await _fault(state, settings)
    if fault is not None:
        state.record(fault.status_code, [])
        return fault
    parsed = {"value": _parse_natural(value), "category": _parse_natural(category)}
    skip = _parse_natural(offset)
    for name, number in [*parsed.items(), ("offset", skip)]:
        if number == -1:
            detail = f"{name} must be a non-negative integer"
            state.record(400, [])
            return problem(400, "Bad Request", detail)
    wanted_value, wanted_category = parsed["value"], parsed["category"]
    candidates: Iterable[int]
    if wanted_category is not None:
        candidates = _category_ids(wanted_category, settings.pool_size)
    elif wanted_value is not None:
        candidates = ids_with_value(wanted_value, settings.pool_size)
    else:
        candidates = range(1, settings.pool_size + 1)
    found: list[Clue] = []
    to_skip = skip or 0
    for clue_id in candidates:
        clue = make_clue(
            clue_id,
            seed=settings.seed,
            quirk_rate=settings.quirk_rate,
            quirk_kinds=settings.quirk_kinds,
        )
        if wanted_value is not None and clue["value"] != wanted_value:
            continue
        if to_skip:
            to_skip -= 1
            continue
        found.append(clue)
        if len(found) == CLUES_PAGE:
            break
    state.record(200, [clue["id"] for clue in found])
    return RailsJSONResponse(found)
