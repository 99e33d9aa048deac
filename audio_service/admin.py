"""The audio service's admin (``/admin/audio/``): users and their records.

The admin reads two read-only mappings of its own, each a SELECT over the service's tables:

- ``UserSummary``: a user's id, name and creation time with the number and total size of
  their records. The token hash is not among its columns, so no page, search or export of
  the admin can show it;
- ``RecordRow``: a record's metadata and its owner's name.

Each record plays and downloads from its public link (``/record?id=…&user=…``, the same
the page uses), and "Delete" calls ``AudioService.delete_record_as_operator``: the owner's
delete without the token, so a record leaves the admin exactly as it leaves the API.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.orm import DeclarativeBase
from starlette.requests import Request
from starlette_admin import (
    BooleanField,
    ComputedField,
    DateTimeField,
    FloatField,
    IntegerField,
    StringField,
)
from starlette_admin.views import BaseView

from audio_service.models import Record, User
from audio_service.resources import AudioResources
from shared.admin.site import DATETIME_FORMAT, ReadOnlyView
from shared.errors import NotFound
from shared.resources import ServiceResources


class _ReadModel(DeclarativeBase):
    """Mappings for the admin only: a registry of their own, never seen by the migrations."""


_totals = (
    select(
        Record.user_id,
        func.count().label("record_count"),
        func.sum(Record.mp3_size).label("record_bytes"),
    )
    .group_by(Record.user_id)
    .subquery("record_totals")
)


class UserSummary(_ReadModel):
    __table__ = (
        select(
            User.id,
            User.name,
            User.created_at,
            func.coalesce(_totals.c.record_count, 0).label("record_count"),
            func.coalesce(_totals.c.record_bytes, 0).label("record_bytes"),
        )
        .outerjoin(_totals, _totals.c.user_id == User.id)
        .subquery("user_summaries")
    )


class RecordRow(_ReadModel):
    __table__ = (
        select(Record, User.name.label("user_name"))
        .join(User, User.id == Record.user_id)
        .subquery("record_rows")
    )


def record_link(request: Request, row: Any) -> str:
    """The record's public link, on the admin's own origin (the gateway's)."""
    return f"/record?{urlencode({'id': str(row.id), 'user': row.user_id})}"


@dataclass
class MediaField(ComputedField):
    """A player and a download link for the URL the getter gives."""

    list_template: str = "fields/list/media.html"
    detail_template: str = "fields/detail/media.html"
    exclude_from_export: bool | None = True


class UserView(ReadOnlyView):
    async def repr(self, obj: Any, request: Request) -> str:
        return str(obj.name)

    fields = (  # type: ignore[assignment]  # ModelView also takes column names
        "id",
        "name",
        DateTimeField("created_at", output_format=DATETIME_FORMAT),
        IntegerField("record_count", label="Records"),
        IntegerField("record_bytes", label="Size of records (bytes)"),
    )
    # Searchable fields are the filter builder's too; the search box looks in the text ones.
    searchable_fields = ("name", "created_at", "record_count", "record_bytes")
    sortable_fields = ("id", "name", "created_at", "record_count", "record_bytes")
    fields_default_sort = (("id", True),)


# A record's page shows these too; its line in the list does not.
_RECORD_DETAILS = (
    "id",
    "user_id",
    "mp3_mode",
    "vbr_quality",
    "bitrate_kbps",
    FloatField("mean_bitrate_kbps", label="Mean bitrate (kbps)"),
    FloatField("loudness_range_lu", label="Loudness range (LU)"),
    FloatField("true_peak_dbtp", label="True peak (dBTP)"),
    FloatField("normalization_target_lufs", label="Normalised towards (LUFS)"),
    FloatField("normalization_gain_db", label="Normalisation gain (dB)"),
    BooleanField("normalization_limited", label="Kept quieter by the -1 dBTP ceiling"),
    "sample_rate",
    "channels",
    "input_container",
    "input_codec",
    "input_sample_rate",
    "input_channels",
    "input_bit_depth",
    "input_size",
    "sha256",
)


class RecordView(ReadOnlyView):
    fields = (  # type: ignore[assignment]  # ModelView also takes column names
        StringField("user_name", label="User"),
        StringField("original_filename", label="File"),
        DateTimeField("created_at", output_format=DATETIME_FORMAT),
        FloatField("duration_s", label="Length (s)"),
        MediaField("listen", label="Play / download", getter=record_link),
        FloatField("integrated_lufs", label="Loudness (LUFS)"),
        IntegerField("mp3_size", label="MP3 bytes"),
        *_RECORD_DETAILS,
    )
    exclude_fields_from_list = (
        "mp3_size",
        *(field if isinstance(field, str) else field.name for field in _RECORD_DETAILS),
    )
    searchable_fields = ("original_filename", "user_name", "created_at", "duration_s", "mp3_size")
    sortable_fields = ("created_at", "user_id", "user_name", "duration_s", "mp3_size")
    fields_default_sort = (("created_at", True),)
    # A click on a row's player must play, not open the record's page.
    row_click_navigate = False

    def __init__(self, resources: Callable[[], ServiceResources]) -> None:
        super().__init__(RecordRow, icon="fa fa-music", menu_label="Records", key="record")
        self._resources = resources

    def can_delete(self, request: Request) -> bool:
        return True

    async def repr(self, obj: Any, request: Request) -> str:
        return f"{obj.original_filename or obj.id} of {obj.user_name}"

    async def delete(self, request: Request, pks: Sequence[Any]) -> int | None:
        resources = self._resources()
        assert isinstance(resources, AudioResources)
        deleted = 0
        for pk in pks:
            try:
                await resources.audio.delete_record_as_operator(uuid.UUID(str(pk)))
            except NotFound:
                continue  # deleted meanwhile (by its owner, or in another tab)
            deleted += 1
        return deleted


def admin_views(resources: Callable[[], ServiceResources]) -> list[BaseView]:
    return [
        UserView(UserSummary, icon="fa fa-user", menu_label="Users", key="user"),
        RecordView(resources),
    ]
