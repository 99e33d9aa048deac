"""conversion jobs, their staged WAVs, and the job queue's schema (conversion workers, issue 14)

Revision ID: 8b3f2a6c4d10
Revises: 5e0b7c1d9a42
Create Date: 2026-12-07 23:30:00

``conversion_jobs`` and ``job_chunks`` on both dialects. On PostgreSQL also procrastinate's
own schema (its tables, types, functions and triggers, all named ``procrastinate_*``): the
queue lives in the service's database, so a job row and its queue entry commit in one
transaction. The schema is procrastinate's ``schema.sql`` of the installed version; a later
procrastinate upgrade brings its own migration files (``procrastinate schema --migrations-path``),
applied as a new revision here. SQLite has no queue schema: there the service converts
jobs in-process (``audio_service.job_queue``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager
from sqlalchemy.util import await_only

revision: str = "8b3f2a6c4d10"
down_revision: str | Sequence[str] | None = "9c4e2a7b1f30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNFINISHED = sa.text("status IN ('queued', 'converting')")
_BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "conversion_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", _BIGINT_ID, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("original_filename", sa.String(255), nullable=True),
        sa.Column("title", sa.String(200), nullable=True),
        sa.Column("artist", sa.String(200), nullable=True),
        sa.Column("input_size", sa.BigInteger(), nullable=False),
        sa.Column("chunk_bytes", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=True),
        sa.Column("problem", sa.JSON(), nullable=True),
        sa.Column("callback_url", sa.String(2048), nullable=True),
        sa.Column("base_url", sa.String(2048), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_conversion_jobs_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversion_jobs")),
    )
    op.create_index("ix_conversion_jobs_user_id", "conversion_jobs", ["user_id"])
    op.create_index(
        "ix_conversion_jobs_unfinished",
        "conversion_jobs",
        ["status", "created_at"],
        postgresql_where=_UNFINISHED,
        sqlite_where=_UNFINISHED,
    )
    op.create_table(
        "job_chunks",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["conversion_jobs.id"],
            name=op.f("fk_job_chunks_job_id_conversion_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "seq", name=op.f("pk_job_chunks")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Out of line without a pglz attempt, as record_chunks: PCM compresses little. (For
        # a 60-minute upload's 202 it made no measurable difference: 6.8/9.5 s vs 6.7/9.9 s.)
        op.execute("ALTER TABLE job_chunks ALTER COLUMN data SET STORAGE EXTERNAL")
        _execute_script(SchemaManager.get_schema())


_DROP_PROCRASTINATE = """
DO $$
DECLARE item record;
BEGIN
    FOR item IN SELECT tablename FROM pg_tables
        WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate\\_%' LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', item.tablename);
    END LOOP;
    FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%' LOOP
        EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', item.signature);
    END LOOP;
    FOR item IN SELECT t.typname FROM pg_type t
        JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate\\_%'
          AND t.typtype IN ('e', 'c') LOOP
        EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', item.typname);
    END LOOP;
END $$;
"""


def _execute_script(sql: str) -> None:
    """Many statements at once, in the migration's transaction: asyncpg runs a script only
    outside a prepared statement, i.e. on its own connection object, without parameters."""
    driver = op.get_bind().connection.driver_connection
    if driver is None:
        raise RuntimeError("no driver connection to run the script on")
    await_only(driver.execute(sql))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _execute_script(_DROP_PROCRASTINATE)
    op.drop_table("job_chunks")
    op.drop_index("ix_conversion_jobs_unfinished", table_name="conversion_jobs")
    op.drop_index("ix_conversion_jobs_user_id", table_name="conversion_jobs")
    op.drop_table("conversion_jobs")
