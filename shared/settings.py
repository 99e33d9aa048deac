"""Settings every service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def port_setting(default: int) -> Any:
    """A service's ``port`` field, with the service's own default."""
    return Field(default=default, ge=1, le=65535, description="Port the service listens on.")


def database_url_setting(default: str) -> Any:
    """A service's ``database_url`` field, with the service's own embedded default."""
    return Field(
        default=default,
        description="postgresql://… or sqlite:///… (relative SQLite paths: from the working dir).",
    )


class ServiceSettings(BaseSettings):
    """Read from the environment only (no .env magic), so ``make run`` and compose agree."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="Address the service listens on.")
    port: int = port_setting(8000)
    database_url: str = Field(
        description="postgresql://… or sqlite:///… (the async driver is picked automatically)."
    )
    db_pool_size: int = Field(default=10, ge=1, description="Pooled PostgreSQL connections.")
    db_max_overflow: int = Field(
        default=10, ge=0, description="Extra connections allowed above the pool under load."
    )
    db_pool_timeout_s: float = Field(
        default=5.0, gt=0, description="Wait for a pooled connection before answering 503."
    )
    db_connect_timeout_s: float = Field(
        default=5.0, gt=0, description="Wait for a new database connection before answering 503."
    )
    db_statement_timeout_s: float = Field(
        default=30.0, gt=0, description="Longest a single SQL statement may run."
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: Literal["json", "text"] = Field(
        default="json", description="json: one JSON object per line; text: for reading by eye."
    )
    graceful_shutdown_s: float = Field(
        default=30.0, gt=0, description="On SIGTERM, how long in-flight requests may finish."
    )
    metrics: Literal["on", "off"] = Field(
        default="on",
        description=(
            "on: GET /metrics in the Prometheus text format, and the HTTP request metrics; "
            "off: neither (to measure what they cost)."
        ),
    )
    body_min_rate_bytes_s: int = Field(
        default=8192,
        ge=0,
        description=(
            "Slowest average request body accepted once the grace period is over: at t s "
            "after the request head, at least this x (t - grace) bytes must have arrived, "
            "else 408 and the connection is closed. 0: no minimum."
        ),
    )
    body_grace_s: float = Field(
        default=10.0,
        ge=0,
        description="Seconds a request body may take before the minimum body rate applies.",
    )
