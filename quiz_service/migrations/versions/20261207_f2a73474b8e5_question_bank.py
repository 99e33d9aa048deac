"""question bank: categories, filter indexes, full-text search

Revision ID: f2a73474b8e5
Revises: 2daf945ca5a9
Create Date: 2026-12-07 23:20:00

The categories table is back-filled from the stored questions' titles (questions without one
get the category titled ""). Full-text search is a generated ``tsvector`` column under a GIN
index on PostgreSQL, and an external-content FTS5 table kept by triggers on SQLite; both
tokenise a question the same way (see ``quiz_service.models.SEARCH_DOCUMENT``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "f2a73474b8e5"
down_revision: str | Sequence[str] | None = "2daf945ca5a9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of quiz_service.models.SEARCH_DOCUMENT as of this revision.
SEARCH_DOCUMENT = (
    "to_tsvector('simple'::regconfig, regexp_replace("
    "question || ' ' || answer || ' ' || coalesce(category, ''), '[^[:alnum:]]+', ' ', 'g'))"
)

FILTER_INDEXES = {
    "ix_questions_category_id_id": ["category_id", "id"],
    "ix_questions_source_id": ["source", "id"],
    "ix_questions_value_id": ["value", "id"],
    "ix_questions_airdate_id": ["airdate", "id"],
}

SQLITE_FTS = [
    # unicode61 without porter and without diacritics folding: words as PostgreSQL's
    # "simple" configuration sees them after SEARCH_DOCUMENT's regexp_replace.
    "CREATE VIRTUAL TABLE questions_fts USING fts5(question, answer, category, "
    "content='questions', content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER questions_fts_insert AFTER INSERT ON questions BEGIN "
    "INSERT INTO questions_fts(rowid, question, answer, category) "
    "VALUES (new.id, new.question, new.answer, new.category); END",
    "CREATE TRIGGER questions_fts_delete AFTER DELETE ON questions BEGIN "
    "INSERT INTO questions_fts(questions_fts, rowid, question, answer, category) "
    "VALUES ('delete', old.id, old.question, old.answer, old.category); END",
    "CREATE TRIGGER questions_fts_update AFTER UPDATE OF question, answer, category "
    "ON questions BEGIN "
    "INSERT INTO questions_fts(questions_fts, rowid, question, answer, category) "
    "VALUES ('delete', old.id, old.question, old.answer, old.category); "
    "INSERT INTO questions_fts(rowid, question, answer, category) "
    "VALUES (new.id, new.question, new.answer, new.category); END",
    "INSERT INTO questions_fts(questions_fts) VALUES ('rebuild')",
]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "categories",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("clues_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        sa.UniqueConstraint("title", name="uq_categories_title"),
        sqlite_autoincrement=True,
    )
    if postgres:
        op.add_column(
            "questions",
            sa.Column(
                "category_id",
                sa.BigInteger(),
                sa.ForeignKey("categories.id", name="fk_questions_category_id_categories"),
                nullable=True,
            ),
        )
    else:
        # SQLite cannot add a constraint to an existing table, nor drop a column that has
        # one, without copying the table; it does not enforce foreign keys by default anyway.
        op.add_column("questions", sa.Column("category_id", sa.Integer(), nullable=True))

    op.execute(
        "INSERT INTO categories (title, clues_count, created_at, updated_at) "
        "SELECT coalesce(category, ''), count(*), min(saved_at), max(saved_at) "
        "FROM questions GROUP BY coalesce(category, '')"
    )
    op.execute(
        "UPDATE questions SET category_id = (SELECT categories.id FROM categories "
        "WHERE categories.title = coalesce(questions.category, ''))"
    )
    for name, columns in FILTER_INDEXES.items():
        op.create_index(name, "questions", columns)

    if postgres:
        op.add_column(
            "questions",
            sa.Column(
                "search",
                postgresql.TSVECTOR(),
                sa.Computed(SEARCH_DOCUMENT, persisted=True),
                nullable=True,
            ),
        )
        op.create_index("ix_questions_search", "questions", ["search"], postgresql_using="gin")
    else:
        for statement in SQLITE_FTS:
            op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.drop_index("ix_questions_search", table_name="questions")
        op.drop_column("questions", "search")
    else:
        for trigger in ("questions_fts_update", "questions_fts_delete", "questions_fts_insert"):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE questions_fts")
    for name in FILTER_INDEXES:
        op.drop_index(name, table_name="questions")
    op.drop_column("questions", "category_id")
    op.drop_table("categories")
