"""Emulator settings: read once from ``EMULATOR_*`` env vars, then patchable at run time."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
PoolSize = Annotated[int, Field(ge=1)]
Millis = Annotated[float, Field(ge=0.0)]
Seconds = Annotated[float, Field(ge=0.0)]
ErrorStatus = Literal[500, 502, 503, 504]

MalformedVariant = Literal["truncated_json", "html", "wrong_shape", "missing_fields", "wrong_types"]
QuirkKind = Literal[
    "null_value",
    "null_game_id",
    "invalid_flag",
    "empty_question",
    "equals_question",
    "html_answer",
    "escaped_quote",
    "ampersand",
    "mojibake",
    "media_clue",
]

ALL_MALFORMED_VARIANTS: tuple[MalformedVariant, ...] = get_args(MalformedVariant)
ALL_QUIRK_KINDS: tuple[QuirkKind, ...] = get_args(QuirkKind)

# An empty choice list would leave nothing to pick when the rate fires.
QuirkKinds = Annotated[tuple[QuirkKind, ...], Field(min_length=1)]
ErrorStatuses = Annotated[tuple[ErrorStatus, ...], Field(min_length=1)]
MalformedVariants = Annotated[tuple[MalformedVariant, ...], Field(min_length=1)]


class EmulatorSettings(BaseSettings):
    """Startup configuration; ``seed``, ``host`` and ``port`` are fixed for the process's life."""

    model_config = SettingsConfigDict(env_prefix="EMULATOR_", extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="Address the emulator listens on.")
    port: Annotated[int, Field(ge=0, le=65535)] = Field(
        default=9000, description="Port the emulator listens on."
    )
    seed: int = Field(default=0, description="Same seed, same question for the same id.")

    pool_size: PoolSize = Field(
        default=100_000, description="Distinct question ids served (small values force repeats)."
    )
    latency_ms: Millis = Field(default=0.0, description="Added latency per response.")
    quirk_rate: Rate = Field(
        default=0.02, description="Share of items with one of jservice's real data quirks."
    )
    quirk_kinds: QuirkKinds = Field(
        default=ALL_QUIRK_KINDS, description="Quirks to pick from (JSON list)."
    )

    error_rate: Rate = Field(default=0.0, description="Share of responses that are a 5xx.")
    error_statuses: ErrorStatuses = Field(
        default=(500, 502, 503), description="The 5xx statuses to pick from (JSON list)."
    )
    rate_limit_rate: Rate = Field(
        default=0.0, description='Share of responses that are 429 "Retry later" (Retry-After: 1).'
    )
    malformed_rate: Rate = Field(default=0.0, description="Share of responses with a bad body.")
    malformed_variants: MalformedVariants = Field(
        default=ALL_MALFORMED_VARIANTS, description="Kinds of bad body to pick from (JSON list)."
    )
    timeout_rate: Rate = Field(
        default=0.0, description="Share of responses held back by timeout_sleep_s."
    )
    timeout_sleep_s: Seconds = Field(default=30.0, description="How long such a response waits.")
    duplicate_rate: Rate = Field(
        default=0.0, description="Share of each response taken from ids served before."
    )


class ConfigUpdate(BaseModel):
    """Body of ``PUT /_control/config``: any subset of the run-time tunable settings.

    ``seed`` is left out on purpose: content per id must stay stable while a consumer runs,
    otherwise its dedup-by-id would see one id with two different questions.
    """

    model_config = ConfigDict(extra="forbid")

    pool_size: PoolSize | None = None
    latency_ms: Millis | None = None
    quirk_rate: Rate | None = None
    quirk_kinds: QuirkKinds | None = None
    error_rate: Rate | None = None
    error_statuses: ErrorStatuses | None = None
    rate_limit_rate: Rate | None = None
    malformed_rate: Rate | None = None
    malformed_variants: MalformedVariants | None = None
    timeout_rate: Rate | None = None
    timeout_sleep_s: Seconds | None = None
    duplicate_rate: Rate | None = None

    def apply_to(self, settings: EmulatorSettings) -> EmulatorSettings:
        # ``null`` means "leave as is": every tunable setting has a non-null value.
        return settings.model_copy(update=self.model_dump(exclude_unset=True, exclude_none=True))
