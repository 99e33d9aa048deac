"""Reading a ``GET /metrics`` answer (the Prometheus text format) in tests."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

# The samples a metric family of each type exposes, by suffix.
_SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "unknown": ("",),
}


class Scrape:
    """One scrape: every sample, found by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = list(text_string_to_metric_families(text))
        self.samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in self.families
            for sample in family.samples
        }

    def value(self, name: str, **labels: str) -> float:
        """The sample ``name`` with exactly ``labels``; 0 when it has not been exposed
        (a labelled metric shows a series only once it was touched)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """The sum of every ``name`` sample whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and wanted <= ls)

    def sample_names(self) -> set[str]:
        """Every sample name the families declare, touched or not (``foo_total`` for the
        counter ``foo``, ``_bucket``/``_sum``/``_count`` for a histogram)."""
        return {
            family.name + suffix
            for family in self.families
            for suffix in _SAMPLE_SUFFIXES.get(family.type, ("",))
        }
