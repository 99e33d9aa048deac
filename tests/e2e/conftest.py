"""The real system on loopback for end-to-end tests: PostgreSQL, the emulator, two instances of
each service and the project's nginx gateway. All traffic in these tests goes to the gateway."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from devstack.gateway import NGINX_INSTALL_HINT, NO_RATE_LIMITS, nginx_binary
from devstack.ports import free_port
from devstack.stack import LocalStack, StackConfig
from testkit.postgres import temporary_database, unavailable

E2E_MAX_UPLOAD_BYTES = 8 * 1024 * 1024


@pytest.fixture(scope="session")
def e2e_workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="e2e-stack-"))
    yield path
    if os.environ.get("KEEP_E2E_LOGS") != "1":
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
async def stack(e2e_workdir: Path) -> AsyncIterator[LocalStack]:
    if nginx_binary() is None:
        unavailable(f"nginx is needed for end-to-end tests: {NGINX_INSTALL_HINT}")
    async with AsyncExitStack() as exit_stack:
        quiz_url = await exit_stack.enter_async_context(temporary_database("e2e_quiz"))
        audio_url = await exit_stack.enter_async_context(temporary_database("e2e_audio"))
        config = StackConfig(
            workdir=e2e_workdir,
            gateway_port=free_port(),
            quiz_ports=[free_port(), free_port()],
            audio_ports=[free_port(), free_port()],
            emulator_port=free_port(),
            env={
                "QUIZ_DATABASE_URL": quiz_url,
                "AUDIO_DATABASE_URL": audio_url,
                "AUDIO_MAX_UPLOAD_BYTES": str(E2E_MAX_UPLOAD_BYTES),
                "QUIZ_REQUEST_DEADLINE_S": "5",
                "AUDIO_TOKEN_SECRET": "e2e-secret-not-for-production",
                # Concurrency tests upload many files per user at once; the cap itself is
                # tested in audio_service/tests/test_limits.py.
                "AUDIO_MAX_UPLOADS_PER_USER": "64",
                "AUDIO_MAX_QUEUED_CONVERSIONS": "64",
            },
            # These tests send far more from one address than the limits allow; the limits
            # themselves are tested in tests/gateway and tests/e2e/test_operations.py.
            gateway_settings=dict(NO_RATE_LIMITS),
        )
        local_stack = LocalStack(config)
        local_stack.start()
        try:
            yield local_stack
        finally:
            local_stack.stop()


@pytest.fixture
async def gateway(stack: LocalStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture
async def emulator(stack: LocalStack) -> AsyncIterator[httpx.AsyncClient]:
    """Control channel of the upstream emulator; reset after each test."""
    async with httpx.AsyncClient(base_url=stack.emulator_url, timeout=10) as client:
        yield client
        await client.post("/_control/reset")
