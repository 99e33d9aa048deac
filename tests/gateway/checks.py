"""What the gateway's own answers look like, and how to find a request in its access log."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from devstack.gateway import Gateway

PROBLEM_TYPE = "https://problems.quiz-audio.dev/"
NGINX_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """The gateway's own error: RFC 9457 body in the services' shape, request id echoed."""
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"type", "title", "status", "detail", "request_id"}
    assert body["type"] == PROBLEM_TYPE + slug
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert response.headers.get_list("x-request-id") == [body["request_id"]]
    return body


def wait_for_log(gateway: Gateway, request_id: str, timeout: float = 2.0) -> dict[str, Any]:
    """The access-log entry of one request (nginx writes it just after the response)."""
    deadline = time.monotonic() + timeout
    while True:
        for entry in gateway.access_log_entries():
            if entry["request_id"] == request_id:
                return entry
        if time.monotonic() > deadline:
            raise AssertionError(f"no access-log entry for request id {request_id}")
        time.sleep(0.02)
