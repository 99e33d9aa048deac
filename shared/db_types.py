"""Column types that behave the same on PostgreSQL and SQLite, for both services' models."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Dialect, Integer, TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware in and out on both dialects.

    SQLite has no timestamp type and hands values back naive; they were stored as UTC, so
    UTC is re-attached instead of letting naive datetimes leak into the API.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only auto-assigns ids to an INTEGER PRIMARY KEY; BIGINT would stay NULL there.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")
