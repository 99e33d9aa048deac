"""Quiz service settings, read from ``QUIZ_*`` environment variables.

Every field below is one environment variable: ``QUIZ_`` + the field name in upper case
(``max_questions_num`` -> ``QUIZ_MAX_QUESTIONS_NUM``).
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings, database_url_setting, port_setting

Provider = Literal["jservice", "opentdb"]

JSERVICE_DEFAULT_URL = "http://127.0.0.1:9000/api/random"
"""The jservice emulator that ``make run`` starts; any jservice-compatible server works."""

OPENTDB_DEFAULT_URL = "https://opentdb.com/api.php"


class QuizSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QUIZ_", extra="ignore", frozen=True)

    port: int = port_setting(8001)
    database_url: str = database_url_setting("sqlite+aiosqlite:///var/data/quiz.db")

    provider: Provider = Field(
        default="jservice",
        description="Where questions come from: a jservice-compatible API or Open Trivia DB.",
    )
    upstream_url: str = Field(
        default=JSERVICE_DEFAULT_URL,
        description=(
            "The provider's question endpoint: jservice's /api/random, or opentdb's api.php "
            f"(defaults to {OPENTDB_DEFAULT_URL} when the provider is opentdb)."
        ),
    )
    max_questions_num: int = Field(
        default=100, ge=0, description="Largest questions_num a POST /quiz accepts."
    )
    request_deadline_s: float = Field(
        default=10.0,
        gt=0,
        description="Total time one POST /quiz may spend fetching, retries included (504 after).",
    )
    max_fetch_rounds: int = Field(
        default=10,
        ge=1,
        description=(
            "Fetch rounds per POST /quiz before giving up with 503 (a round is one call, or "
            "several concurrent ones: see QUIZ_MAX_CALLS_PER_ROUND)."
        ),
    )
    max_calls_per_round: int = Field(
        default=5,
        ge=1,
        description=(
            "Most upstream calls one fetch round sends side by side when it over-fetches to "
            "replace repeats (real jservice allows 60 calls per minute per IP); a round never "
            "sends fewer calls than its missing count needs at the per-call cap."
        ),
    )
    upstream_connect_timeout_s: float = Field(
        default=3.0, gt=0, description="Connecting to the upstream, and waiting for a pooled one."
    )
    upstream_read_timeout_s: float = Field(
        default=5.0, gt=0, description="Waiting for each chunk of an upstream response."
    )
    upstream_max_connections: int = Field(
        default=20, ge=1, description="Connections the one shared upstream client may open."
    )
    upstream_max_keepalive: int = Field(
        default=10, ge=0, description="Idle connections kept open for reuse."
    )
    upstream_max_attempts: int = Field(
        default=4,
        ge=1,
        description="Tries per upstream call (first one included) for transient faults.",
    )
    upstream_backoff_base_s: float = Field(
        default=0.1, ge=0, description="First retry waits up to this long (full jitter)."
    )
    upstream_backoff_max_s: float = Field(
        default=2.0, ge=0, description="Cap of the exponential backoff between retries."
    )
    opentdb_min_interval_s: float = Field(
        default=5.0,
        ge=0,
        description="Gap between two opentdb calls: it allows one call per 5 s per IP.",
    )

    @field_validator("upstream_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL as exc:
            raise ValueError(str(exc)) from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("must be an absolute http(s) URL")
        return value

    @model_validator(mode="before")
    @classmethod
    def _provider_default_url(cls, data: Any) -> Any:
        # One URL setting serves both providers; only its default depends on the provider.
        is_dict = isinstance(data, dict)
        if is_dict and data.get("provider") == "opentdb" and data.get("upstream_url") is None:
            return {**data, "upstream_url": OPENTDB_DEFAULT_URL}
        return data
