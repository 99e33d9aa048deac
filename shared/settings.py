"""Settings every service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.admin.password import is_password_hash

ADMIN_SECRET_KEY_MIN_LENGTH = 32


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
    db_dead_connection_timeout_s: float = Field(
        default=5.0,
        ge=1,
        le=32767,  # the kernel's bound on the keepalive idle time
        description=(
            "A database connection whose server stopped answering at the TCP level (a "
            "database container replaced, a network cut) is dropped after this."
        ),
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
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description=(
            "Most seconds a request head may take, from the connection's start or the next "
            "request's first byte, before 408 and the connection is closed."
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

    # --- the admin (/admin/<service>/): off unless a password hash is set ---
    admin_password_hash: SecretStr | None = Field(
        default=None,
        description=(
            "Argon2id hash of the admin password (`python -m shared.admin.password` makes "
            "one). Unset: the service has no admin."
        ),
    )
    admin_secret_key: SecretStr | None = Field(
        default=None,
        description=(
            f"Signs the admin's session and CSRF cookies ({ADMIN_SECRET_KEY_MIN_LENGTH}+ "
            "characters, e.g. `openssl rand -hex 32`); needed with the password hash, the same "
            "on every instance of the service. Changing it signs every admin out."
        ),
    )
    admin_username: str = Field(
        default="admin", min_length=1, max_length=64, description="The admin's login name."
    )
    admin_session_max_age_s: int = Field(
        default=8 * 3600,
        ge=60,
        description="How long an admin login lasts (the signed session cookie's lifetime).",
    )
    admin_login_attempts_per_client: int = Field(
        default=5,
        ge=1,
        description=(
            "Login attempts one client address may make per minute (429 above); the address "
            "is the one the gateway saw."
        ),
    )
    admin_login_attempts_total: int = Field(
        default=30,
        ge=1,
        description="Login attempts all clients together may make per minute, per instance.",
    )

    @field_validator("admin_password_hash", "admin_secret_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # compose passes a variable that .env leaves empty as "": that means "not set".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("admin_password_hash")
    @classmethod
    def _check_password_hash(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not is_password_hash(value.get_secret_value()):
            raise ValueError(
                "must be an Argon2id hash such as `python -m shared.admin.password` prints "
                "($argon2id$v=19$m=...)"
            )
        return value

    @model_validator(mode="after")
    def _admin_needs_a_secret_key(self) -> ServiceSettings:
        if self.admin_password_hash is None:
            return self
        key = self.admin_secret_key.get_secret_value() if self.admin_secret_key else ""
        if len(key) < ADMIN_SECRET_KEY_MIN_LENGTH:
            raise ValueError(
                f"the admin needs a secret key of {ADMIN_SECRET_KEY_MIN_LENGTH}+ characters "
                "(<PREFIX>_ADMIN_SECRET_KEY) next to its password hash"
            )
        return self

    @property
    def admin_enabled(self) -> bool:
        return self.admin_password_hash is not None
