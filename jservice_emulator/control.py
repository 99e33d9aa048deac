"""Run-time control for tests and benchmarks: one process, reconfigured without a restart.

Unauthenticated by design: the emulator only ever listens on a test network.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from jservice_emulator.api import StateDep
from jservice_emulator.settings import ConfigUpdate
from jservice_emulator.state import Stats

router = APIRouter()


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/_control/config")
async def get_config(state: StateDep) -> dict[str, Any]:
    return state.settings.model_dump(mode="json")


@router.put("/_control/config")
async def put_config(state: StateDep, patch: ConfigUpdate) -> dict[str, Any]:
    return state.update(patch).model_dump(mode="json")


@router.post("/_control/reset")
async def reset(state: StateDep) -> dict[str, Any]:
    state.reset()
    return state.settings.model_dump(mode="json")


@router.get("/_control/stats")
async def stats(state: StateDep) -> Stats:
    return state.stats()
