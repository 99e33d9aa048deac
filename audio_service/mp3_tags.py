"""The ID3v2.4 tag at the start of every MP3 (mutagen writes it).

ID3v2 comes first and the Info tag frame right after it, as the first MPEG frame: that is
where LAME and ffmpeg put them, and where decoders look (after skipping ID3v2).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath, PureWindowsPath

from mutagen.id3 import ID3, TDRC, TIT2, TPE1, TSSE, TXXX

RECORD_ID_DESCRIPTION = "record_id"
# A tag field is text the file carries to every player: keep it to a sensible size.
MAX_TEXT_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class Mp3Tags:
    """What the tag says; None fields are left out. ``created_at`` is stored in UTC."""

    title: str | None = None
    artist: str | None = None
    record_id: str | None = None
    created_at: datetime | None = None


def title_from_filename(filename: str | None) -> str | None:
    """``"My take.wav"`` -> ``"My take"``: the file's name without folders or extension."""
    if not filename:
        return None
    name = PureWindowsPath(PurePosixPath(filename).name).name
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    return stem.strip() or None


def _text(value: str) -> str:
    # ID3 text frames end at NUL; keep control characters out of what players display.
    cleaned = "".join(ch for ch in value if ch >= " " or ch == "\t")
    return cleaned[:MAX_TEXT_LENGTH]


def id3v2_tag(tags: Mp3Tags, encoder: str) -> bytes:
    """The ID3v2.4 tag (UTF-8 text, no padding) holding ``tags`` and ``encoder`` (TSSE)."""
    frames = ID3()
    if tags.title:
        frames.add(TIT2(encoding=3, text=_text(tags.title)))
    if tags.artist:
        frames.add(TPE1(encoding=3, text=_text(tags.artist)))
    frames.add(TSSE(encoding=3, text=_text(encoder)))
    if tags.record_id:
        frames.add(TXXX(encoding=3, desc=RECORD_ID_DESCRIPTION, text=_text(tags.record_id)))
    if tags.created_at is not None:
        created = tags.created_at
        if created.tzinfo is not None:
            created = created.astimezone(UTC)
        frames.add(TDRC(encoding=3, text=created.strftime("%Y-%m-%dT%H:%M:%S")))
    out = io.BytesIO()
    frames.save(out, v2_version=4, padding=lambda _info: 0)
    return out.getvalue()
