"""Cleaning upstream text: the quirks of real jservice data."""

from __future__ import annotations

import pytest

from quiz_service.upstream.text import clean_text, is_blank
from testkit.jservice import jservice_items


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<i>Risky Business</i>", "Risky Business"),
        ("maitre d\\'", "maitre d'"),
        ("<i>A Hard Day\\'s Night</i>", "A Hard Day's Night"),
        ('say \\"when\\"', 'say "when"'),
        ("Tom &amp; Jerry", "Tom & Jerry"),
        ("&lt;b&gt; is a tag", "<b> is a tag"),
        ("x < y and y > z", "x < y and y > z"),
        ("  spread \n over\tlines  ", "spread over lines"),
        ("MÃ©lisande", "Mélisande"),
        ("SÃO PAULO", "SÃO PAULO"),  # real Latin-1 text is not "repaired"
        ("naïve café", "naïve café"),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


@pytest.mark.parametrize(("text", "blank"), [("", True), ("=", True), ("...", True), ("A", False)])
def test_is_blank(text: str, blank: bool) -> None:
    assert is_blank(text) is blank


def test_sample_answers_come_out_clean() -> None:
    for item in jservice_items():
        for text in (clean_text(item["question"]), clean_text(item["answer"])):
            assert "<" not in text
            assert "\\'" not in text
            assert text == text.strip()
            assert "  " not in text
