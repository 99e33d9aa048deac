"""What every admin response carries, whoever in the admin made it (pure ASGI).

- **Cookies** (the session, starlette-admin's CSRF and flash cookies): each gets the admin's
  own path (so the quiz admin's and the audio admin's cookies never meet on one origin),
  ``SameSite=Strict``, ``HttpOnly`` (all but the CSRF cookie, which the admin's scripts
  read to send it back: that is the double-submit check) and ``Secure`` when the client
  reached the gateway over https (its ``X-Forwarded-Proto``; the request's scheme is set
  from it too, so the admin's own links say https).
- **Headers**: a Content-Security-Policy of the admin's own (see ``CONTENT_SECURITY_POLICY``),
  ``X-Frame-Options: DENY``, ``nosniff``, ``Referrer-Policy: no-referrer``, and
  ``Cache-Control: no-store`` on pages (they show stored data; the static files are
  revalidated instead).
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette_admin.security.csrf import CSRFMiddleware

# starlette-admin's templates hold inline <script> blocks (page setup, the CSRF header of its
# jQuery calls) and inline styles, so the admin needs 'unsafe-inline' for both, unlike the
# page; everything else is its own origin only (its static files, the record links it plays)
# and data: URLs for the icons its stylesheets embed. No frames, no plugins, no form or
# connection to another origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; media-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}
# Read by the admin's own scripts (double-submit): the one cookie that cannot be HttpOnly.
SCRIPT_READABLE_COOKIES = frozenset({CSRFMiddleware.cookie_name})


def forwarded_https(scope: Scope) -> bool:
    proto = Headers(scope=scope).get("x-forwarded-proto", "")
    return proto.split(",", 1)[0].strip().lower() == "https"


def confine_cookie(set_cookie: str, *, path: str, secure: bool) -> str:
    """``set_cookie`` (one Set-Cookie value) with the admin's cookie attributes."""
    cookie = SimpleCookie()
    try:
        cookie.load(set_cookie)
    except CookieError:
        return set_cookie
    if len(cookie) != 1:
        return set_cookie
    (morsel,) = cookie.values()
    morsel["path"] = path
    morsel["samesite"] = "Strict"
    morsel["httponly"] = morsel.key not in SCRIPT_READABLE_COOKIES
    morsel["secure"] = secure
    return morsel.OutputString()


class AdminResponses:
    """Wraps the admin's app, mounted at ``base_path`` (e.g. ``/admin/quiz``)."""

    def __init__(self, app: ASGIApp, *, base_path: str) -> None:
        self.app = app
        self.cookie_path = f"{base_path}/"
        self.static_prefix = f"{base_path}/static/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = forwarded_https(scope)
        if secure:
            scope = {**scope, "scheme": "https"}
        static = scope["path"].startswith(self.static_prefix)

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                cookies = headers.getlist("set-cookie")
                del headers["set-cookie"]
                for value in cookies:
                    confined = confine_cookie(value, path=self.cookie_path, secure=secure)
                    headers.append("set-cookie", confined)
                for name, value in _HEADERS.items():
                    headers[name] = value
                if "cache-control" not in headers:
                    headers["cache-control"] = "no-cache" if static else "no-store"
            await send(message)

        await self.app(scope, receive, send_with_policy)
