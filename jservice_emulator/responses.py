"""Responses rendered the way jservice's Rails stack wrote them."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse, Response

RAILS_JSON = "application/json; charset=utf-8"


def rails_json(content: Any) -> str:
    # ActiveSupport escapes these three even inside strings; a consumer that decodes the
    # raw body with anything but a JSON parser would see "\u003ci\u003e", as it did upstream.
    text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class RailsJSONResponse(JSONResponse):
    media_type = RAILS_JSON

    def render(self, content: Any) -> bytes:
        return rails_json(content).encode("utf-8")


def problem(status: int, title: str, detail: str) -> Response:
    """An RFC 9457 problem document, the project's error shape."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")
