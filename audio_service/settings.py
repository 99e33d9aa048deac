"""Audio service settings, read from ``AUDIO_*`` environment variables.

Every field below is one environment variable: ``AUDIO_`` + the field name in upper case
(``max_upload_bytes`` -> ``AUDIO_MAX_UPLOAD_BYTES``).
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from audio_service.conversion import MP3_BITRATES_KBPS, Mp3Mode
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
    mp3_mode: Mp3Mode = Field(
        default="cbr",
        description=(
            "cbr (constant bitrate, AUDIO_MP3_BITRATE_KBPS) or vbr (variable bitrate at "
            "AUDIO_MP3_VBR_QUALITY; the Xing frame's seek table keeps it seekable and its "
            "length exact; the record reports the real mean bitrate)."
        ),
    )
    mp3_vbr_quality: int = Field(
        default=2,
        ge=0,
        le=9,
        description="LAME's VBR quality for AUDIO_MP3_MODE=vbr: 0 (-V0, largest) .. 9 (smallest).",
    )
    normalize_lufs: float | None = Field(
        default=None,
        gt=-70,
        lt=0,
        description=(
            "Loudness normalisation target in LUFS (EBU R128), e.g. -16 for podcasts: one gain "
            "for the whole file, lowered so the true peak stays at or below -1 dBTP (the record "
            "then says it stayed quieter). Costs a second decode. Unset: off."
        ),
    )
    conversion_workers: int = Field(
        default_factory=_default_workers,
        ge=1,
        description="Conversions running at once (worker threads); defaults to the CPU count.",
    )
    storage_backend: Literal["postgres", "s3"] = Field(
        default="postgres",
        description=(
            "Where new MP3s are stored: postgres (record_chunks rows, next to the metadata) or "
            "s3 (an object per record in AUDIO_S3_BUCKET; the metadata stays in the database). "
            "Existing records stay where they are until `python -m audio_service storage "
            "migrate --to …` moves them."
        ),
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
            "Size of the pieces an MP3 is stored in on the postgres backend (rows of "
            "record_chunks). Uploads insert one piece at a time."
        ),
    )
    download_window_bytes: int = Field(
        default=2 * MIB,
        ge=4096,
        le=64 * MIB,
        description=(
            "Most MP3 bytes a download reads from PostgreSQL in one transaction (one query). "
            "A download this size or smaller is read with its metadata in a single transaction "
            "and then sent from memory, so a slow client never holds a database connection; a "
            "larger one is read one window at a time. Bounds the memory per download."
        ),
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description=(
            "S3 API endpoint, e.g. http://seaweedfs:8333 or https://s3.eu-west-1.amazonaws.com "
            "(path-style addressing). Unset: AWS's endpoint for AUDIO_S3_REGION."
        ),
    )
    s3_bucket: str = Field(
        default="audio-records",
        min_length=3,
        max_length=63,
        description="Bucket of the MP3 objects (created at start when it does not exist).",
    )
    s3_region: str = Field(default="us-east-1", description="Region the requests are signed for.")
    s3_access_key_id: SecretStr | None = Field(
        default=None,
        description=(
            "Access key of the S3 API. Unset (with the secret): botocore's usual chain "
            "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance roles, ...)."
        ),
    )
    s3_secret_access_key: SecretStr | None = Field(
        default=None, description="Secret key of the S3 API (see AUDIO_S3_ACCESS_KEY_ID)."
    )
    s3_prefix: str = Field(
        default="records/",
        max_length=200,
        description=(
            "Key prefix of the record objects; the sweeper only ever lists and deletes objects "
            "under it, so a bucket may be shared."
        ),
    )
    s3_part_bytes: int = Field(
        default=8 * MIB,
        ge=5 * MIB,
        le=512 * MIB,
        description=(
            "Part size of the multipart uploads (S3's minimum is 5 MiB): one part at a time is "
            "read from the staged MP3 and sent, so this bounds an upload's memory."
        ),
    )
    s3_download: Literal["gateway", "redirect"] = Field(
        default="gateway",
        description=(
            "How S3 downloads reach the client once the service has authorised them: gateway "
            "(an X-Accel-Redirect; nginx streams the bytes from the object store, same origin, "
            "the service's headers) or redirect (a 302 to a presigned URL: the client needs to "
            "reach the object store itself, and the page's CSP must allow its origin)."
        ),
    )
    s3_presign_expires_s: int = Field(
        default=300,
        ge=10,
        le=7 * 24 * 3600,
        description="Lifetime of the presigned URLs the gateway (or a redirected client) uses.",
    )
    s3_connect_timeout_s: float = Field(
        default=3.0, gt=0, description="Connecting to the object store (503 after it)."
    )
    s3_read_timeout_s: float = Field(
        default=30.0, gt=0, description="Waiting for each answer of the object store (503 after)."
    )
    s3_max_connections: int = Field(
        default=50, ge=1, description="Connections the one S3 client keeps to the object store."
    )
    storage_sweep_interval_s: float = Field(
        default=600.0,
        ge=0,
        description=(
            "How often each instance sweeps what failed uploads, deletes and migrations left "
            "behind (0: only at start and by `python -m audio_service storage sweep`)."
        ),
    )
    storage_sweep_grace_s: float = Field(
        default=3600.0,
        ge=0,
        description=(
            "Age after which a pending upload, an unreferenced object or an unfinished "
            "multipart upload counts as abandoned; longer than any upload can take."
        ),
    )
    sync_max_duration_s: float | None = Field(
        default=600.0,
        gt=0,
        description=(
            "Uploads whose audio lasts longer than this are converted by a worker: POST "
            "/record answers 202 with the job at once, as with `Prefer: respond-async`. "
            "Unset: only that header makes a job."
        ),
    )
    job_max_attempts: int = Field(
        default=3,
        ge=1,
        le=20,
        description=(
            "Conversions of one job a worker starts before the job fails: a job whose worker "
            "died or hit a transient fault (database, object store) is retried until then."
        ),
    )
    job_retry_wait_s: float = Field(
        default=2.0,
        ge=0,
        description="Wait before a job's first retry after a transient fault, doubled each time.",
    )
    worker_heartbeat_s: float = Field(
        default=10.0,
        gt=0,
        description="How often a worker (python -m audio_service worker) says it is alive.",
    )
    worker_stalled_after_s: float = Field(
        default=30.0,
        gt=0,
        description=(
            "A worker silent this long counts as dead: another worker retries the job it was "
            "converting. Keep it a few AUDIO_WORKER_HEARTBEAT_S."
        ),
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description=(
            "Key the job callbacks (POST /record's callback_url) are signed with, Standard "
            "Webhooks style: whsec_ and base64 of 24-64 random bytes. Unset: a callback_url "
            "is refused (422)."
        ),
    )
    webhook_max_attempts: int = Field(
        default=8,
        ge=1,
        le=30,
        description=(
            "Deliveries of one callback tried until one is answered 2xx, waiting 2, 4, 8, ... s "
            "between them (AUDIO_JOB_RETRY_WAIT_S doubled); all carry the same webhook-id."
        ),
    )
    webhook_timeout_s: float = Field(
        default=10.0, gt=0, description="Waiting for a callback's answer (a retry after it)."
    )
    webhook_allow_private_hosts: bool = Field(
        default=False,
        description=(
            "Accept callback URLs on loopback, private and link-local addresses and localhost "
            "(refused by default: a client could make the service call into its own network)."
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

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        raw = value.get_secret_value().removeprefix("whsec_")
        try:
            key = base64.b64decode(raw + "==", validate=False)
        except binascii.Error as exc:
            raise ValueError("must be whsec_ followed by base64") from exc
        if len(key) < 16:
            raise ValueError("must hold at least 16 bytes (whsec_ + base64 of 24-64 bytes)")
        return value

    # Not named like ServiceSettings' own validator, which it would replace: the admin's
    # settings would then refuse compose's "" (make compose-test caught that).
    @field_validator(
        "s3_access_key_id",
        "s3_secret_access_key",
        "webhook_secret",
        "normalize_lufs",
        mode="before",
    )
    @classmethod
    def _empty_audio_setting_is_unset(cls, value: object) -> object:
        # Compose passes an unset variable as "": that means "not configured" here.
        return None if value == "" else value

    @model_validator(mode="after")
    def _check_s3_credentials(self) -> AudioSettings:
        if (self.s3_access_key_id is None) != (self.s3_secret_access_key is None):
            raise ValueError(
                "set both AUDIO_S3_ACCESS_KEY_ID and AUDIO_S3_SECRET_ACCESS_KEY, or neither"
            )
        return self

    @field_validator("s3_endpoint_url")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ValueError("must be an http(s) URL without a path, e.g. http://seaweedfs:8333")
        return f"{parts.scheme}://{parts.netloc}"

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
