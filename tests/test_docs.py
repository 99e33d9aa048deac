"""The README and .env.example describe the settings the code really has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devstack.gateway import GATEWAY_DEFAULTS
from devstack.settings_doc import README, SETTINGS, readme_with_table

ROOT = Path(__file__).resolve().parents[1]


def test_readme_settings_table_is_current() -> None:
    readme = README.read_text()
    assert readme == readme_with_table(readme), "run: python -m devstack.settings_doc --write"


def test_env_example_names_every_setting_and_only_those() -> None:
    known = {f"{prefix}{name.upper()}" for prefix, cls in SETTINGS for name in cls.model_fields}
    compose_only = {"GATEWAY_PORT", "GATEWAY_MAX_BODY_SIZE", "POSTGRES_PASSWORD"}
    compose_only |= {"QUIZ_DB_PASSWORD", "AUDIO_DB_PASSWORD", *GATEWAY_DEFAULTS}
    # The optional object store of the compose "s3" profile.
    compose_only |= {"COMPOSE_PROFILES", "SEAWEEDFS_ACCESS_KEY_ID", "SEAWEEDFS_SECRET_ACCESS_KEY"}
    compose_only |= {"PROMETHEUS_PORT", "GRAFANA_PORT", "GRAFANA_ADMIN_PASSWORD"}
    compose_only |= {"WORKER_REPLICAS"}  # how many conversion worker containers
    text = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    assert named, ".env.example lists no settings"
    assert named - known - compose_only == set(), "not a setting"
    assert known - named == set(), "missing from .env.example"


def test_env_example_values_are_accepted_by_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Values from the environment are strings: each one must parse as its service reads it.
    text = (ROOT / ".env.example").read_text()
    values = dict(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=(.+)$", text, flags=re.MULTILINE))
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for prefix, cls in SETTINGS:
        settings = cls()
        for name in cls.model_fields:
            if f"{prefix}{name.upper()}" in values:
                assert str(getattr(settings, name)) != "", name


def test_env_example_gateway_values_are_the_gateway_defaults() -> None:
    """compose and `make run` (devstack.gateway) render the template with the same values."""
    text = (ROOT / ".env.example").read_text()
    values = dict(re.findall(r"^#?\s*(GATEWAY_[A-Z0-9_]+)=(.*)$", text, flags=re.MULTILINE))
    assert {name: values.get(name) for name in GATEWAY_DEFAULTS} == GATEWAY_DEFAULTS
    readme = README.read_text()
    for name, default in GATEWAY_DEFAULTS.items():
        shown = f"`{default}`" if default else "(empty)"
        assert f"| `{name}` | {shown} |" in readme, name
