"""The request head's deadline (shared/header_deadline.py), against a real uvicorn.

The same tiny service-shaped app as the body rate's tests, served with a 1 s head deadline;
the client paces the head on a raw socket, so what is asserted is what the socket received.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest

from shared.app import create_service_app
from shared.tests.test_body_rate import Settings, head, open_resources, router
from testkit.apps import served_app
from tests.gateway.raw_http import pace

DEADLINE_S = 1.0
STEP_S = 0.1


@pytest.fixture(scope="module")
def address() -> Iterator[tuple[str, int]]:
    settings = Settings(log_format="text")
    app = create_service_app("head_test", "t", settings, router, partial(open_resources, settings))
    with served_app(app, header_timeout_s=DEADLINE_S) as served:
        yield served


def assert_cut_off(paced_seconds: float, response_status: int, detail: str) -> None:
    assert response_status == 408
    assert f"within {DEADLINE_S:g} s" in detail
    assert DEADLINE_S <= paced_seconds < 3 * DEADLINE_S


def test_a_trickled_head_is_cut_off(address: tuple[str, int]) -> None:
    whole = head(0)
    pieces = [whole[i : i + 1] for i in range(len(whole))]  # 10 bytes/s: 9 s for the head
    paced = pace(address, pieces, wait=STEP_S, max_waits=60)
    assert paced.closed, f"still open after {paced.seconds:.1f} s"
    response = paced.response
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["connection"] == "close"
    assert response.json()["type"].endswith("/request-timeout")
    assert_cut_off(paced.seconds, response.status_code, response.json()["detail"])
    assert paced.sent < 30


def test_a_silent_connection_is_closed(address: tuple[str, int]) -> None:
    paced = pace(address, [b""], wait=STEP_S, max_waits=40)
    assert paced.closed
    assert_cut_off(paced.seconds, paced.response.status_code, paced.response.json()["detail"])


def test_each_kept_alive_request_gets_its_own_deadline(address: tuple[str, int]) -> None:
    """Two quick requests on one connection 1.3 s apart: both answered, since the deadline
    covers each head, not the connection's life."""
    quick = head(2) + b"ok"
    pieces = [quick, *[b""] * 13, quick]
    paced = pace(address, pieces, wait=STEP_S, max_waits=len(pieces) + 5)
    assert paced.seconds > DEADLINE_S
    assert paced.received.count(b"HTTP/1.1 200") == 2, paced.received[:400]
