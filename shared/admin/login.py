"""Who may use the admin: one password, a signed session cookie, and bounded login attempts.

starlette-admin draws the login page and calls ``AdminLogin``:

- ``login``: the attempt first takes a slot from two moving-window limits (``limits``): one
  per client address (the address the gateway saw, as the access log has it) and one for
  all clients together; with either used up, the answer is a 429 page and the password is
  not even checked, so guessing is bounded whatever the guesses. Then the name and the
  password are checked (the Argon2id hash, off the event loop) and a wrong one is a plain
  400 refusal that does not say which of the two was wrong;
- the session is one cookie, signed (itsdangerous, keyed by ``*_ADMIN_SECRET_KEY``) and
  timestamped, whose value names the password hash it was made under: it expires after
  ``*_ADMIN_SESSION_MAX_AGE_S`` even if a browser keeps it, and a new password hash or a
  new secret key signs every admin out. ``shared.admin.responses`` gives it its attributes
  (``HttpOnly``, ``SameSite=Strict``, the admin's path, ``Secure`` behind https);
- ``logout`` (a POST, so under the CSRF check) deletes the cookie.

The limits live in the process: with several instances, each counts its own attempts.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from itsdangerous import BadSignature, TimestampSigner
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.status import HTTP_303_SEE_OTHER, HTTP_429_TOO_MANY_REQUESTS
from starlette.templating import Jinja2Templates
from starlette_admin.auth import AdminUser, AuthProvider
from starlette_admin.exceptions import LoginFailed
from starlette_admin.helpers import index_url, safe_redirect_url

from shared.admin.password import password_matches
from shared.request_context import client_address

WRONG_CREDENTIALS = "Wrong name or password."
TOO_MANY_ATTEMPTS = "Too many login attempts; try again in a minute."


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminCredentials:
    username: str
    password_hash: str
    secret_key: str
    session_cookie: str
    session_max_age_s: int
    attempts_per_client: int
    attempts_total: int


class LoginLimits:
    """Login attempts per minute: ``per_client`` for each address, ``total`` for all."""

    def __init__(self, *, per_client: int, total: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_client = RateLimitItemPerMinute(per_client)
        self._total = RateLimitItemPerMinute(total)

    def take(self, client: str) -> bool:
        """Takes one attempt for ``client``; False when its budget or the total is spent."""
        return self._limiter.hit(self._per_client, "client", client) and self._limiter.hit(
            self._total, "total"
        )


class AdminLogin(AuthProvider):
    def __init__(self, credentials: AdminCredentials) -> None:
        super().__init__(login_path="/login", logout_path="/logout")
        self._credentials = credentials
        self._signer = TimestampSigner(
            credentials.secret_key, salt=f"{credentials.session_cookie}.session"
        )
        # The cookie's value: changes when the password hash does.
        self._session_value = hashlib.sha256(credentials.password_hash.encode()).hexdigest()
        self._limits = LoginLimits(
            per_client=credentials.attempts_per_client, total=credentials.attempts_total
        )

    async def render_login(self, request: Request, templates: Jinja2Templates) -> Response:
        if request.method == "POST" and not self._limits.take(client_address(request.scope)):
            return templates.TemplateResponse(
                request=request,
                name="login.html",
                context={"error": TOO_MANY_ATTEMPTS},
                status_code=HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": "60"},
            )
        return await super().render_login(request, templates)

    async def login(
        self, username: str, password: str, remember_me: bool, request: Request
    ) -> Response | None:
        # The hash is checked whatever the name, so a wrong name costs as much as a wrong
        # password; both are the same refusal.
        good_password = await password_matches(self._credentials.password_hash, password)
        good_name = hmac.compare_digest(username.encode(), self._credentials.username.encode())
        if not (good_password and good_name):
            raise LoginFailed(WRONG_CREDENTIALS)
        fallback = index_url(request)
        target = safe_redirect_url(request.query_params.get("next") or fallback, request, fallback)
        response = RedirectResponse(target, status_code=HTTP_303_SEE_OTHER)
        response.set_cookie(
            self._credentials.session_cookie,
            self._signer.sign(self._session_value).decode(),
            # Without "remember me" the browser drops the cookie when it closes; either way
            # the signature's timestamp ends the session after the maximum age.
            max_age=self._credentials.session_max_age_s if remember_me else None,
        )
        return response

    async def authenticate(self, request: Request) -> AdminUser | None:
        cookie = request.cookies.get(self._credentials.session_cookie)
        if cookie is None:
            return None
        try:
            value = self._signer.unsign(cookie, max_age=self._credentials.session_max_age_s)
        except BadSignature:  # also an expired one (SignatureExpired)
            return None
        if not hmac.compare_digest(value, self._session_value.encode()):
            return None
        return AdminUser(username=self._credentials.username)

    async def logout(self, request: Request) -> Response | None:
        response = RedirectResponse(
            request.url_for(f"{request.app.state.ROUTE_NAME}:login"),
            status_code=HTTP_303_SEE_OTHER,
        )
        response.delete_cookie(self._credentials.session_cookie)
        return response
