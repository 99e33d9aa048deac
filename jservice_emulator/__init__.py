"""A jservice-compatible upstream for the quiz service's tests and benchmarks.

``GET /api/random?count=N`` answers like jservice did (count default 1, capped at 100,
``0`` gives ``[]``, items distinct within a response) with synthetic clues generated from the
id, jservice's data quirks at ``quirk_rate``, and injectable faults. One deliberate
difference: a non-integer or negative ``count`` answers 400 (problem+json) where the
original answered 500. ``/_control/*`` reconfigures a running process; see ``control``.
"""

from jservice_emulator.app import create_app
from jservice_emulator.settings import EmulatorSettings

__all__ = ["EmulatorSettings", "create_app"]
