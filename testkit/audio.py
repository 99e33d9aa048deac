"""Talking to the audio service as a client does: users, uploads, tokens.

Every helper takes an ``httpx.AsyncClient`` of either an in-process app or the gateway.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx

REQUEST_ID_HEADER = "X-Request-ID"


@dataclass(frozen=True)
class AudioUser:
    user_id: int
    name: str
    token: str


async def create_user(client: httpx.AsyncClient, name: str | None = None) -> AudioUser:
    """``POST /user``; a random name unless one is given."""
    name = name or f"user-{uuid.uuid4().hex[:12]}"
    response = await client.post("/user", json={"name": name})
    assert response.status_code == 201, response.text
    body = response.json()
    return AudioUser(user_id=int(body["user_id"]), name=body["name"], token=str(body["token"]))


def bearer_header(user: AudioUser) -> dict[str, str]:
    return {"Authorization": f"Bearer {user.token}"}


async def upload(
    client: httpx.AsyncClient,
    user: AudioUser | None,
    content: bytes | Path,
    *,
    filename: str = "tone.wav",
    token: str | None = None,
    bearer: str | None = None,
    user_id: int | str | None = None,
    headers: dict[str, str] | None = None,
    send_token: bool = True,
    request_id: str | None = None,
) -> httpx.Response:
    """``POST /record``; the user's token goes in the form unless ``bearer`` or ``token`` is
    given (``send_token=False``: no token field at all)."""
    data: dict[str, str] = {}
    if user_id is not None:
        data["user_id"] = str(user_id)
    elif user is not None:
        data["user_id"] = str(user.user_id)
    form_token = token if token is not None else (user.token if user and bearer is None else None)
    if form_token is not None and send_token:
        data["token"] = form_token
    all_headers = dict(headers or {})
    if bearer is not None:
        all_headers["Authorization"] = bearer
    if request_id is not None:
        all_headers[REQUEST_ID_HEADER] = request_id
    body = await anyio.Path(content).read_bytes() if isinstance(content, Path) else content
    return await client.post(
        "/record",
        data=data,
        files={"file": (filename, body, "audio/wav")},
        headers=all_headers,
    )
