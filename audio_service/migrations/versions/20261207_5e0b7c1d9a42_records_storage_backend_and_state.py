"""records: storage backend, object key and visibility state (object storage, issue 14)

Revision ID: 5e0b7c1d9a42
Revises: 7060fda97f26
Create Date: 2026-12-07 18:30:00

Every existing record keeps its bytes in record_chunks: ``storage`` defaults to "postgres" and
``state`` to "ready". The partial index is the storage sweeper's work list (records that are
pending or being deleted); it stays tiny because almost every record is ready. Both dialects.
(``record_chunks.data`` is already ``STORAGE EXTERNAL`` on PostgreSQL, from the first revision.)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e0b7c1d9a42"
down_revision: str | Sequence[str] | None = "7060fda97f26"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNFINISHED = sa.text("state <> 'ready'")


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(
            sa.Column("storage", sa.String(16), server_default="postgres", nullable=False)
        )
        batch.add_column(sa.Column("storage_key", sa.String(512), nullable=True))
        batch.add_column(sa.Column("state", sa.String(16), server_default="ready", nullable=False))
    op.create_index(
        "ix_records_unfinished",
        "records",
        ["state", "created_at"],
        postgresql_where=_UNFINISHED,
        sqlite_where=_UNFINISHED,
    )


def downgrade() -> None:
    op.drop_index("ix_records_unfinished", table_name="records")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("state")
        batch.drop_column("storage_key")
        batch.drop_column("storage")
