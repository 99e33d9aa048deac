"""records: MP3 mode, loudness, normalisation; record_peaks (exact MP3s, issue 10)

Revision ID: 9c4e2a7b1f30
Revises: 5e0b7c1d9a42
Create Date: 2026-12-07 23:30:00

Existing records were CBR (``mp3_mode`` defaults to "cbr") and were never measured: their
loudness and normalisation columns stay null and they have no peaks row. Both dialects.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c4e2a7b1f30"
down_revision: str | Sequence[str] | None = "5e0b7c1d9a42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MEASURES = (
    "mean_bitrate_kbps",
    "integrated_lufs",
    "loudness_range_lu",
    "true_peak_dbtp",
    "normalization_target_lufs",
    "normalization_gain_db",
)


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("mp3_mode", sa.String(3), server_default="cbr", nullable=False))
        batch.add_column(sa.Column("vbr_quality", sa.SmallInteger(), nullable=True))
        for name in _MEASURES:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))
        batch.add_column(sa.Column("normalization_limited", sa.Boolean(), nullable=True))
    op.create_table(
        "record_peaks",
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["records.id"],
            name=op.f("fk_record_peaks_record_id_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_record_peaks")),
    )


def downgrade() -> None:
    op.drop_table("record_peaks")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("normalization_limited")
        for name in reversed(_MEASURES):
            batch.drop_column(name)
        batch.drop_column("vbr_quality")
        batch.drop_column("mp3_mode")
