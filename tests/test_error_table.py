"""The gateway's own problem bodies use the services' error table (``shared.errors``).

nginx cannot import Python, so its template spells the table out in two ``map`` blocks
(status -> slug, status -> title); this test holds them to ``PROBLEM_TYPES``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.errors import PROBLEM_TYPES

TEMPLATE = Path(__file__).resolve().parents[1] / "nginx/templates/gateway.conf.template"
_ENTRY = re.compile(r'^\s*(\d{3}|default)\s+"?([^";]*)"?\s*;\s*$')


def template_map(variable: str) -> dict[str, str]:
    """The entries of ``map $status $<variable> { ... }`` in the gateway template."""
    text = TEMPLATE.read_text()
    match = re.search(rf"map \$status \${variable} \{{(.*?)\n\}}", text, flags=re.S)
    assert match, f"no map of $status to ${variable} in {TEMPLATE.name}"
    entries = {}
    for line in match.group(1).splitlines():
        if line.strip() and not line.strip().startswith("#"):
            entry = _ENTRY.match(line)
            assert entry, f"unreadable map line: {line!r}"
            entries[entry.group(1)] = entry.group(2)
    return entries


@pytest.mark.parametrize(
    ("variable", "field"), [("gateway_problem_slug", "slug"), ("gateway_problem_title", "title")]
)
def test_gateway_maps_match_the_registry(variable: str, field: str) -> None:
    entries = template_map(variable)
    expected = {
        status: getattr(PROBLEM_TYPES[int(status)], field)
        for status in entries
        if status != "default"
    }
    assert {status: value for status, value in entries.items() if status != "default"} == expected
    assert entries["default"] == getattr(PROBLEM_TYPES[500], field)


def test_every_status_the_gateway_answers_has_a_slug_and_a_title() -> None:
    text = TEMPLATE.read_text()
    pages = {
        int(s) for line in re.findall(r"error_page ([\d ]+) /_problem/", text) for s in line.split()
    }
    pages.discard(494)  # answered as 400
    slugs = {int(s) for s in template_map("gateway_problem_slug") if s != "default"}
    titles = {int(s) for s in template_map("gateway_problem_title") if s != "default"}
    assert pages <= set(PROBLEM_TYPES)
    assert pages - {500} <= slugs
    assert slugs == titles
