"""The gateway's rate limits (issue 13) and what it keeps from the public: /metrics and
nginx's own counters. The real nginx with the project's template, stand-ins behind it.

Two client addresses on loopback: 127.0.0.1 and 127.0.0.2 (a socket bound to 127.0.0.2
reaches the gateway's 127.0.0.1; every 127/8 address is this machine's).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from devstack.gateway import Gateway
from tests.gateway.checks import assert_problem
from tests.gateway.conftest import EchoServer, MakeGateway
from tests.gateway.raw_http import exchange

pytestmark = pytest.mark.e2e

# 6 a minute: one more request every 10 s, far longer than a test takes; bursts of 2.
LIMITS = {
    "GATEWAY_RATE_LIMITS": "on",
    "GATEWAY_USER_RATE_PER_MINUTE": "6",
    "GATEWAY_USER_BURST": "2",
    "GATEWAY_RECORD_RATE_PER_MINUTE": "12",
    "GATEWAY_RECORD_BURST": "1",
    "GATEWAY_QUIZ_RATE_PER_MINUTE": "30",
    "GATEWAY_QUIZ_BURST": "3",
}
OTHER_ADDRESS = "127.0.0.2"
CLOSE = b"Content-Length: 0\r\nConnection: close\r\n\r\n"


@pytest.fixture
def limited(make_gateway: MakeGateway, upstreams: dict[str, EchoServer]) -> Gateway:
    return make_gateway([upstreams["quiz-a"].address], [upstreams["audio-a"].address], LIMITS)


def client_from(gateway: Gateway, address: str = "127.0.0.1") -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=gateway.url, timeout=5, transport=transport)


@pytest.fixture
def client(limited: Gateway) -> Iterator[httpx.Client]:
    with client_from(limited) as http:
        yield http


def statuses(client: httpx.Client, method: str, path: str, count: int) -> list[int]:
    return [client.request(method, path, content=b"{}").status_code for _ in range(count)]


def test_a_burst_passes_and_the_next_request_gets_429_with_retry_after(
    client: httpx.Client,
) -> None:
    assert statuses(client, "POST", "/user", 3) == [200] * 3  # the first, then the burst of 2
    refused = client.post("/user", content=b"{}")
    body = assert_problem(refused, 429, "too-many-requests")
    assert refused.headers["retry-after"] == "10"  # 60 s / 6
    assert body["detail"] == (
        "Too many POST /user requests from this address: at most 6 a minute, in bursts of 2. "
        "Retry after 10 s."
    )


def test_each_route_has_its_own_limit(client: httpx.Client) -> None:
    assert statuses(client, "POST", "/record", 3) == [200, 200, 429]
    assert client.post("/record").headers["retry-after"] == "5"  # 60 s / 12
    # POST /quiz, under either path, shares one limit; other requests have none.
    assert statuses(client, "POST", "/quiz", 2) == [200] * 2
    assert statuses(client, "POST", "/services/quiz/quiz", 3) == [200, 200, 429]
    assert statuses(client, "GET", "/quiz/questions", 5) == [200] * 5
    assert statuses(client, "GET", "/user/1/records", 5) == [200] * 5
    assert statuses(client, "DELETE", "/record?id=1&user=1", 5) == [200] * 5


def test_the_limit_is_per_client_address(limited: Gateway, client: httpx.Client) -> None:
    assert statuses(client, "POST", "/user", 4)[-1] == 429
    with client_from(limited, OTHER_ADDRESS) as other:
        assert statuses(other, "POST", "/user", 3) == [200] * 3
        assert other.get("/services/audio/echo").json()["headers"]["x-real-ip"] == OTHER_ADDRESS


def test_the_same_path_written_otherwise_is_the_same_limit(limited: Gateway) -> None:
    # Raw requests: an HTTP client would tidy these paths up before sending them.
    paths = [b"/user", b"//user", b"/us%65r", b"/services/audio/user"]
    got = [
        exchange(limited.address, b"POST %s HTTP/1.1\r\nHost: x\r\n%s" % (path, CLOSE))
        for path in paths
    ]
    assert [response.status_code for response in got] == [200, 200, 200, 429]


@pytest.mark.parametrize(("value", "limited_after"), [("off", None), ("yes", 3)])
def test_rate_limits_switch_off_only_when_told_so(
    make_gateway: MakeGateway, upstreams: dict[str, EchoServer], value: str, limited_after: int
) -> None:
    """ "off" switches them off; anything else (a typo) keeps them on."""
    gateway = make_gateway(
        [upstreams["quiz-a"].address],
        [upstreams["audio-a"].address],
        {**LIMITS, "GATEWAY_RATE_LIMITS": value},
    )
    with client_from(gateway) as http:
        got = statuses(http, "POST", "/user", 10)
    expected = [200] * 10 if limited_after is None else [200] * 3 + [429] * 7
    assert got == expected


def test_metrics_are_not_served_to_the_public(client: httpx.Client) -> None:
    for path in ("/services/quiz/metrics", "/services/audio/metrics", "/services/quiz/metrics/"):
        assert_problem(client.get(path), 404, "not-found")
    assert client.get("/services/quiz/health").status_code == 200  # the rest is served


def test_nginx_counters_only_for_the_allowed_address(limited: Gateway) -> None:
    with client_from(limited) as local:
        status = local.get("/_gateway/status")
    assert status.status_code == 200
    assert status.text.startswith("Active connections: ")
    assert "server accepts handled requests" in status.text
    with client_from(limited, OTHER_ADDRESS) as other:
        assert_problem(other.get("/_gateway/status"), 403, "forbidden")
