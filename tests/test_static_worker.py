"""The static check of the compose file's conversion workers, on the real compose model and
on models with the mistakes it exists to catch."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from devstack.static_checks import CheckFailed, check_compose, check_worker


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    return check_compose()


def test_the_compose_file_has_replicated_workers(model: dict[str, Any]) -> None:
    assert "replica" in check_worker(model)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m["services"].pop("worker"), "no worker service"),
        (lambda m: m["services"]["worker"].pop("deploy"), "deploy.replicas"),
        (lambda m: m["services"]["worker"].update(command=["python", "-m", "x"]), "command"),
        (
            lambda m: m["services"]["worker"]["environment"].update(AUDIO_DATABASE_URL="x"),
            "AUDIO_DATABASE_URL",
        ),
    ],
)
def test_mistakes_are_caught(model: dict[str, Any], edit: Any, message: str) -> None:
    broken = copy.deepcopy(model)
    edit(broken)
    with pytest.raises(CheckFailed, match=message):
        check_worker(broken)
