"""jservice items for tests: ``data/jservice_items.json``, written for this project.

The items are ours; their shape and their quirks are the real API's, as recorded from
jservice's ``/api/random``: every documented key, ``value`` null on some clues,
``invalid_count`` null or a count, ``game_id`` null (the oldest clues predate game ids),
clues whose question was emptied but whose stale answer stayed, a question of only "=",
HTML in answers (``<i>…</i>``), backslash-escaped quotes, "&" in questions, UTF-8 read as
cp1252 ("Ã¨"), and a flagged clue's ``updated_at`` later than its ``created_at``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ITEMS_PATH = Path(__file__).with_name("data") / "jservice_items.json"


def jservice_items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(ITEMS_PATH.read_text(encoding="utf-8"))
    return items
