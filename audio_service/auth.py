"""User tokens: made once, stored only as an HMAC, checked in constant time.

Every failure (no token, malformed token, unknown user, another user's token) is the same
401 problem, so the answer never tells whether a user id exists.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from audio_service import repository
from audio_service.models import TOKEN_HASH_BYTES
from shared.errors import Unauthorized

_UNAUTHORIZED_DETAIL = "Missing or invalid token for this user."
_WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="audio"'}
# Compared against when the user does not exist, so that path costs the same HMAC compare.
_NO_USER_HASH = bytes(TOKEN_HASH_BYTES)


def unauthorized() -> Unauthorized:
    return Unauthorized(_UNAUTHORIZED_DETAIL, headers=dict(_WWW_AUTHENTICATE))


class TokenHasher:
    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def hash(self, token: str) -> bytes:
        return hmac.new(self._key, token.encode(), hashlib.sha256).digest()

    def new_token(self) -> tuple[str, bytes]:
        """A fresh UUID4 token and its stored form."""
        token = str(uuid.uuid4())
        return token, self.hash(token)


def canonical_token(raw: str | None) -> str | None:
    """Tokens are UUIDs: any spelling ``uuid.UUID`` reads (upper case, no dashes) is accepted."""
    if raw is None or not raw.strip():
        return None
    try:
        return str(uuid.UUID(raw.strip()))
    except ValueError:
        return None


def choose_token(form_token: str | None, bearer_token: str | None) -> str | None:
    """The token from the form field or the ``Authorization: Bearer`` header.

    Two different tokens in one request is refused rather than guessing which one counts.
    """
    form_token = form_token.strip() if form_token and form_token.strip() else None
    bearer_token = bearer_token.strip() if bearer_token and bearer_token.strip() else None
    if form_token and bearer_token and form_token != bearer_token:
        raise unauthorized()
    return form_token or bearer_token


async def authenticate(
    session: AsyncSession, hasher: TokenHasher, user_id: int, raw_token: str | None
) -> None:
    """Returns if ``raw_token`` is user ``user_id``'s; raises the one 401 problem otherwise.

    An unknown user and a wrong token take the same steps (one single-column query, one HMAC
    compare), so their timing does not tell a user id that exists from one that does not.
    """
    token = canonical_token(raw_token)
    if token is None:
        raise unauthorized()
    presented = hasher.hash(token)
    stored = await repository.token_hash(session, user_id)
    matches = hmac.compare_digest(presented, stored if stored is not None else _NO_USER_HASH)
    if not matches or stored is None:
        raise unauthorized()
