"""create users, records and record_chunks

Revision ID: 7060fda97f26
Revises:
Create Date: 2026-11-29 01:07:21.792681

Hand-reviewed for both dialects: ``BigInteger`` ids become SQLite's ``INTEGER PRIMARY KEY``
(the only column SQLite auto-assigns), ``Uuid`` is UUID/CHAR(32), ``LargeBinary`` is
BYTEA/BLOB, timestamps are ``timestamptz`` on PostgreSQL and UTC text on SQLite.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "7060fda97f26"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("original_filename", sa.String(length=255), nullable=True),
        sa.Column("input_size", sa.BigInteger(), nullable=False),
        sa.Column("input_container", sa.String(length=16), nullable=False),
        sa.Column("input_codec", sa.String(length=32), nullable=False),
        sa.Column("input_format_tag", sa.Integer(), nullable=False),
        sa.Column("input_subformat_tag", sa.Integer(), nullable=True),
        sa.Column("input_sample_rate", sa.Integer(), nullable=False),
        sa.Column("input_channels", sa.SmallInteger(), nullable=False),
        sa.Column("input_bit_depth", sa.SmallInteger(), nullable=True),
        sa.Column("input_frames", sa.BigInteger(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("sample_rate", sa.Integer(), nullable=False),
        sa.Column("channels", sa.SmallInteger(), nullable=False),
        sa.Column("bitrate_kbps", sa.SmallInteger(), nullable=False),
        sa.Column("mp3_size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("chunk_bytes", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_records_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records")),
    )
    op.create_index("ix_records_user_id_created_at", "records", ["user_id", "created_at"])
    op.create_table(
        "record_chunks",
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["records.id"],
            name=op.f("fk_record_chunks_record_id_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", "seq", name=op.f("pk_record_chunks")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # MP3 does not compress: EXTERNAL keeps the chunks out of line without pglz even
        # trying, and lets PostgreSQL read a slice of a chunk without decompressing it.
        op.execute("ALTER TABLE record_chunks ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("record_chunks")
    op.drop_index("ix_records_user_id_created_at", table_name="records")
    op.drop_table("records")
    op.drop_table("users")
