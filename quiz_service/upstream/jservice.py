"""Provider for any jservice-compatible ``/api/random``.

Validation is per item and strict: every key of jservice's documented item must be present
with its documented type (nullable ones may be null). An item that deviates is dropped and
counted as ``invalid``; the rest of the response is still used, because one bad row says
nothing about its neighbours. A response that is not a JSON array, or whose items are all
invalid, is ``UpstreamMalformed`` (retried, then 502).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, StrictInt, StrictStr, ValidationError

from quiz_service.upstream.base import Batch, FetchContext, UpstreamQuestion
from quiz_service.upstream.errors import UpstreamExhausted, UpstreamMalformed
from quiz_service.upstream.retry import RetryPolicy, with_retries
from quiz_service.upstream.text import clean_text, is_blank
from quiz_service.upstream.transport import get_json

JSERVICE_MAX_COUNT = 100
"""jservice silently lowers larger counts to 100."""
JSERVICE_PAGE = 100
"""Clues per ``/api/clues`` page."""

log = logging.getLogger("quiz_service.upstream")


def _timestamp_string(value: Any) -> Any:
    # Lax pydantic would read 476712000 as a Unix time; jservice only ever sends ISO strings.
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 string")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_timestamp_string)]


class _Category(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: StrictInt
    title: StrictStr
    created_at: Timestamp
    updated_at: Timestamp
    clues_count: StrictInt | None


class _Clue(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: StrictInt
    answer: StrictStr
    question: StrictStr
    value: StrictInt | None
    airdate: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp
    category_id: StrictInt
    game_id: StrictInt | None
    invalid_count: StrictInt | None
    category: _Category


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_clues(payload: Any, count: int) -> Batch:
    """The usable questions of one ``/api/random`` body (see the module docstring)."""
    if not isinstance(payload, list):
        raise UpstreamMalformed(f"the upstream sent a JSON {type(payload).__name__}, not an array")
    if not payload:
        raise UpstreamExhausted("the upstream returned no questions")
    batch = Batch()
    first_error: str | None = None
    # More rows than asked for would make a round store more than it needs.
    for item in payload[:count]:
        try:
            clue = _Clue.model_validate(item)
        except ValidationError as exc:
            batch.invalid += 1
            first_error = first_error or _describe(exc)
            continue
        question, answer = clean_text(clue.question), clean_text(clue.answer)
        if is_blank(question) or is_blank(answer):
            batch.blank += 1
            continue
        batch.questions.append(
            UpstreamQuestion(
                upstream_id=str(clue.id),
                question=question,
                answer=answer,
                raw_question=clue.question,
                raw_answer=clue.answer,
                created_at=_aware(clue.created_at),
                category=clean_text(clue.category.title) or None,
                value=clue.value,
                # The date as the show aired it; the time part varies and means nothing.
                airdate=clue.airdate.date() if clue.airdate is not None else None,
                raw=item,
            )
        )
    if batch.invalid:
        log.warning(
            "invalid upstream items dropped",
            extra={"fields": {"invalid": batch.invalid, "first_error": first_error}},
        )
        if not batch.questions and not batch.blank:
            raise UpstreamMalformed(f"no valid item in the upstream response ({first_error})")
    return batch


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"]) or "item"
    return f"{location}: {error['msg']}"


def clues_url(random_url: str) -> str | None:
    """jService's ``/api/clues`` beside its ``/api/random``; None when the URL does not end
    in ``/random`` (no way to know where a filtering endpoint would be)."""
    url = httpx.URL(random_url)
    if not url.path.endswith("/random"):
        return None
    return str(url.copy_with(path=url.path.removesuffix("/random") + "/clues", query=None))


class JServiceProvider:
    """``/api/random`` unfiltered. With a category or value filter, ``/api/clues`` instead:
    jService's only filtering endpoint, pages of 100 in id order, so a filtered ingestion
    pages through it (each call of the ingestion takes the next offset) until it has stored
    enough new questions or a page comes back empty (503, what was stored stays)."""

    source = "jservice"
    max_per_call = JSERVICE_MAX_COUNT
    parallel_calls = True

    def __init__(self, client: httpx.AsyncClient, url: str, policy: RetryPolicy) -> None:
        self._client = client
        self._url = url
        self._clues_url = clues_url(url)
        self._policy = policy

    @property
    def supported_filters(self) -> frozenset[str]:
        return frozenset() if self._clues_url is None else frozenset({"category", "value"})

    async def fetch(self, count: int, context: FetchContext) -> Batch:
        asked = context.filter.asked()
        if asked and self._clues_url is not None:
            return await self._fetch_page(self._clues_url, asked, context)
        count = min(count, self.max_per_call)

        async def attempt() -> Batch:
            payload = await get_json(self._client, self._url, {"count": count}, context)
            return parse_clues(payload, count)

        return await with_retries(attempt, self._policy, context)

    async def _fetch_page(
        self, url: str, asked: dict[str, int | str], context: FetchContext
    ) -> Batch:
        # Taken before the first await: calls of one round get distinct pages, and a retry
        # asks for the same page again.
        offset, context.next_offset = context.next_offset, context.next_offset + JSERVICE_PAGE
        params = {**asked, "offset": offset}

        async def attempt() -> Batch:
            payload = await get_json(self._client, url, params, context)
            return parse_clues(payload, JSERVICE_PAGE)

        return await with_retries(attempt, self._policy, context)
