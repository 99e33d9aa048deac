"""The gateway against careless and hostile clients (issue 9): body limits, slow clients,
forwarded headers, missing hosts, nginx's own errors and odd byte ranges.

The real nginx with the project's template, in front of the stand-in upstreams of conftest.py.
Slow clients are driven with raw sockets in bounded loops (tests/gateway/raw_http.py); every
assertion is on what the socket received.
"""

from __future__ import annotations

import json
import random
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from audio_service.ranges import parse_range
from devstack.gateway import TEMPLATE_PATH, Gateway
from shared.errors import RangeNotSatisfiable
from tests.gateway.checks import assert_problem, wait_for_log
from tests.gateway.conftest import TEST_SMALL_BODY_MAX_SIZE, EchoServer, MakeGateway
from tests.gateway.raw_http import exchange, pace

pytestmark = pytest.mark.e2e

SMALL_LIMIT = int(TEST_SMALL_BODY_MAX_SIZE)
# Short timers for the slow-client tests; the loops below wait about 0.1 s per step.
SLOW_SETTINGS = {"GATEWAY_HEADER_TIMEOUT": "1s", "GATEWAY_BODY_IDLE_TIMEOUT": "2s"}
STEP_S = 0.1


@pytest.fixture
def client(gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=5) as http:
        yield http


@pytest.fixture
def slow_gateway(make_gateway: MakeGateway, upstreams: dict[str, EchoServer]) -> Gateway:
    quiz, audio = upstreams["quiz-a"].address, upstreams["audio-a"].address
    return make_gateway([quiz], [audio], SLOW_SETTINGS)


def log_entries(gateway: Gateway, match: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Access-log entries that ``match``; waits (2 s at most) until there is one."""
    deadline = time.monotonic() + 2
    while True:
        found = [entry for entry in gateway.access_log_entries() if match(entry)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


# --- 9.1: every body but the upload's is small ------------------------------------------------


SMALL_BODY_ROUTES = [
    ("GET", "/record?id=1&user=2"),
    ("DELETE", "/record?id=1&user=2"),
    ("PUT", "/record"),
    ("GET", "/record/1"),
    ("POST", "/record/1"),
    ("POST", "/user"),
    ("GET", "/user/1/records"),
    ("POST", "/quiz"),
    ("GET", "/quiz/1"),
    ("POST", "/services/audio/record"),
    ("POST", "/services/quiz/quiz"),
    ("GET", "/health"),
    ("POST", "/nowhere"),
]


@pytest.mark.parametrize(("method", "url"), SMALL_BODY_ROUTES)
def test_body_over_the_small_limit_is_a_problem_413(
    client: httpx.Client, method: str, url: str
) -> None:
    response = client.request(method, url, content=b"x" * (SMALL_LIMIT + 1))
    assert_problem(response, 413, "payload-too-large")


def test_head_with_a_body_over_the_small_limit_is_refused(client: httpx.Client) -> None:
    response = client.request("HEAD", "/record?id=1&user=2", content=b"x" * (SMALL_LIMIT + 1))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("method", "url"), [r for r in SMALL_BODY_ROUTES if r[1] not in ("/health", "/nowhere")]
)
def test_body_at_the_small_limit_reaches_the_service(
    client: httpx.Client, method: str, url: str
) -> None:
    echo = client.request(method, url, content=b"x" * SMALL_LIMIT).json()
    assert (echo["method"], echo["body_bytes"]) == (method, SMALL_LIMIT)


def test_only_post_record_has_the_upload_limit(client: httpx.Client) -> None:
    body = b"x" * (SMALL_LIMIT * 2)  # over the small limit, under the upload's (1k)
    assert client.post("/record", content=body).json()["body_bytes"] == len(body)
    assert_problem(client.put("/record", content=body), 413, "payload-too-large")


def test_chunked_body_over_the_small_limit_is_a_problem_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(4):
            yield b"x" * SMALL_LIMIT

    assert_problem(client.post("/quiz", content=chunks()), 413, "payload-too-large")


# --- 9.4: slow clients ------------------------------------------------------------------------


def test_trickled_request_head_is_cut_off_at_the_header_deadline(slow_gateway: Gateway) -> None:
    """One byte per step arrives well within any per-read timeout; the head's deadline holds."""
    head = b"GET /quiz HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 150 + b"\r\n\r\n"
    pieces = [head[i : i + 1] for i in range(len(head))]
    paced = pace(slow_gateway.address, pieces, wait=STEP_S, max_waits=100)
    assert paced.closed, f"still open after {paced.seconds:.1f} s and {paced.sent} bytes"
    assert paced.sent < len(head)
    assert paced.received == b""  # nginx answers a timed-out head with nothing at all
    assert log_entries(slow_gateway, lambda e: e["status"] == 408)


def test_paused_body_is_cut_off_at_the_idle_timeout(slow_gateway: Gateway) -> None:
    head = b"POST /quiz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    paced = pace(slow_gateway.address, [head, b"x" * 10], wait=STEP_S, max_waits=50)
    assert paced.closed, f"still open after {paced.seconds:.1f} s"
    assert paced.received == b""
    [entry] = log_entries(slow_gateway, lambda e: e["request"] == "POST /quiz HTTP/1.1")
    assert entry["status"] == 408


def test_slow_steady_upload_outlasting_every_timer_passes(slow_gateway: Gateway) -> None:
    """An honest slow link: 30 steps (longer than the head deadline and the idle timeout
    together), a pause of one step each time. Neither timer adds up over the upload."""
    pieces = [b"y" * 30] * 30  # within the upload limit of these tests (1k)
    length = sum(map(len, pieces))
    head = b"POST /record HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % length
    paced = pace(
        slow_gateway.address, [head, *pieces], wait=STEP_S, max_waits=60, stop_when_answered=True
    )
    assert paced.response.status_code == 200
    assert paced.response.json()["body_bytes"] == length


def test_services_early_answer_reaches_a_trickling_client(slow_gateway: Gateway) -> None:
    """Bodies stream to the service, so its own refusal (a body deadline, here after 5 bytes)
    reaches a client that trickles a body, and the gateway then closes the connection."""
    head = (
        b"POST /quiz HTTP/1.1\r\nHost: x\r\nX-Echo-Answer-After: 5\r\nX-Echo-Status: 408\r\n"
        b"Content-Length: 400\r\n\r\n"
    )
    paced = pace(slow_gateway.address, [head, *[b"z"] * 100], wait=STEP_S, max_waits=100)
    assert paced.closed
    assert paced.sent < 100  # cut off long before the body was complete
    response = paced.response
    assert response.status_code == 408
    assert response.json()["instance"] == "quiz-a"
    assert response.json()["body_bytes"] >= 5


def test_requests_in_progress_per_client_are_capped(make_gateway: MakeGateway) -> None:
    """Two requests may be in progress from one address; the third gets 429 until one ends."""
    upstream = EchoServer("audio-held")
    upstream.start()
    try:
        gateway = make_gateway(
            [upstream.address], [upstream.address], {"GATEWAY_MAX_CONNECTIONS_PER_CLIENT": "2"}
        )
        _check_the_cap(gateway, upstream)
    finally:
        upstream.stop()


def _check_the_cap(gateway: Gateway, upstream: EchoServer) -> None:
    head = b"POST /quiz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nx"
    held = [socket.create_connection(gateway.address, timeout=5) for _ in range(2)]
    try:
        for sock in held:
            sock.sendall(head)
        # Both requests are in progress once the stand-in is reading their bodies.
        deadline = time.monotonic() + 5
        while upstream.stats.in_progress < 2:
            assert time.monotonic() < deadline, "the held requests never reached the service"
            time.sleep(0.01)
        with httpx.Client(base_url=gateway.url, timeout=5) as http:
            assert_problem(http.get("/quiz"), 429, "too-many-requests")
            held[0].sendall(b"x" * 9)
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = held[0].recv(65536)
                assert chunk, "the held request got no answer"
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200")
            # nginx frees the request before it reads anything new (one worker).
            assert http.get("/quiz").status_code == 200
    finally:
        for sock in held:
            sock.close()


# --- 9.6 / 9.8: forwarded headers and the client address ------------------------------------

# Headers with which some proxy tells a server or framework the client's address, scheme,
# host, port, path or method: a client's own copy must never reach a service.
FORWARDED_HEADERS = [
    "Forwarded",
    "X-Forwarded",
    "Forwarded-For",
    "X-Forwarded-Port",
    "X-Forwarded-Server",
    "X-Forwarded-Scheme",
    "X-Forwarded-Protocol",
    "X-Forwarded-Ssl",
    "X-Forwarded-Uri",
    "X-Forwarded-Path",
    "X-Forwarded-Method",
    "X-Forwarded-Prefix",
    "X-Original-Forwarded-For",
    "X-Original-URL",
    "X-Original-URI",
    "X-Rewrite-URL",
    "X-Original-Host",
    "X-Host",
    "X-Scheme",
    "X-Url-Scheme",
    "Front-End-Https",
    "X-Client-IP",
    "Client-IP",
    "True-Client-IP",
    "X-Cluster-Client-IP",
    "CF-Connecting-IP",
    "Fastly-Client-IP",
    "X-HTTP-Method-Override",
    "X-HTTP-Method",
    "X-Method-Override",
]


def test_client_forwarded_headers_never_reach_a_service(client: httpx.Client) -> None:
    sent = {name: "evil.example" for name in FORWARDED_HEADERS}
    sent |= {"X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.7"}
    sent |= {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
    for url in ("/quiz", "/record?id=1&user=2", "/services/audio/health"):
        received = client.get(url, headers=sent).json()["headers"]
        leaked = sorted(set(received) & {name.lower() for name in FORWARDED_HEADERS})
        assert leaked in ([], ["x-forwarded-prefix"])
        assert received["x-forwarded-for"] == received["x-real-ip"] == "127.0.0.1"
        assert received["x-forwarded-proto"] == "http"
        assert received["x-forwarded-host"] == received["host"]
        assert received.get("x-forwarded-prefix", "/services/audio") == "/services/audio"


def test_forwarded_port_cannot_reach_the_link(client: httpx.Client) -> None:
    """The issue's probe: the link's host:port is only ever the Host the client wrote."""
    headers = {"Host": "evil.example", "X-Forwarded-Port": "6666"}
    received = client.post("/record", headers=headers, content=b"x").json()["headers"]
    assert received["host"] == received["x-forwarded-host"] == "evil.example"
    assert "x-forwarded-port" not in received


@pytest.mark.parametrize("url", ["/record?id=1&user=2", "/quiz", "/services/quiz/docs", "/x"])
def test_request_without_host_is_refused(gateway: Gateway, url: str) -> None:
    response = exchange(gateway.address, f"GET {url} HTTP/1.0\r\n\r\n".encode())
    body = assert_problem(response, 400, "bad-request")
    assert "Host" in body["detail"]


def test_request_without_host_may_still_probe_health(gateway: Gateway) -> None:
    response = exchange(gateway.address, b"GET /health HTTP/1.0\r\n\r\n")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_request_without_host_gets_the_public_host(
    make_gateway: MakeGateway, upstreams: dict[str, EchoServer]
) -> None:
    address = upstreams["audio-a"].address
    gateway = make_gateway([address], [address], {"GATEWAY_PUBLIC_HOST": "quiz.example:8443"})
    response = exchange(gateway.address, b"POST /record HTTP/1.0\r\nContent-Length: 1\r\n\r\nx")
    received = response.json()["headers"]
    assert received["host"] == received["x-forwarded-host"] == "quiz.example:8443"


def test_a_trusted_outer_proxy_names_the_client(
    make_gateway: MakeGateway, upstreams: dict[str, EchoServer]
) -> None:
    address = upstreams["quiz-a"].address
    gateway = make_gateway([address], [address], {"GATEWAY_TRUSTED_PROXY": "127.0.0.1"})
    # The outer proxy (this test, on 127.0.0.1) appended the client; the first entry is
    # whatever the client itself claimed, and is not believed.
    chain = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7", "X-Request-ID": "via-proxy"}
    with httpx.Client(base_url=gateway.url, timeout=5) as http:
        received = http.get("/quiz", headers=chain).json()["headers"]
    assert received["x-forwarded-for"] == received["x-real-ip"] == "203.0.113.7"
    assert wait_for_log(gateway, "via-proxy")["remote_addr"] == "203.0.113.7"


# --- 9.5: every answer nginx makes itself is problem+json ------------------------------------


@pytest.mark.parametrize(
    ("raw", "status", "slug"),
    [
        (
            b"POST /quiz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            501,
            "not-implemented",
        ),
        (b"GET /quiz HTTP/2.0\r\nHost: x\r\n\r\n", 505, "http-version-not-supported"),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "bad-request"),
        (b"TRACE /quiz HTTP/1.1\r\nHost: x\r\n\r\n", 405, "method-not-allowed"),
        (b"GET /quiz HTTP/1.1\r\n\r\n", 400, "bad-request"),
        (b"GET /quiz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, "bad-request"),
        (b"POST /quiz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, "bad-request"),
        (
            b"POST /quiz HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
            "bad-request",
        ),
        (
            b"POST /quiz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
            "bad-request",
        ),
    ],
)
def test_protocol_errors_are_problems(gateway: Gateway, raw: bytes, status: int, slug: str) -> None:
    assert_problem(exchange(gateway.address, raw + b""), status, slug)


def test_http09_request_gets_the_problem_body_alone(gateway: Gateway) -> None:
    """HTTP/0.9 has no status line and no headers, so nginx sends the body only: still the
    problem JSON (no Host in HTTP/0.9, hence the 400)."""
    with socket.create_connection(gateway.address, timeout=5) as sock:
        sock.sendall(b"GET /quiz\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    assert json.loads(raw)["status"] == 400


def test_failed_precondition_on_a_cached_download_is_a_problem_412(client: httpx.Client) -> None:
    url = f"/record?id={uuid.uuid4()}&user=7"
    client.get(url)
    response = client.get(url, headers={"If-Match": '"not-this-one"'})
    assert_problem(response, 412, "precondition-failed")


def test_every_error_page_has_a_problem() -> None:
    """Each status the template routes to an error page has its slug, title, detail and
    location, and each mapped status has its error page: the maps cannot drift apart."""
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    routed = {int(code) for code in re.findall(r"error_page (\d{3})\b", text)} - {494}
    routed |= {int(code) for code in re.findall(r"error_page 494 =(\d{3})", text)}
    for name in ("slug", "title", "detail"):
        block = re.search(rf"map \$status \$gateway_problem_{name} \{{(.*?)\}}", text, re.S)
        assert block is not None
        mapped = {int(code) for code in re.findall(r"^\s+(\d{3})\s", block[1], re.M)}
        assert mapped == routed, name
    locations = {int(c) for c in re.findall(r"location = /_problem/(\d{3}) ", text)}
    assert locations == routed


# --- the download cache's ranges are the service's --------------------------------------------


def _odd_ranges(size: int) -> list[str]:
    """Ranges nginx would answer unlike the service: 416 or a multipart 206 for its 200."""
    return [
        "bytes=5-1",
        "bytes=1-0",
        "bytes=99-10",
        "bytes=0-1,5-6",
        "bytes=0-1, 3-",
        "bytes=5-1,7-9",
        "bytes=abc",
        "bytes=5-10,",
        "bytes= 5-10",
        "bytes =0-4",
        "bytes=-",
        "bytes=0" + "9" * 18 + "-",
    ]


def _plain_ranges(size: int) -> list[str]:
    """Ranges the cache serves itself."""
    return [
        "bytes=0-",
        "bytes=5-",
        f"bytes={size - 1}-",
        f"bytes={size}-",
        "bytes=-1",
        "bytes=-10",
        "bytes=-0",
        f"bytes=-{size * 10}",
        "bytes=7-7",
        f"bytes={size}-{size}",
        "bytes=5-14",
        "bytes=0-65535",
        "bytes=10-99",
        "BYTES=1-2",
        f"bytes=1{size}-9{size}",
        "items=1-2",
    ]


def _random_ranges(count: int) -> list[str]:
    """Single ranges of every shape: reversed, equal, same length, leading zeros..."""
    rng = random.Random(9)

    def number() -> str:
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 4)))

    return [f"bytes={number()}-{number()}" for _ in range(count)]


def _service_verdict(range_header: str, whole: bytes) -> tuple[int, bytes]:
    """What audio_service answers for this Range on this file: (status, body)."""
    try:
        chosen = parse_range(range_header, len(whole))
    except RangeNotSatisfiable:
        return 416, b""
    if chosen is None:
        return 200, whole
    return 206, whole[chosen.start : chosen.end + 1]


def _from_the_service(response: httpx.Response) -> bool:
    """The stand-in answered (it echoes the request) rather than the download cache."""
    cached = "x-cache-status" in response.headers
    return not cached and response.headers["content-type"] == "application/json"


def test_ranges_from_the_cache_are_the_services_answers(client: httpx.Client) -> None:
    """Whatever the Range, the answer is the service's: either the cache cut exactly what
    audio_service.ranges would, or the request went to the service with its Range."""
    url = f"/record?id={uuid.uuid4()}&user=7"
    whole = client.get(url).content
    plain = _plain_ranges(len(whole))
    for header in plain + _odd_ranges(len(whole)) + _random_ranges(300):
        response = client.get(url, headers={"Range": header})
        if _from_the_service(response):
            assert response.json()["headers"]["range"] == header, header
            assert header not in plain, f"{header} should have been served from the cache"
            continue
        status, body = _service_verdict(header, whole)
        assert response.status_code == status, header
        if status == 416:
            assert_problem(response, 416, "range-not-satisfiable")
        else:
            assert response.headers["x-cache-status"] == "HIT", header
            assert response.content == body, header


def test_odd_ranges_are_left_to_the_service(client: httpx.Client) -> None:
    """nginx would answer these with 416 or a multipart 206; the service gets the Range as
    sent and its answer (the stand-in's echo here) goes back unchanged."""
    url = f"/record?id={uuid.uuid4()}&user=7"
    size = len(client.get(url).content)
    for header in _odd_ranges(size):
        response = client.get(url, headers={"Range": header})
        assert response.status_code == 200, header
        assert _from_the_service(response), header
        assert "x-cache-status" not in response.headers
        assert "content-range" not in response.headers
