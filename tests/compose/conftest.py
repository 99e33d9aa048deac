"""The asserts of ``make compose-test``: they run against the stack its runner brought up
(devstack.composetest), never in ``make test`` (the ``compose`` marker is deselected there)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from devstack.composetest.stack import ENV_DOCKER_HOST, ComposeStack


@pytest.fixture(scope="session")
def stack() -> ComposeStack:
    if ENV_DOCKER_HOST not in os.environ:
        pytest.fail("tests/compose runs under `make compose-test`, which brings the stack up")
    return ComposeStack.from_environ()


@pytest.fixture(scope="session")
def gateway(stack: ComposeStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        yield client
