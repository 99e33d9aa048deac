"""Each service's OpenAPI document: FastAPI's, the ``Problem`` schema, and the settings.

A static schema cannot know a setting such as ``QUIZ_MAX_QUESTIONS_NUM`` or
``AUDIO_MAX_UPLOAD_BYTES``. Each service's ``api.py`` has a ``document_settings(settings)``
that returns an edit of the generated document; ``create_service_app`` hands it to
``install_openapi``, the one place the document is built (once, on first request).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from shared.problems import Problem

SchemaEdit = Callable[[dict[str, Any]], None]


def operation(schema: dict[str, Any], operation_id: str) -> dict[str, Any]:
    """The operation with ``operation_id`` in a generated document."""
    for methods in schema["paths"].values():
        for candidate in methods.values():
            if isinstance(candidate, dict) and candidate.get("operationId") == operation_id:
                return candidate
    raise KeyError(f"no operation {operation_id!r} in the OpenAPI document")


def _add_problem_schema(schema: dict[str, Any]) -> None:
    _, definitions = models_json_schema(
        [(Problem, "serialization")], ref_template="#/components/schemas/{model}"
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(definitions.get("$defs", {}))


def install_openapi(app: FastAPI, edits: Sequence[SchemaEdit] = ()) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()  # FastAPI keeps it as app.openapi_schema
            _add_problem_schema(schema)
            for edit in edits:
                edit(schema)
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]
