"""Builds the configured provider and the one HTTP client all upstream calls share."""

from __future__ import annotations

import httpx

from quiz_service.settings import QuizSettings
from quiz_service.upstream.base import QuestionProvider
from quiz_service.upstream.jservice import JServiceProvider
from quiz_service.upstream.opentdb import OpenTdbProvider
from quiz_service.upstream.retry import RetryPolicy

USER_AGENT = "quiz-service/0.1"


def create_http_client(settings: QuizSettings) -> httpx.AsyncClient:
    """Explicit timeouts and pool limits; redirects are not followed (a moved API is a
    misconfiguration to see, not to paper over)."""
    timeout = httpx.Timeout(
        connect=settings.upstream_connect_timeout_s,
        read=settings.upstream_read_timeout_s,
        write=settings.upstream_read_timeout_s,
        pool=settings.upstream_connect_timeout_s,
    )
    limits = httpx.Limits(
        max_connections=settings.upstream_max_connections,
        max_keepalive_connections=settings.upstream_max_keepalive,
    )
    return httpx.AsyncClient(
        timeout=timeout,
        limits=limits,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
    )


def create_provider(settings: QuizSettings, client: httpx.AsyncClient) -> QuestionProvider:
    policy = RetryPolicy(
        max_attempts=settings.upstream_max_attempts,
        backoff_base_s=settings.upstream_backoff_base_s,
        backoff_max_s=settings.upstream_backoff_max_s,
    )
    if settings.provider == "opentdb":
        return OpenTdbProvider(
            client, settings.upstream_url, policy, min_interval_s=settings.opentdb_min_interval_s
        )
    return JServiceProvider(client, settings.upstream_url, policy)
