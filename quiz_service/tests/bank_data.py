"""The question bank's test data: the real-shaped sample plus clues spread over filters."""

from __future__ import annotations

from typing import Any

import httpx
import respx

from quiz_service.tests.fakes import UPSTREAM_URL, clue
from testkit.jservice import jservice_items

TITLES = ("world rivers", "opera", "potent potables")
WORDS = ("amber", "basalt", "cobalt", "delta", "ember")


def spread_clues(first_id: int, n: int) -> list[dict[str, Any]]:
    """``n`` clues with ids from ``first_id``: titles, values, airdates and words cycle, so
    every filter and word has several matches and several non-matches."""
    items = []
    for index in range(n):
        clue_id = first_id + index
        title = TITLES[index % len(TITLES)]
        word, other = WORDS[index % len(WORDS)], WORDS[(index * 2 + 1) % len(WORDS)]
        item = clue(
            clue_id,
            question=f"The {word} clue number {clue_id}, near the {other}-coloured sea",
            answer=f"{word.title()} Answer's {clue_id}",
            value=None if index % 7 == 6 else 200 * (index % 5 + 1),
            airdate=f"19{86 + index % 10}-0{index % 9 + 1}-1{index % 10}T19:00:00.000Z",
            category_id=1000 + index % len(TITLES),
        )
        item["category"] = {**item["category"], "id": item["category_id"], "title": title}
        items.append(item)
    return items


def bank_items() -> list[dict[str, Any]]:
    return jservice_items() + spread_clues(5000, 60)


async def store_items(
    client: httpx.AsyncClient, upstream: respx.MockRouter, items: list[dict[str, Any]]
) -> int:
    """Stores every usable item (one call per 100); returns how many were stored."""
    route = upstream.get(UPSTREAM_URL)
    stored = 0
    for start in range(0, len(items), 100):
        chunk = items[start : start + 100]
        # The usable items first: a call of count=N reads only the first N items.
        usable = [item for item in chunk if _readable(item["question"], item["answer"])]
        route.respond(200, json=usable + [item for item in chunk if item not in usable])
        response = await client.post("/quiz", json={"questions_num": len(usable)})
        assert response.status_code == 200, response.text
        stored += len(usable)
    return stored


def _readable(*texts: str) -> bool:
    """What the ingestion stores: text with a letter or digit (see ``upstream.text``)."""
    return all(any(char.isalnum() for char in text) for text in texts)
