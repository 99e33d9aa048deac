"""Audio service settings, read from ``AUDIO_*`` environment variables.

Every field below is one environment variable: ``AUDIO_`` + the field name in upper case
(``max_upload_bytes`` -> ``AUDIO_MAX_UPLOAD_BYTES``).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from audio_service.conversion import MP3_BITRATES_KBPS
from shared.settings import ServiceSettings, database_url_setting, port_setting

MIB = 1024 * 1024

LOCAL_TOKEN_SECRET = "local-development-only-token-secret"  # noqa: S105 - a documented default
"""The default ``AUDIO_TOKEN_SECRET``: fine on a laptop, never for a deployment."""

# The CBR bitrates LAME accepts (MPEG-1 and MPEG-2 Layer III together).


def _default_workers() -> int:
    return os.cpu_count() or 1


class AudioSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUDIO_", extra="ignore", frozen=True)

    port: int = port_setting(8002)
    database_url: str = database_url_setting("sqlite+aiosqlite:///var/data/audio.db")

    token_secret: SecretStr = Field(
        default=SecretStr(LOCAL_TOKEN_SECRET),
        min_length=16,
        description=(
            "HMAC key for the stored user tokens. The default is for local use only: set a "
            "long random value in any deployment. Changing it invalidates every token."
        ),
    )
    max_upload_bytes: int = Field(
        default=256 * MIB,
        ge=1,
        description=(
            "Largest WAV file accepted by POST /record (413 above). The request body may be "
            "up to 64 KiB larger, for the other form fields and the multipart framing."
        ),
    )
    max_duration_s: float | None = Field(
        default=None,
        gt=0,
        description="Longest audio accepted, in seconds (422 above); unset: no limit.",
    )
    public_base_url: str | None = Field(
        default=None,
        description=(
            "Scheme, host, port (and optional path prefix) of the record links, e.g. "
            "https://audio.example.com. Unset: the address the client used, as forwarded by "
            "the gateway (X-Forwarded-Proto/-Host) or else the Host header."
        ),
    )
    mp3_bitrate_kbps: int = Field(
        default=128,
        description="CBR bitrate of the MP3s (LAME lowers it where the output rate needs).",
    )
    mp3_quality: int = Field(
        default=3, ge=0, le=9, description="LAME quality: 0 best and slowest .. 9 fastest."
    )
    conversion_workers: int = Field(
        default_factory=_default_workers,
        ge=1,
        description="Conversions running at once (worker threads); defaults to the CPU count.",
    )
    max_queued_conversions: int = Field(
        default=16,
        ge=0,
        description=(
            "Uploads that may wait for a conversion slot (AUDIO_CONVERSION_WORKERS) at once; "
            "one more is answered 503 with Retry-After at once instead of joining the queue."
        ),
    )
    max_uploads_per_user: int = Field(
        default=4,
        ge=1,
        description=(
            "Uploads of one user in progress at once in one service instance (waiting, "
            "converting or storing); one more is answered 429 with Retry-After."
        ),
    )
    user_quota_bytes: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Stored MP3 bytes allowed per user; an upload that would pass it is 403 "
            "quota-exceeded (checked before the conversion, enforced when storing). "
            "Unset: no quota."
        ),
    )
    user_max_records: int | None = Field(
        default=None,
        ge=1,
        description="Records allowed per user (403 quota-exceeded above); unset: no limit.",
    )
    storage_chunk_bytes: int = Field(
        default=512 * 1024,
        ge=4096,
        le=8 * MIB,
        description=(
            "Size of the pieces an MP3 is stored in (rows of record_chunks). Uploads insert "
            "and downloads read one piece at a time, so this bounds the memory per transfer."
        ),
    )
    download_max_age_s: int = Field(
        default=3600,
        ge=0,
        description=(
            "Cache-Control max-age of downloads. Records never change, but a deleted record "
            "may still play from a browser cache for up to this long."
        ),
    )
    tmp_dir: str | None = Field(
        default=None,
        description="Where uploads and MP3s are staged during a conversion (system default).",
    )

    @field_validator("mp3_bitrate_kbps")
    @classmethod
    def _check_bitrate(cls, value: int) -> int:
        # An int checked here, not a Literal: environment values arrive as strings, and a
        # Literal of ints would refuse "128".
        if value not in MP3_BITRATES_KBPS:
            raise ValueError(f"must be an MP3 bitrate: one of {sorted(MP3_BITRATES_KBPS)}")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL, e.g. https://audio.example.com")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
