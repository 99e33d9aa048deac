"""Which callback URLs (POST /record's ``callback_url``) the service will call.

http(s) with a host, no credentials, no fragment; loopback, private, link-local and other
non-global addresses (and ``localhost``) are refused unless
``AUDIO_WEBHOOK_ALLOW_PRIVATE_HOSTS``: a client must not make the service call into its own
network. A host *name* is not resolved here: a name pointing inside is for the deployment's
egress rules to stop (resolving now would not hold at delivery time anyway).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from audio_service.settings import AudioSettings
from shared.errors import Unprocessable


def check_callback_url(url: str, settings: AudioSettings) -> str:
    """The URL if the service may call it; 422 ``bad_callback_url`` (or
    ``callbacks_disabled``) otherwise."""
    if settings.webhook_secret is None:
        raise Unprocessable(
            "This service sends no callbacks (AUDIO_WEBHOOK_SECRET is unset); poll the job.",
            code="callbacks_disabled",
        )
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad_url("must be an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise _bad_url("must not hold credentials")
    if parts.fragment:
        raise _bad_url("must not have a fragment")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise _bad_url("has a malformed port") from None
    if not settings.webhook_allow_private_hosts and _private(parts.hostname):
        raise _bad_url("must not point at a loopback, private or link-local address")
    return url.strip()


def _bad_url(why: str) -> Unprocessable:
    return Unprocessable(f"The callback_url {why}.", code="bad_callback_url")


def _private(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.") or host.lower().endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: not resolved here (see the module's docstring)
    return not address.is_global
