"""What can go wrong talking to a question provider.

``UpstreamError``                  every provider failure; ``retryable`` says whether another
                                   attempt may help
├── ``UpstreamUnreachable``        connect/read errors, a dropped connection (retryable)
├── ``UpstreamTimeout``            the per-attempt HTTP timeout fired (retryable)
├── ``UpstreamServerError``        5xx (retryable)
├── ``UpstreamRateLimited``        429 or opentdb's code 5 (retryable after ``retry_after``)
├── ``UpstreamMalformed``          not JSON, wrong shape, or no usable item (retryable: a cut
│                                  body or a maintenance page is usually gone on the next try)
├── ``UpstreamSessionReset``       opentdb's session token was renewed (retryable)
├── ``UpstreamRejected``           another 4xx or opentdb's "invalid parameter" (not retryable)
└── ``UpstreamExhausted``          the provider says it has nothing more to give (not retryable)

They know nothing of our HTTP statuses; the ingestion service maps them. ``outcome`` names
each kind in the metrics (``quiz_upstream_calls_total{outcome=...}``), "ok" being a success.
"""

from __future__ import annotations


class UpstreamError(Exception):
    retryable: bool = True
    outcome: str = "error"

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class UpstreamUnreachable(UpstreamError):
    outcome = "unreachable"


class UpstreamTimeout(UpstreamError):
    outcome = "timeout"


class UpstreamServerError(UpstreamError):
    outcome = "5xx"


class UpstreamRateLimited(UpstreamError):
    outcome = "429"


class UpstreamMalformed(UpstreamError):
    outcome = "malformed"


class UpstreamSessionReset(UpstreamError):
    outcome = "session_reset"


class UpstreamRejected(UpstreamError):
    retryable = False
    outcome = "rejected"


class UpstreamExhausted(UpstreamError):
    retryable = False
    outcome = "exhausted"
