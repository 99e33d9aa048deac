"""Provider for the Open Trivia DB API (``https://opentdb.com/api.php``; data CC BY-SA 4.0).

What differs from jservice, and how it is mapped:

- No ids: ``upstream_id`` is the SHA-256 of the cleaned, case-folded question text, so the
  same question gets the same identity however often (and in whatever encoding) it comes.
- No creation date: ``created_at`` is when this service received the question, i.e. when it
  was first seen (a repeat is never stored again). ``value`` and ``airdate`` stay null.
- Text arrives percent-encoded (``encode=url3986``, so no HTML-entity guessing); the decoded
  text is the "raw" text, ``raw`` keeps the item exactly as received (still encoded).
- One call per 5 s per IP and at most 50 questions per call: calls of one process are
  serialised and spaced by ``min_interval_s``; the ingestion still plans its rounds as usual,
  but over-fetches only within the calls a round needs anyway (``parallel_calls`` is False).
- A session token (requested lazily) keeps repeats away; ``response_code`` 3 (token unknown)
  drops it and 4 (token has served everything) resets it, then the call is retried. A
  token that cannot be obtained is not fatal: calls go out without one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import httpx
from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError

from quiz_service.upstream.base import Batch, FetchContext, UpstreamQuestion
from quiz_service.upstream.errors import (
    UpstreamError,
    UpstreamExhausted,
    UpstreamMalformed,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamSessionReset,
)
from quiz_service.upstream.retry import RetryPolicy, with_retries
from quiz_service.upstream.text import clean_text, is_blank
from quiz_service.upstream.transport import get_json

OPENTDB_MAX_AMOUNT = 50

log = logging.getLogger("quiz_service.upstream")


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")

    response_code: StrictInt
    results: list[Any] = []


class _Result(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    type: StrictStr
    difficulty: StrictStr
    category: StrictStr
    question: StrictStr
    correct_answer: StrictStr
    incorrect_answers: list[StrictStr]


class _TokenReply(BaseModel):
    model_config = ConfigDict(extra="ignore")

    response_code: StrictInt
    token: StrictStr | None = None


def question_identity(question: str) -> str:
    """Stable across calls: whitespace and case differences do not make a new question."""
    return hashlib.sha256(" ".join(question.casefold().split()).encode()).hexdigest()


def parse_results(payload: Any, received_at: datetime) -> Batch:
    try:
        envelope = _Envelope.model_validate(payload)
    except ValidationError as exc:
        raise UpstreamMalformed("opentdb sent no object with response_code and results") from exc
    _raise_for_code(envelope.response_code)
    if not envelope.results:
        raise UpstreamExhausted("opentdb returned no questions")
    batch = Batch()
    for item in envelope.results:
        try:
            result = _Result.model_validate(item)
        except ValidationError:
            batch.invalid += 1
            continue
        raw_question, raw_answer = unquote(result.question), unquote(result.correct_answer)
        question, answer = clean_text(raw_question), clean_text(raw_answer)
        if is_blank(question) or is_blank(answer):
            batch.blank += 1
            continue
        batch.questions.append(
            UpstreamQuestion(
                upstream_id=question_identity(question),
                question=question,
                answer=answer,
                raw_question=raw_question,
                raw_answer=raw_answer,
                created_at=received_at,
                category=clean_text(unquote(result.category)) or None,
                value=None,
                airdate=None,
                raw=item,
            )
        )
    if batch.invalid and not batch.questions and not batch.blank:
        raise UpstreamMalformed("no valid item in the opentdb response")
    return batch


def _raise_for_code(code: int) -> None:
    match code:
        case 0:
            return
        case 1:
            raise UpstreamExhausted("opentdb has not enough questions for the query (code 1)")
        case 2:
            raise UpstreamRejected("opentdb rejected a parameter (code 2)")
        case 3 | 4:
            raise UpstreamSessionReset(f"opentdb session token unusable (code {code})")
        case 5:
            raise UpstreamRateLimited("opentdb rate limit (code 5)")
        case _:
            raise UpstreamMalformed(f"unknown opentdb response_code {code}")


class OpenTdbProvider:
    source = "opentdb"
    max_per_call = OPENTDB_MAX_AMOUNT
    parallel_calls = False
    supported_filters = frozenset({"category", "difficulty"})

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        policy: RetryPolicy,
        *,
        min_interval_s: float,
    ) -> None:
        self._client = client
        self._url = url
        self._token_url = str(httpx.URL(url).join("api_token.php"))
        self._policy = policy
        self._min_interval_s = min_interval_s
        # The rate limit is per IP, so one lock and clock for every request of the process.
        self._lock = asyncio.Lock()
        self._last_call: float | None = None
        self._token: str | None = None

    async def fetch(self, count: int, context: FetchContext) -> Batch:
        amount = min(count, self.max_per_call)

        async def attempt() -> Batch:
            async with self._lock:
                await self._wait_for_slot(context)
                params: dict[str, str | int] = {
                    "amount": amount,
                    "encode": "url3986",
                    **context.filter.asked(),
                }
                token = await self._ensure_token(context)
                if token is not None:
                    params["token"] = token
                try:
                    payload = await get_json(self._client, self._url, params, context)
                finally:
                    self._last_call = asyncio.get_running_loop().time()
                try:
                    return parse_results(payload, datetime.now(UTC))
                except UpstreamSessionReset:
                    await self._renew_token(context)
                    raise
                except UpstreamRateLimited as exc:
                    exc.retry_after = self._min_interval_s
                    raise

        return await with_retries(attempt, self._policy, context)

    async def _wait_for_slot(self, context: FetchContext) -> None:
        if self._last_call is None:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_call + self._min_interval_s - loop.time()
        if wait <= 0:
            return
        if loop.time() + wait >= context.deadline:
            raise UpstreamRateLimited("opentdb allows one call per interval", retry_after=wait)
        await asyncio.sleep(wait)

    async def _ensure_token(self, context: FetchContext) -> str | None:
        if self._token is None:
            self._token = await self._token_command({"command": "request"}, context)
        return self._token

    async def _renew_token(self, context: FetchContext) -> None:
        old, self._token = self._token, None
        if old is not None:
            # Reset keeps the token and only forgets what it served; "request" is the fallback.
            self._token = await self._token_command({"command": "reset", "token": old}, context)

    async def _token_command(
        self, params: dict[str, str | int], context: FetchContext
    ) -> str | None:
        try:
            payload = await get_json(self._client, self._token_url, params, context)
            reply = _TokenReply.model_validate(payload)
        except (UpstreamError, ValidationError) as exc:
            log.warning("opentdb token unavailable", extra={"fields": {"error": str(exc)}})
            return None
        if reply.response_code != 0 or not reply.token:
            log.warning("opentdb token refused", extra={"fields": {"code": reply.response_code}})
            return None
        return reply.token
