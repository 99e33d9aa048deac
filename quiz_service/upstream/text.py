"""Turns upstream text into what a quiz shows: the one place that knows jservice's quirks.

The raw text is stored alongside, so a better cleaner can always be re-run over old rows.
"""

from __future__ import annotations

import html
import re

# A tag starts right after "<" with a letter, so "x < y and y > z" is left alone.
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
# jservice's scraper stored quotes backslash-escaped: maitre d\'
_ESCAPED_QUOTE = re.compile(r"\\(['\"])")
# UTF-8 bytes read back as Latin-1/cp1252 leave these lead characters behind ("MÃ©lisande").
_MOJIBAKE_HINT = re.compile("[\u00c2\u00c3\u00e2][\u0080-\u00bf\u2018-\u203a\u20ac\u2122]")


def clean_text(raw: str) -> str:
    """Tags stripped, ``\\'`` unescaped, entities decoded, mojibake repaired, spaces collapsed.

    Tags go before entities, so an escaped ``&lt;b&gt;`` survives as the literal text ``<b>``.
    """
    text = _TAG.sub("", raw)
    text = _ESCAPED_QUOTE.sub(r"\1", text)
    text = html.unescape(text)
    text = _repair_mojibake(text)
    return " ".join(text.split())


def is_blank(text: str) -> bool:
    """Nothing a player could read: empty, or only punctuation such as jservice's "=" rows."""
    return not any(char.isalnum() for char in text)


def _repair_mojibake(text: str) -> str:
    if not _MOJIBAKE_HINT.search(text):
        return text
    for codec in ("cp1252", "latin-1"):
        try:
            return text.encode(codec).decode("utf-8")
        except UnicodeError:
            continue
    # Mixed or real Latin-1 text: a partial repair could corrupt it, so leave it alone.
    return text
