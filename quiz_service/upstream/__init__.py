"""Question providers: one module per upstream API, all returning ``UpstreamQuestion``s."""

from quiz_service.upstream.base import (
    Batch,
    FetchContext,
    IngestionFilter,
    QuestionProvider,
    UpstreamQuestion,
)
from quiz_service.upstream.errors import (
    UpstreamError,
    UpstreamExhausted,
    UpstreamMalformed,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamSessionReset,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from quiz_service.upstream.factory import create_http_client, create_provider

__all__ = [
    "Batch",
    "FetchContext",
    "IngestionFilter",
    "QuestionProvider",
    "UpstreamError",
    "UpstreamExhausted",
    "UpstreamMalformed",
    "UpstreamQuestion",
    "UpstreamRateLimited",
    "UpstreamRejected",
    "UpstreamServerError",
    "UpstreamSessionReset",
    "UpstreamTimeout",
    "UpstreamUnreachable",
    "create_http_client",
    "create_provider",
]
