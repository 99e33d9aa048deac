"""The soak test runs on the same loopback stack as the end-to-end tests (its fixtures are
reused from ``tests/e2e/conftest.py``), and only when asked for: pyproject's ``addopts``
deselects the ``soak`` marker and ``make soak`` selects it again with its own ``-m``.
"""

from tests.e2e.conftest import e2e_workdir, stack  # noqa: F401 - fixtures, reused as they are
