"""HTTP conditional and range requests (RFC 9110 §13-14) for one immutable entity.

Only single ranges are served as 206. A ``Range`` with several ranges, another unit or bad
syntax is ignored and the whole file is sent with 200, which RFC 9110 allows; browsers and
media players seek with single ranges.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.errors import RangeNotSatisfiable

# At most 18 digits: anything longer is past any size we store, and stays a cheap int.
_SINGLE_RANGE = re.compile(r"(?P<first>[0-9]{0,18})\s*-\s*(?P<last>[0-9]{0,18})")


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"The requested range is outside the file, which is {size} bytes long.",
        size=size,
        headers={"Content-Range": f"bytes */{size}"},
    )


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range to serve, None for the whole file; 416 when it lies outside the file."""
    if header is None:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes":
        return None
    specs = [part.strip() for part in spec.split(",") if part.strip()]
    if len(specs) != 1:
        return None
    match = _SINGLE_RANGE.fullmatch(specs[0])
    if match is None:
        return None
    first, last = match["first"], match["last"]
    if first and last:
        start, end = int(first), int(last)
        if end < start:
            return None  # an invalid range-spec: ignored, like any unreadable Range
    elif first:
        start, end = int(first), size - 1
    elif last:
        suffix = int(last)
        if suffix == 0:
            raise unsatisfiable(size)
        start, end = max(0, size - suffix), size - 1
    else:
        return None
    if start >= size:
        raise unsatisfiable(size)
    return ByteRange(start, min(end, size - 1))


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def none_match(header: str | None, etag: str) -> bool:
    """True when ``If-None-Match`` names ``etag`` (weak comparison) or is ``*``: send 304."""
    if header is None:
        return False
    return any(tag == "*" or tag.removeprefix("W/") == etag for tag in _tags(header))


def range_still_valid(if_range: str | None, etag: str) -> bool:
    """``If-Range`` must equal the strong ETag for the range to be honoured.

    A date there never matches: we send no Last-Modified, so the client cannot hold a
    validator date of ours, and the safe answer is the whole file.
    """
    return if_range is None or if_range.strip() == etag
