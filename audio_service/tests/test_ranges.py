"""Range, If-None-Match and If-Range parsing, without HTTP."""

from __future__ import annotations

import pytest

from audio_service.ranges import ByteRange, none_match, parse_range, range_still_valid
from shared.errors import RangeNotSatisfiable

SIZE = 1000
ETAG = '"abc"'


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-499", ByteRange(0, 499)),
        ("bytes=500-", ByteRange(500, 999)),
        ("bytes=-200", ByteRange(800, 999)),
        ("bytes=-5000", ByteRange(0, 999)),
        ("bytes=990-5000", ByteRange(990, 999)),
        ("bytes=999-999", ByteRange(999, 999)),
        ("BYTES=1-2", ByteRange(1, 2)),
        ("bytes=1-2,", ByteRange(1, 2)),
        ("bytes=0-1,3-4", None),
        ("bytes=5-4", None),
        ("bytes=-", None),
        ("bytes=a-b", None),
        ("bytes=1-2-3", None),
        ("bytes=0x10-", None),
        ("bytes=" + "9" * 19 + "-", None),
        ("pages=1-2", None),
        ("", None),
        ("bytes 0-1", None),
    ],
)
def test_parse_range(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, SIZE) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=1000-2000", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        parse_range(header, SIZE)
    assert caught.value.headers == {"Content-Range": f"bytes */{SIZE}"}


def test_content_range_and_length() -> None:
    byte_range = ByteRange(10, 19)
    assert byte_range.length == 10
    assert byte_range.content_range(SIZE) == "bytes 10-19/1000"


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        (ETAG, True),
        (f"W/{ETAG}", True),
        (f'"x", {ETAG}', True),
        ("*", True),
        ('"abcd"', False),
        ("abc", False),
        ("", False),
    ],
)
def test_none_match(header: str | None, matches: bool) -> None:
    assert none_match(header, ETAG) is matches


def test_if_range_needs_the_strong_etag() -> None:
    assert range_still_valid(None, ETAG)
    assert range_still_valid(ETAG, ETAG)
    assert range_still_valid(f" {ETAG} ", ETAG)
    assert not range_still_valid(f"W/{ETAG}", ETAG)
    assert not range_still_valid("Tue, 01 Jan 2030 00:00:00 GMT", ETAG)
