"""bank.search: one page of ``GET /quiz/questions`` searched or filtered, on 1,000,000 stored
questions in PostgreSQL.

The bank is generated into a database of its own (the quiz migrations, then the emulator's
clues 1..N with ``seed=0`` and no quirks, in a shuffled order as ``/api/random`` would serve
them, one in ten filed as an Open Trivia DB question
without value or air date, categories by title), loaded with ``COPY`` through asyncpg: the
bank's indexes are dropped first and created again afterwards from their own definitions
(``pg_indexes``), then ``VACUUM ANALYZE``. Each query kind runs with varied arguments (words
taken from the data at every frequency, titles, ranges, deep ``before_id``) through the
service's own ``BankRepository.search`` (the SQL, the driver and the ORM rows of one page of
20, as the route gets them), a few warm-ups first; p50 and p99 over the timed runs.
``EXPLAIN`` of one query of each kind names the indexes its plan reads.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bench.model import Measure, Row, Section, Table, Target, method
from bench.stats import percentile
from jservice_emulator.questions import make_clue
from quiz_service.bank_repository import BankRepository, search_statement
from quiz_service.filters import QuestionFilter, search_words
from shared.db import async_url
from shared.migrations import upgrade_database
from testkit.postgres import temporary_database

if TYPE_CHECKING:
    from bench.runner import Bench

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "quiz_service" / "alembic.ini"
WARMUPS = 5
PAGE = 20
P99 = Target("<=", 20, " ms")
BANK_INDEXES = (
    "ix_questions_search",
    "ix_questions_category_id_id",
    "ix_questions_source_id",
    "ix_questions_value_id",
    "ix_questions_airdate_id",
)
FOREIGN_KEY = "fk_questions_category_id_categories"
COPY_CHUNK = 50_000
_WORD = re.compile(r"[^\W_]+")


@dataclass
class Kind:
    name: str
    latencies_ms: list[float]
    indexes: list[str]  # index names in the EXPLAIN of its first query
    plan: str  # the plan's node types, outermost first
    example: str


@dataclass
class BankSearch:
    rows: int
    load_s: float
    index_s: float
    kinds: list[Kind]


def _records(
    start: int, stop: int, order: list[int], categories: dict[str, int]
) -> list[tuple[Any, ...]]:
    """Rows ``start``..``stop - 1``; row ``i`` holds the emulator's clue ``order[i - 1]``."""
    saved = datetime(2026, 12, 1, tzinfo=UTC)
    records = []
    for row_id in range(start, stop):
        clue_id = order[row_id - 1]
        clue = make_clue(clue_id)
        title = clue["category"]["title"]
        category_id = categories.setdefault(title, len(categories) + 1)
        opentdb = clue_id % 10 == 0
        aired = None if opentdb else date.fromisoformat(clue["airdate"][:10])
        records.append(
            (
                row_id,
                "opentdb" if opentdb else "jservice",
                str(clue_id),
                clue["question"],
                clue["answer"],
                clue["question"],
                clue["answer"],
                title,
                None if opentdb else clue["value"],
                aired,
                datetime.fromisoformat(clue["created_at"]),
                saved,
                json.dumps(clue),
                category_id,
            )
        )
    return records


COLUMNS = [
    "id",
    "source",
    "upstream_id",
    "question",
    "answer",
    "raw_question",
    "raw_answer",
    "category",
    "value",
    "airdate",
    "created_at",
    "saved_at",
    "raw",
    "category_id",
]


async def _load(url: str, rows: int, log: Callable[[str], None]) -> tuple[float, float]:
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(plain)
    try:
        definitions = [
            record["indexdef"]
            for record in await connection.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'questions'"
            )
            if record["indexname"] in BANK_INDEXES
        ]
        for name in BANK_INDEXES:
            await connection.execute(f'DROP INDEX "{name}"')
        # The categories are known only once every clue was made: the key comes back after.
        foreign_key = await connection.fetchval(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1", FOREIGN_KEY
        )
        await connection.execute(f'ALTER TABLE questions DROP CONSTRAINT "{FOREIGN_KEY}"')
        started = time.perf_counter()
        categories: dict[str, int] = {}
        counts: Counter[int] = Counter()
        # Stored in the order /api/random would have served them: shuffled. Clue ids follow
        # the air date, and stored in that order a row's id would predict its air date and
        # value, which no ingestion from /api/random produces.
        order = list(range(1, rows + 1))
        random.Random(15).shuffle(order)
        for start in range(1, rows + 1, COPY_CHUNK):
            records = _records(start, min(start + COPY_CHUNK, rows + 1), order, categories)
            counts.update(record[-1] for record in records)
            await connection.copy_records_to_table("questions", records=records, columns=COLUMNS)
            log(f"  {start + len(records) - 1:,} rows")
        await connection.copy_records_to_table(
            "categories",
            records=[(cid, title, counts[cid]) for title, cid in categories.items()],
            columns=["id", "title", "clues_count"],
        )
        await connection.execute(
            "SELECT setval(pg_get_serial_sequence('questions', 'id'), $1)", rows
        )
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        for definition in definitions:
            await connection.execute(definition)
        await connection.execute(
            f'ALTER TABLE questions ADD CONSTRAINT "{FOREIGN_KEY}" {foreign_key}'
        )
        await connection.execute("VACUUM ANALYZE questions")
        await connection.execute("VACUUM ANALYZE categories")
        return loaded, time.perf_counter() - started
    finally:
        await connection.close()


def _word_ladder(sample: int) -> list[str]:
    """Words of the data from the most frequent to rare ones (every tenth of the ranking)."""
    counts: Counter[str] = Counter()
    for clue_id in range(1, sample + 1):
        clue = make_clue(clue_id)
        text_ = f"{clue['question']} {clue['answer']} {clue['category']['title']}"
        counts.update(set(_WORD.findall(text_.lower())))
    ranked = [word for word, _ in counts.most_common()]
    return [ranked[int(i * (len(ranked) - 1) / 40)] for i in range(41)]


Query = Callable[[], tuple[QuestionFilter, int | None]]


def _queries(rows: int, titles: list[str], rng: random.Random) -> dict[str, Query]:
    words = _word_ladder(min(rows, 20_000))

    def one_word() -> tuple[QuestionFilter, int | None]:
        return QuestionFilter(words=tuple(search_words(rng.choice(words)))), None

    def two_words() -> tuple[QuestionFilter, int | None]:
        pair = f"{rng.choice(words[:20])} {rng.choice(words)}"
        return QuestionFilter(words=tuple(search_words(pair))), None

    def word_deep() -> tuple[QuestionFilter, int | None]:
        return QuestionFilter(words=(rng.choice(words[:10]),)), rng.randint(1, rows)

    def category() -> tuple[QuestionFilter, int | None]:
        return QuestionFilter(category=rng.choice(titles)), None

    def source() -> tuple[QuestionFilter, int | None]:
        return QuestionFilter(source=rng.choice(["jservice", "opentdb"])), rng.randint(1, rows)

    def value() -> tuple[QuestionFilter, int | None]:
        low = rng.choice([100, 200, 400, 800, 1200, 1600])
        return QuestionFilter(min_value=low, max_value=low + rng.choice([0, 200, 400])), None

    def airdate() -> tuple[QuestionFilter, int | None]:
        year = rng.randint(1985, 2018)
        return QuestionFilter(airdate_from=date(year, 1, 1), airdate_to=date(year, 12, 31)), None

    def everything() -> tuple[QuestionFilter, int | None]:
        filter_ = QuestionFilter(
            words=(rng.choice(words[:20]),),
            category=rng.choice(titles),
            min_value=400,
            airdate_from=date(rng.randint(1985, 2010), 1, 1),
        )
        return filter_, None

    return {
        "q, one word (any frequency)": one_word,
        "q, two words": two_words,
        "q, a frequent word, deep before_id": word_deep,
        "category": category,
        "source, deep before_id": source,
        "min_value + max_value": value,
        "airdate_from + airdate_to (a year)": airdate,
        "q + category + min_value + airdate_from": everything,
    }


def _plan_indexes(plan: dict[str, Any]) -> tuple[list[str], list[str]]:
    names: list[str] = []
    nodes: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        nodes.append(node["Node Type"])
        if "Index Name" in node and node["Index Name"] not in names:
            names.append(node["Index Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return names, nodes


async def _measure(url: str, rows: int, runs: int) -> list[Kind]:
    engine = create_async_engine(async_url(url), pool_size=1)
    rng = random.Random(15)
    kinds = []
    try:
        async with AsyncSession(engine) as session:
            titles = list((await session.scalars(text("SELECT title FROM categories"))).all())
            for name, make in _queries(rows, titles, rng).items():
                repository = BankRepository(session)
                question_filter, before_id = make()
                statement = search_statement(question_filter, postgres=True, limit=PAGE + 1)
                if before_id is not None:
                    statement = statement.where(text(f"questions.id < {int(before_id)}"))
                sql = str(
                    statement.compile(
                        dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
                    )
                )
                explained = (await session.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"))).one()
                indexes, nodes = _plan_indexes(explained[0][0])
                latencies = []
                for index in range(WARMUPS + runs):
                    question_filter, before_id = make()
                    started = time.perf_counter()
                    await repository.search(question_filter, limit=PAGE + 1, before_id=before_id)
                    if index >= WARMUPS:
                        latencies.append((time.perf_counter() - started) * 1000)
                    session.expunge_all()  # every page builds its rows, as a request's would
                kinds.append(Kind(name, latencies, indexes, " > ".join(nodes), sql))
    finally:
        await engine.dispose()
    return kinds


def run(bench: Bench) -> BankSearch:
    rows, runs = bench.scale.bank_rows, bench.scale.bank_runs

    async def main() -> BankSearch:
        async with temporary_database("bench_bank") as url:
            await asyncio.to_thread(upgrade_database, ALEMBIC_INI, url)
            bench.log(f"  generating and loading {rows:,} questions")
            load_s, index_s = await _load(url, rows, bench.log)
            bench.log(f"  loaded in {load_s:.0f} s, indexed in {index_s:.0f} s")
            return BankSearch(rows, load_s, index_s, await _measure(url, rows, runs))

    return asyncio.run(main())


def summarise(data: BankSearch) -> Section:
    rows, table = [], []
    for kind in data.kinds:
        p50, p99 = percentile(kind.latencies_ms, 50), percentile(kind.latencies_ms, 99)
        indexes = ", ".join(kind.indexes) or "none"
        shown = f"{p99:.1f} ms (p50 {p50:.1f} ms; plan reads {indexes})"
        what = f"a page of {PAGE}, {kind.name}, {data.rows:,} questions, p99"
        rows.append(Row(f"page_{kind.name}", what, p99, shown, P99))
        table.append(
            [kind.name, f"{p50:.1f}", f"{p99:.1f}", str(len(kind.latencies_ms)), indexes, kind.plan]
        )
    header = ["query", "p50 ms", "p99 ms", "runs", "indexes in the plan", "plan nodes"]
    text_ = f"{method(__doc__)} Loading {data.rows:,} rows took {data.load_s:.0f} s, "
    text_ += f"creating the bank's indexes and VACUUM ANALYZE {data.index_s:.0f} s."
    return Section(rows, text_, [Table(header, table)])


MEASURE = Measure(
    "bank.search", "GET /quiz/questions on 1,000,000 questions", BankSearch, run, summarise
)
