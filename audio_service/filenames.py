"""The client's filename: kept only as sanitised metadata, and turned into a download name.

Nothing here ever touches the filesystem; the uploaded file is staged under a random name.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from audio_service.models import FILENAME_MAX_LENGTH

DEFAULT_STEM = "audio"
DOWNLOAD_STEM_MAX_LENGTH = 200

# Control, format (bidi overrides that disguise an extension), surrogate, private-use,
# unassigned characters and line/paragraph separators never survive.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Characters no common filesystem accepts in a name.
_REPLACED = frozenset('<>:"|?*')
_WAV_SUFFIXES = (".wav", ".wave", ".bwf", ".rf64")
_ASCII_SAFE = re.compile(r"[^A-Za-z0-9 ._()+,=@\[\]{}~!#$&^-]+")


def sanitize_filename(raw: str | None) -> str | None:
    """The last path component of ``raw``, without dangerous characters; None if nothing is left.

    Both ``/`` and ``\\`` separate components, whichever system the client runs.
    """
    if not raw:
        return None
    name = re.split(r"[/\\]", unicodedata.normalize("NFC", raw))[-1]
    name = "".join(
        "_" if char in _REPLACED else char
        for char in name
        if unicodedata.category(char) not in _DROPPED_CATEGORIES
    )
    # Leading dots would make a hidden file, trailing ones are dropped by Windows anyway.
    name = name.strip().strip(".").strip()
    return name[:FILENAME_MAX_LENGTH] or None


def download_filename(original: str | None) -> str:
    """``song.wav`` -> ``song.mp3``; any other name gets ``.mp3`` appended."""
    stem = original or DEFAULT_STEM
    lowered = stem.lower()
    for suffix in _WAV_SUFFIXES:
        if lowered.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = stem[:DOWNLOAD_STEM_MAX_LENGTH].strip(" .") or DEFAULT_STEM
    return f"{stem}.mp3"


def _ascii_fallback(filename: str) -> str:
    decomposed = unicodedata.normalize("NFKD", filename)
    ascii_only = "".join(char for char in decomposed if not unicodedata.combining(char))
    safe = _ASCII_SAFE.sub("_", ascii_only)
    stem = safe[: -len(".mp3")] if safe.endswith(".mp3") else safe
    if not any(char.isalnum() for char in stem):
        stem = DEFAULT_STEM
    return f"{stem}.mp3"


def content_disposition(filename: str) -> str:
    """``attachment`` with a plain ASCII ``filename`` every client reads, plus the exact name
    as RFC 6266/8187 ``filename*`` when it is not plain ASCII.
    """
    fallback = _ascii_fallback(filename)
    value = f'attachment; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value
