"""Which ids one response carries: distinct within it, repeats across calls as configured."""

from __future__ import annotations

from random import Random

# Rejection sampling stays cheap while most of the pool is unserved; past this many draws
# per wanted id, listing the unserved ids outright is faster.
_MAX_DRAWS_PER_ID = 32


class ServedIds:
    """Every id already sent in a well-formed response, in first-served order."""

    def __init__(self) -> None:
        self._order: list[int] = []
        self._seen: set[int] = set()
        self._max = 0

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, clue_id: object) -> bool:
        return clue_id in self._seen

    def add(self, ids: list[int]) -> None:
        for clue_id in ids:
            if clue_id not in self._seen:
                self._seen.add(clue_id)
                self._order.append(clue_id)
                self._max = max(self._max, clue_id)

    def within(self, pool_size: int) -> list[int]:
        # The pool can shrink at run time; ids above it must not come back.
        if self._max <= pool_size:
            return self._order
        return [clue_id for clue_id in self._order if clue_id <= pool_size]


def pick_ids(
    count: int, pool_size: int, duplicate_rate: float, served: ServedIds, rng: Random
) -> list[int]:
    """``count`` distinct ids from 1..pool_size.

    With ``duplicate_rate`` 0 this is jservice's ``ORDER BY RANDOM() LIMIT n``. Otherwise
    that share of the ids is drawn from earlier responses and the rest from never-served ids,
    so the duplicate ratio a consumer sees does not depend on the pool size.
    """
    n = min(count, pool_size)
    if duplicate_rate <= 0.0:
        return rng.sample(range(1, pool_size + 1), n)

    earlier = served.within(pool_size)
    wanted = n * duplicate_rate
    # Stochastic rounding keeps the long-run ratio exact even for count=1.
    repeats = int(wanted) + (1 if rng.random() < wanted - int(wanted) else 0)
    picked = rng.sample(earlier, min(repeats, len(earlier)))
    fresh = _unserved(n - len(picked), pool_size, served, rng)
    chosen = set(picked) | set(fresh)
    if len(chosen) < n:
        # Too few ids left unserved: fill with earlier ones so the response stays full.
        spare = [clue_id for clue_id in earlier if clue_id not in chosen]
        fresh += rng.sample(spare, n - len(chosen))
    ids = picked + fresh
    rng.shuffle(ids)
    return ids


def _unserved(k: int, pool_size: int, served: ServedIds, rng: Random) -> list[int]:
    unserved_total = pool_size - len(served.within(pool_size))
    k = min(k, unserved_total)
    found: set[int] = set()
    for _ in range(k * _MAX_DRAWS_PER_ID):
        if len(found) == k:
            break
        candidate = rng.randint(1, pool_size)
        if candidate not in served:
            found.add(candidate)
    if len(found) < k:
        rest = [i for i in range(1, pool_size + 1) if i not in served and i not in found]
        found.update(rng.sample(rest, k - len(found)))
    return list(found)
