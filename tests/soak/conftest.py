"""The soak test runs on the same loopback stack as the end-to-end tests (its fixtures are
reused from ``tests/e2e/conftest.py``), and only when asked for: ``make soak`` runs
``pytest -m soak tests/soak``; any run whose ``-m`` expression does not name ``soak``
deselects it, so the default ``pytest`` (CI) never starts a 60-second load.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import e2e_workdir, stack  # noqa: F401 - fixtures, reused as they are

SOAK_MARKER = "soak"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "soak: long mixed-load test, only run by `make soak`")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SOAK_MARKER in (config.getoption("markexpr", "") or ""):
        return
    skipped = [item for item in items if item.get_closest_marker(SOAK_MARKER) is not None]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = [item for item in items if item.get_closest_marker(SOAK_MARKER) is None]
