"""How many items a fetch round asks for (``next_fetch_size``) and how it is split."""

from __future__ import annotations

import pytest

from quiz_service.service import OVERFETCH_SAFETY, next_fetch_size, split_count


def test_first_round_asks_for_exactly_what_is_missing() -> None:
    assert next_fetch_size(100, fetched=0, fresh=0, limit=500) == 100
    assert next_fetch_size(3, fetched=0, fresh=0, limit=500) == 3
    # The limit only bounds over-fetching: the missing count itself is always asked for.
    assert next_fetch_size(700, fetched=0, fresh=0, limit=500) == 700


def test_later_rounds_divide_by_the_share_of_new_items() -> None:
    # 30 % repeats in a round of 100: 30 missing, share 71 / 102.
    assert next_fetch_size(30, fetched=100, fresh=70, limit=500) == 54
    # 90 % repeats: 90 missing needs about 1,000; five calls of 100 is the limit.
    assert next_fetch_size(90, fetched=100, fresh=10, limit=500) == 500
    assert next_fetch_size(40, fetched=600, fresh=60, limit=500) == 494


def test_no_repeats_so_far_still_adds_the_safety_margin() -> None:
    # Whatever kept the previous round short (a lost race, a short response) may recur.
    size = next_fetch_size(10, fetched=100, fresh=100, limit=500)
    assert size == 13
    assert 10 * OVERFETCH_SAFETY <= size <= 10 * OVERFETCH_SAFETY + 1


def test_nothing_new_yet_asks_for_the_limit_not_infinity() -> None:
    assert next_fetch_size(5, fetched=100, fresh=0, limit=500) == 500
    assert next_fetch_size(5, fetched=3, fresh=0, limit=100) == 32


def test_few_items_do_not_make_an_extreme_estimate() -> None:
    # One item, one repeat: the smoothed share is 1/3, not 0.
    assert next_fetch_size(1, fetched=1, fresh=0, limit=100) == 4
    # One item, new: the smoothed share is 2/3, not 1.
    assert next_fetch_size(1, fetched=1, fresh=1, limit=100) == 2


@pytest.mark.parametrize("missing", [1, 7, 30, 99, 100])
@pytest.mark.parametrize(("fetched", "fresh"), [(0, 0), (1, 0), (10, 9), (100, 30), (600, 1)])
def test_bounds(missing: int, fetched: int, fresh: int) -> None:
    limit = 500
    size = next_fetch_size(missing, fetched, fresh, limit=limit)
    assert missing <= size <= limit


def test_more_repeats_never_mean_asking_for_fewer() -> None:
    sizes = [next_fetch_size(50, fetched=100, fresh=fresh, limit=10_000) for fresh in range(101)]
    assert sizes == sorted(sizes, reverse=True)


def test_split_count() -> None:
    assert split_count(150, 100) == [100, 50]
    assert split_count(494, 100) == [100, 100, 100, 100, 94]
    assert split_count(100, 100) == [100]
    assert split_count(3, 50) == [3]
