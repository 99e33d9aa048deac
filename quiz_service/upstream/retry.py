"""Bounded retries with exponential backoff and full jitter, inside the ingestion deadline."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from quiz_service.upstream.base import FetchContext
from quiz_service.upstream.errors import UpstreamError

T = TypeVar("T")

log = logging.getLogger("quiz_service.upstream")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    backoff_base_s: float
    backoff_max_s: float

    def backoff(self, failures: int) -> float:
        # Full jitter: concurrent requests that failed together do not retry together.
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** (failures - 1))
        return random.uniform(0, ceiling)


async def with_retries(
    attempt: Callable[[], Awaitable[T]], policy: RetryPolicy, context: FetchContext
) -> T:
    """Runs ``attempt`` until it succeeds, fails for good, or the next wait would miss the
    deadline; then the last ``UpstreamError`` propagates unchanged."""
    loop = asyncio.get_running_loop()
    failures = 0
    while True:
        try:
            result = await attempt()
        except UpstreamError as exc:
            context.outcomes[exc.outcome] += 1
            failures += 1
            if not exc.retryable or failures >= policy.max_attempts:
                raise
            wait = exc.retry_after if exc.retry_after is not None else policy.backoff(failures)
            if loop.time() + wait >= context.deadline:
                raise
            log.info(
                "upstream retry",
                extra={
                    "fields": {
                        "error": type(exc).__name__,
                        "reason": exc.reason,
                        "attempt": failures,
                        "wait_s": round(wait, 3),
                    }
                },
            )
            await asyncio.sleep(wait)
            context.retries += 1
        else:
            context.outcomes["ok"] += 1
            return result


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())
