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

They know nothing of our HTTP statuses; the ingestion service maps them.
"""

from __future__ import annotations


class UpstreamError(Exception):
    retryable: bool = True

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class UpstreamUnreachable(UpstreamError):
    pass


class UpstreamTimeout(UpstreamError):
    pass


class UpstreamServerError(UpstreamError):
    pass


class UpstreamRateLimited(UpstreamError):
    pass


class UpstreamMalformed(UpstreamError):
    pass


class UpstreamSessionReset(UpstreamError):
    pass


class UpstreamRejected(UpstreamError):
    retryable = False


class UpstreamExhausted(UpstreamError):
    retryable = False
