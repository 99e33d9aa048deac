"""The public link of a record: ``<base>/record?id=<record_id>&user=<user_id>``.

The base is ``AUDIO_PUBLIC_BASE_URL`` when set. Otherwise it is the address the client used:
the gateway's ``X-Forwarded-Proto``/``X-Forwarded-Host`` (+ ``X-Forwarded-Port``), else the
``Host`` header. Those values come from the client, so each is checked against a strict
grammar (scheme http/https; a hostname, IPv4 or bracketed IPv6 address and an optional port)
and a value that fails is ignored, never copied: a hostile header can at worst make a
client's own link name a host that client chose, never inject text into the URL or into
other headers. A request that names no usable host at all (HTTP/1.0 without ``Host``, or
nginx's placeholder server name ``_``) gets a 400 rather than a link to nowhere or to the
instance's own address; the routes that answer with links check it before doing any work.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from urllib.parse import urlencode

from starlette.requests import Request

from audio_service.settings import AudioSettings
from shared.errors import BadRequest

_HOST_PORT = re.compile(
    r"(?P<host>\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?)"
    r"(?::(?P<port>[0-9]{1,5}))?"
)
_PORT = re.compile(r"[0-9]{1,5}")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _first(value: str | None) -> str:
    # A chain of proxies appends: the first entry is what the client itself sent.
    return (value or "").split(",", 1)[0].strip()


def _valid_port(port: str | None) -> bool:
    return port is not None and 0 < int(port) <= 65535


def valid_host(value: str) -> str | None:
    """``value`` lower-cased if it is ``host[:port]`` by the grammar above, else None."""
    match = _HOST_PORT.fullmatch(value)
    if match is None or ".." in match["host"] or not any(c.isalnum() for c in match["host"]):
        return None
    host, port = match["host"], match["port"]
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return None
    if port is not None and not _valid_port(port):
        return None
    return value.lower()


def request_base_url(request: Request) -> str | None:
    """The scheme and host the client used; None when the request names no usable host."""
    headers = request.headers
    scheme = _first(headers.get("x-forwarded-proto")).lower()
    if scheme not in _DEFAULT_PORTS:
        scheme = request.url.scheme if request.url.scheme in _DEFAULT_PORTS else "http"

    forwarded = valid_host(_first(headers.get("x-forwarded-host")))
    host = forwarded or valid_host(headers.get("host", "").strip())
    if host is None:
        return None

    port = _first(headers.get("x-forwarded-port"))
    has_port = host.rsplit("]", 1)[-1].count(":") == 1
    if (
        forwarded
        and not has_port
        and _PORT.fullmatch(port)
        and _valid_port(port)
        and int(port) != _DEFAULT_PORTS[scheme]
    ):
        host = f"{host}:{int(port)}"
    return f"{scheme}://{host}"


def base_url(request: Request, settings: AudioSettings) -> str:
    base = settings.public_base_url or request_base_url(request)
    if base is None:
        raise BadRequest(
            "The request names no host (no usable Host header), so no link to the record can "
            "be made: send a Host header, or set AUDIO_PUBLIC_BASE_URL on the service.",
            code="no_host",
        )
    return base


def record_url(base: str, record_id: uuid.UUID, user_id: int) -> str:
    return f"{base}/record?{urlencode({'id': str(record_id), 'user': user_id})}"


def job_url(base: str, job_id: uuid.UUID) -> str:
    return f"{base}/record/jobs/{job_id}"


def peaks_url(base: str, record_id: uuid.UUID, user_id: int) -> str:
    return f"{base}/record/peaks?{urlencode({'id': str(record_id), 'user': user_id})}"
