"""Request and response bodies of the audio service."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import UploadFile
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from audio_service.filenames import download_filename
from audio_service.models import (
    CALLBACK_URL_MAX_LENGTH,
    INPUT_FIELDS,
    NAME_MAX_LENGTH,
    ConversionJob,
    Record,
)
from audio_service.wav_probe import format_tag_label

# Ids come from a BIGINT sequence, but are capped where every JSON client (doubles included)
# still reads them exactly; a larger value is refused as invalid and never reaches the driver.
MAX_USER_ID = 2**53 - 1


def _digits_only(value: object) -> object:
    # Form values are text, and pydantic would read "1.0", " 1", "+1" or "1_0" as 1:
    # an id is written in ASCII digits and nothing else.
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("must be a whole number written in digits only")
    return value


DigitsInt = Annotated[int, BeforeValidator(_digits_only)]
"""An integer as a form sends it: text of ASCII digits only."""

# Anywhere in a name: no control characters (C0, C1, DEL), lone surrogates or line
# separators. Checked before trimming, so a tab or newline at the ends is refused too.
_FORBIDDEN_IN_NAME = frozenset({"Cc", "Cs", "Zl", "Zp"})
# Trimmed: what Python calls whitespace, and the BOM, which JSON Schema's \s also matches.
_TRIMMED = "".join(chr(c) for c in range(0x3001) if chr(c).isspace()) + "\ufeff"
# The same rule for clients and schema-driven tests (ECMA-262 syntax): at least one
# non-space character and none of the forbidden ones. Documentation only: the check
# itself is ``_clean_name``.
_NAME_PATTERN = (
    r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*"
    r"[^\s\u0000-\u001F\u007F-\u009F\u2028\u2029]"
    r"[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
)


def _clean_text(value: str) -> str:
    if any(unicodedata.category(char) in _FORBIDDEN_IN_NAME for char in value):
        raise ValueError("must not contain control characters or line breaks")
    return unicodedata.normalize("NFC", value.strip(_TRIMMED))


def _clean_name(value: str) -> str:
    name = _clean_text(value)
    if not name:
        raise ValueError("must not be empty or only whitespace")
    return name


def _clean_tag(value: str | None) -> str | None:
    # An empty field (a form's blank input) is the same as none: the default applies.
    return (_clean_text(value) or None) if value is not None else None


UserName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=NAME_MAX_LENGTH,
        description=(
            "1-100 characters, no control characters (tabs and line breaks included); "
            "surrounding whitespace is trimmed. Unique, compared exactly after Unicode NFC "
            "normalisation."
        ),
        examples=["Ada Lovelace"],
        json_schema_extra={"pattern": _NAME_PATTERN},
    ),
    AfterValidator(_clean_name),
]


TAG_MAX_LENGTH = 200
TagText = Annotated[
    str | None,
    Field(
        default=None,
        max_length=TAG_MAX_LENGTH,
        json_schema_extra={"pattern": r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"},
    ),
    AfterValidator(_clean_tag),
]
"""An ID3 text field from the form: at most 200 characters, no control characters or line
breaks; surrounding whitespace is trimmed and a blank one counts as not given."""


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: UserName


class UploadForm(BaseModel):
    """The ``multipart/form-data`` fields of POST /record."""

    model_config = ConfigDict(extra="forbid")

    user_id: DigitsInt = Field(ge=1, le=MAX_USER_ID, description="The uploading user's id")
    token: str | None = Field(
        default=None,
        description="The user's token; may instead come as `Authorization: Bearer <token>`",
    )
    file: UploadFile = Field(
        description="The WAV file. Judged by its bytes only; its name is kept as metadata."
    )
    callback_url: str | None = Field(
        default=None,
        max_length=CALLBACK_URL_MAX_LENGTH,
        description=(
            "An http(s) URL the service POSTs the finished job to (signed, Standard Webhooks "
            "style; retried until answered 2xx). Makes the upload a job, as "
            "`Prefer: respond-async` does."
        ),
    )
    title: TagText = Field(
        default=None,
        description=(
            "The MP3's ID3 title (TIT2): at most 200 characters, no control characters. "
            "Default: the uploaded file's name without its extension."
        ),
    )
    artist: TagText = Field(
        default=None,
        description="The MP3's ID3 artist (TPE1): at most 200 characters, no control characters.",
    )


class UserCreated(BaseModel):
    user_id: int = Field(description="The user's id, assigned by the service (an integer).")
    name: str
    token: uuid.UUID = Field(
        description="The user's access token (UUID4). Shown only this once: store it."
    )


class InputAudio(BaseModel):
    container: str = Field(description="WAV, WAVEX (WAVE_FORMAT_EXTENSIBLE) or RF64")
    codec: str = Field(description="e.g. PCM_16, FLOAT, ULAW, IMA_ADPCM, GSM610")
    format_tag: int = Field(description="The fmt chunk's wFormatTag")
    format: str = Field(description="The format tag in words, e.g. 0x0001 (PCM)")
    subformat_tag: int | None = Field(description="For EXTENSIBLE files, the sub-format's tag")
    sample_rate: int
    channels: int
    bit_depth: int | None = Field(description="Bits per sample; null for compressed codecs")
    frames: int
    size_bytes: int = Field(description="Size of the uploaded WAV file")


class OutputAudio(BaseModel):
    format: Literal["mp3"] = "mp3"
    sample_rate: int = Field(description="The input's rate, or the nearest one MP3 can carry")
    channels: int = Field(description="1 or 2 (more input channels are mixed to stereo)")
    mode: Literal["cbr", "vbr"] = Field(description="Constant or variable bitrate")
    vbr_quality: int | None = Field(description="LAME's -V (0-9) for VBR; null for CBR")
    bitrate_kbps: int = Field(description="CBR: the bitrate of every frame; VBR: the mean, rounded")
    mean_bitrate_kbps: float | None = Field(
        description="The audio frames' bytes x 8 over their duration (null: not measured)"
    )
    size_bytes: int = Field(description="The whole file: ID3v2 tag, Info frame and audio")
    sha256: str = Field(description="SHA-256 of the MP3 bytes, also its ETag")


class LoudnessOut(BaseModel):
    """EBU R128 of the MP3's audio (after any normalisation); null: nothing to measure."""

    integrated_lufs: float | None = Field(description="Integrated loudness (LUFS)")
    range_lu: float | None = Field(description="Loudness range (LU); null below 3 s")
    true_peak_dbtp: float | None = Field(description="True peak (dBTP, 4x oversampled)")


class NormalizationOut(BaseModel):
    target_lufs: float = Field(description="AUDIO_NORMALIZE_LUFS when it was converted")
    gain_db: float = Field(description="The one gain applied to the whole file")
    limited_by_true_peak: bool = Field(
        description="The -1 dBTP true-peak ceiling kept it quieter than the target"
    )


class RecordOut(BaseModel):
    record_id: uuid.UUID
    user_id: int
    url: str = Field(description="Download link; it works for anybody who has it")
    filename: str = Field(description="The name the download is saved under")
    original_filename: str | None = Field(description="The uploaded file's name, sanitised")
    duration_s: float
    created_at: datetime
    input: InputAudio
    output: OutputAudio
    loudness: LoudnessOut | None = Field(description="null: converted before it was measured")
    normalization: NormalizationOut | None = Field(description="null: normalisation was off")
    peaks_url: str = Field(
        description=(
            "Its waveform peaks, audiowaveform JSON version 2 (add &pixels=N to reduce them); "
            "404 for records converted before peaks were kept"
        )
    )

    @classmethod
    def of(cls, record: Record, url: str, peaks_url: str) -> RecordOut:
        return cls(
            record_id=record.id,
            user_id=record.user_id,
            url=url,
            filename=download_filename(record.original_filename),
            original_filename=record.original_filename,
            duration_s=record.duration_s,
            created_at=record.created_at,
            input=InputAudio.model_validate(
                {
                    **{name: getattr(record, f"input_{name}") for name in INPUT_FIELDS},
                    "format": format_tag_label(record.input_format_tag),
                    "size_bytes": record.input_size,
                }
            ),
            output=OutputAudio(
                sample_rate=record.sample_rate,
                channels=record.channels,
                mode="vbr" if record.mp3_mode == "vbr" else "cbr",
                vbr_quality=record.vbr_quality,
                bitrate_kbps=record.bitrate_kbps,
                mean_bitrate_kbps=record.mean_bitrate_kbps,
                size_bytes=record.mp3_size,
                sha256=record.sha256,
            ),
            loudness=_loudness(record),
            normalization=_normalization(record),
            peaks_url=peaks_url,
        )


def _loudness(record: Record) -> LoudnessOut | None:
    # Every conversion since loudness is measured stores the mean bitrate too; silence has
    # null loudness figures but was measured all the same.
    if record.mean_bitrate_kbps is None:
        return None
    return LoudnessOut(
        integrated_lufs=record.integrated_lufs,
        range_lu=record.loudness_range_lu,
        true_peak_dbtp=record.true_peak_dbtp,
    )


def _normalization(record: Record) -> NormalizationOut | None:
    if record.normalization_target_lufs is None:
        return None
    return NormalizationOut(
        target_lufs=record.normalization_target_lufs,
        gain_db=record.normalization_gain_db or 0.0,
        limited_by_true_peak=bool(record.normalization_limited),
    )


class RecordPage(BaseModel):
    items: list[RecordOut] = Field(description="Newest first")
    total: int = Field(description="How many records the user has in all")
    limit: int
    offset: int


class JobOut(BaseModel):
    """A conversion job (POST /record with `Prefer: respond-async`, or a long upload)."""

    job_id: uuid.UUID
    user_id: int
    status: Literal["queued", "converting", "done", "failed"] = Field(
        description="queued, converting, then done or failed (both final)"
    )
    progress: float = Field(ge=0, le=1, description="Share of the audio converted, 0..1")
    url: str = Field(description="This job's own link (GET it with the owner's Bearer token)")
    record_id: uuid.UUID | None = Field(description="The record it became, once done")
    record_url: str | None = Field(description="The record's download link, once done")
    problem: dict[str, Any] | None = Field(
        description="Why it failed (RFC 9457 problem members), once failed"
    )
    original_filename: str | None
    input_size_bytes: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, job: ConversionJob, url: str, record_url: str | None) -> JobOut:
        return cls(
            job_id=job.id,
            user_id=job.user_id,
            status=job.status,
            progress=job.progress,
            url=url,
            record_id=job.record_id,
            record_url=record_url,
            problem=job.problem,
            original_filename=job.original_filename,
            input_size_bytes=job.input_size,
            created_at=job.created_at,
            updated_at=job.updated_at,
        )
