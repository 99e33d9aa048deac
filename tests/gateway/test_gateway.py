"""The nginx gateway, for real: routing, forwarded headers, request ids, retries, problem+json.

nginx runs from devstack.gateway with the one template docker compose uses, in front of
stand-in upstreams (tests/gateway/conftest.py) that echo what they received.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.gateway import REPO_ROOT, Gateway
from tests.gateway.checks import NGINX_REQUEST_ID, assert_problem, wait_for_log
from tests.gateway.conftest import Closer, EchoServer, MakeGateway
from tests.gateway.raw_http import exchange

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=5) as http:
        yield http


# --- the gateway itself ----------------------------------------------------------------------


def test_health_answers_json(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "ok"}
    assert NGINX_REQUEST_ID.match(response.headers["x-request-id"])


def test_health_rejects_other_methods(client: httpx.Client) -> None:
    assert_problem(client.post("/health"), 405, "method-not-allowed")


@pytest.mark.parametrize("path", ["/health", "/quiz", "/nowhere"])
def test_server_header_has_no_version(client: httpx.Client, path: str) -> None:
    assert client.get(path).headers["server"] == "nginx"


# --- routing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "group", "path", "query"),
    [
        ("/quiz", "quiz", "/quiz", ""),
        ("/quiz/x", "quiz", "/quiz/x", ""),
        ("/user", "audio", "/user", ""),
        ("/user/42", "audio", "/user/42", ""),
        ("/record?id=9f1c&user=7", "audio", "/record", "id=9f1c&user=7"),
        ("/record/9f1c", "audio", "/record/9f1c", ""),
    ],
)
def test_public_paths_reach_their_service_unchanged(
    client: httpx.Client, url: str, group: str, path: str, query: str
) -> None:
    echo = client.get(url).json()
    assert echo["instance"].startswith(f"{group}-")
    assert echo["method"] == "GET"
    assert echo["path"] == path
    assert echo["query"] == query
    # Only the /services/ paths carry a prefix.
    assert "x-forwarded-prefix" not in echo["headers"]


def test_path_and_query_are_passed_byte_for_byte(client: httpx.Client) -> None:
    echo = client.get("/quiz/a%2Fb/%7Ec?x=1%202&y=&z=%26").json()
    assert echo["raw_path"] == "/quiz/a%2Fb/%7Ec"
    assert echo["query"] == "x=1%202&y=&z=%26"


def test_request_body_reaches_the_service(client: httpx.Client) -> None:
    quiz = client.post("/quiz", json={"questions_num": 3}).json()
    assert (quiz["method"], quiz["body_bytes"]) == ("POST", len(b'{"questions_num":3}'))
    upload = client.post("/record", content=b"x" * 1000).json()
    assert (upload["instance"][:6], upload["body_bytes"]) == ("audio-", 1000)


def test_requests_are_spread_over_both_instances(client: httpx.Client) -> None:
    instances = {client.get("/quiz").json()["instance"] for _ in range(6)}
    assert instances == {"quiz-a", "quiz-b"}


@pytest.mark.parametrize(
    ("url", "group", "path", "query"),
    [
        ("/services/quiz/docs", "quiz", "/docs", ""),
        ("/services/quiz/openapi.json", "quiz", "/openapi.json", ""),
        ("/services/quiz/health", "quiz", "/health", ""),
        ("/services/quiz/ready", "quiz", "/ready", ""),
        ("/services/audio/docs", "audio", "/docs", ""),
        ("/services/audio/openapi.json?v=1", "audio", "/openapi.json", "v=1"),
        ("/services/audio/ready", "audio", "/ready", ""),
    ],
)
def test_services_prefix_is_stripped_and_forwarded(
    client: httpx.Client, url: str, group: str, path: str, query: str
) -> None:
    echo = client.get(url).json()
    assert echo["instance"].startswith(f"{group}-")
    assert (echo["path"], echo["query"]) == (path, query)
    assert echo["headers"]["x-forwarded-prefix"] == f"/services/{group}"


def test_client_forwarded_prefix_is_not_trusted(client: httpx.Client) -> None:
    headers = {"X-Forwarded-Prefix": "/evil"}
    assert "x-forwarded-prefix" not in client.get("/quiz", headers=headers).json()["headers"]
    prefixed = client.get("/services/quiz/docs", headers=headers).json()
    assert prefixed["headers"]["x-forwarded-prefix"] == "/services/quiz"


@pytest.mark.parametrize("service", ["quiz", "audio"])
def test_bare_service_prefix_redirects_to_swagger(client: httpx.Client, service: str) -> None:
    response = client.get(f"/services/{service}")
    assert response.status_code == 308
    assert response.headers["location"] == f"/services/{service}/docs"


@pytest.mark.parametrize(
    "url", ["/nowhere", "/quizzes", "/records", "/services", "/services/other/docs"]
)
def test_unknown_path_is_a_problem_404(client: httpx.Client, url: str) -> None:
    assert_problem(client.get(url), 404, "not-found")


@pytest.mark.parametrize(
    "url", ["/_problem/502", "/_problem/missing-host", "/_record/small-body", "/_record/range"]
)
def test_internal_locations_are_not_reachable(client: httpx.Client, url: str) -> None:
    assert_problem(client.get(url), 404, "not-found")


# --- forwarded headers -----------------------------------------------------------------------


def test_forwarded_headers(client: httpx.Client, gateway: Gateway) -> None:
    host, port = gateway.address
    headers = client.get("/quiz").json()["headers"]
    assert headers["host"] == f"{host}:{port}"
    assert headers["x-forwarded-host"] == f"{host}:{port}"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-real-ip"] == "127.0.0.1"
    # Keep-alive to the upstream: nginx sends no "Connection: close".
    assert headers.get("connection", "keep-alive") != "close"


def test_client_forwarded_for_is_replaced_by_the_peer(client: httpx.Client) -> None:
    """The gateway is the first proxy: a client's own chain would let it name any address."""
    spoofed = {"X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.8"}
    headers = client.get("/user", headers=spoofed).json()["headers"]
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-real-ip"] == "127.0.0.1"


def test_forwarded_host_is_what_the_client_used(client: httpx.Client) -> None:
    echo = client.get("/user", headers={"Host": "quiz.example:9443"}).json()
    assert echo["headers"]["host"] == "quiz.example:9443"
    assert echo["headers"]["x-forwarded-host"] == "quiz.example:9443"


# --- request id ------------------------------------------------------------------------------


def test_request_id_is_generated_when_missing(client: httpx.Client) -> None:
    response = client.get("/quiz")
    request_id = response.headers["x-request-id"]
    assert NGINX_REQUEST_ID.match(request_id)
    assert response.json()["headers"]["x-request-id"] == request_id


@pytest.mark.parametrize("request_id", ["abc", "Req-1.2_3", "x" * 128])
def test_valid_request_id_is_kept(client: httpx.Client, request_id: str) -> None:
    response = client.get("/user", headers={"X-Request-ID": request_id})
    # Once: the upstream's own X-Request-ID ("upstream-copy") is hidden.
    assert response.headers.get_list("x-request-id") == [request_id]
    assert response.json()["headers"]["x-request-id"] == request_id


@pytest.mark.parametrize("request_id", ["", "has space", "a/b", '"}{', "x" * 129, "é"])
def test_invalid_request_id_is_replaced(client: httpx.Client, request_id: str) -> None:
    response = client.get("/user", headers={b"X-Request-ID": request_id.encode()})
    [echoed] = response.headers.get_list("x-request-id")
    assert NGINX_REQUEST_ID.match(echoed)
    assert response.json()["headers"]["x-request-id"] == echoed


def test_request_id_is_in_errors_and_logs(client: httpx.Client, gateway: Gateway) -> None:
    body = assert_problem(
        client.get("/nowhere", headers={"X-Request-ID": "trace-404"}), 404, "not-found"
    )
    assert body["request_id"] == "trace-404"
    entry = wait_for_log(gateway, "trace-404")
    assert entry["status"] == 404
    assert entry["request"] == "GET /nowhere HTTP/1.1"

    client.get("/quiz", headers={"X-Request-ID": "trace-quiz"})
    entry = wait_for_log(gateway, "trace-quiz")
    assert entry["status"] == 200
    assert entry["upstream_addr"].startswith("127.0.0.1:")
    assert entry["upstream_status"] == "200"
    assert isinstance(entry["request_time"], float)


# --- body size -------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/record", "/quiz", "/user"])
def test_body_over_the_limit_is_a_problem_413(client: httpx.Client, url: str) -> None:
    assert_problem(client.post(url, content=b"x" * 2048), 413, "payload-too-large")


def test_streamed_upload_over_the_limit_is_a_problem_413(client: httpx.Client) -> None:
    """Chunked, no Content-Length: /record streams to the service, nginx still cuts it off."""

    def chunks() -> Iterator[bytes]:
        for _ in range(8):
            yield b"x" * 512

    assert_problem(client.post("/record", content=chunks()), 413, "payload-too-large")


def test_body_at_the_limit_passes(client: httpx.Client) -> None:
    assert client.post("/record", content=b"x" * 1024).json()["body_bytes"] == 1024


# --- malformed requests ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status", "slug"),
    [
        (b"GARBAGE\r\n\r\n", 400, "bad-request"),
        (b"GET /quiz HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "bad-request"),
        (
            b"GET /quiz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
            431,
            "request-header-fields-too-large",
        ),
        (
            # Each line fits a buffer, all of them do not (4 buffers of 8 KiB).
            b"GET /quiz HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 7000) for i in range(5))
            + b"\r\n",
            431,
            "request-header-fields-too-large",
        ),
        (b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri-too-long"),
    ],
)
def test_malformed_request_is_a_problem(
    gateway: Gateway, raw: bytes, status: int, slug: str
) -> None:
    assert_problem(exchange(gateway.address, raw), status, slug)


# --- upstream failures -----------------------------------------------------------------------


def test_group_down_is_a_problem_502(make_gateway: MakeGateway, dead_address: str) -> None:
    gateway = make_gateway([dead_address], [dead_address])
    with httpx.Client(base_url=gateway.url, timeout=5) as http:
        for url in ("/quiz", "/user", "/record?id=1&user=2", "/services/audio/health"):
            assert_problem(http.get(url), 502, "bad-gateway")
        assert_problem(http.post("/record", content=b"x"), 502, "bad-gateway")


def test_get_is_retried_on_the_other_instance(
    make_gateway: MakeGateway, upstreams: dict[str, EchoServer], dead_address: str
) -> None:
    live = upstreams["quiz-a"]
    gateway = make_gateway([dead_address, live.address], [dead_address])
    with httpx.Client(base_url=gateway.url, timeout=5) as http:
        ids = []
        for _ in range(4):
            response = http.get("/quiz")
            assert response.status_code == 200
            assert response.json()["instance"] == "quiz-a"
            ids.append(response.headers["x-request-id"])
    tried = [wait_for_log(gateway, request_id)["upstream_addr"] for request_id in ids]
    assert f"{dead_address}, {live.address}" in tried


def test_post_is_not_retried_once_sent(
    make_gateway: MakeGateway, upstreams: dict[str, EchoServer], closer: Closer
) -> None:
    """The closer takes the POST and hangs up: nginx must not send it a second time."""
    live = upstreams["quiz-a"]
    # nginx's round robin starts with the first server of a fresh group: the closer.
    gateway = make_gateway([closer.address, live.address], [live.address])
    with httpx.Client(base_url=gateway.url, timeout=5) as http:
        body = assert_problem(http.post("/quiz", json={}), 502, "bad-gateway")
        assert wait_for_log(gateway, body["request_id"])["upstream_addr"] == closer.address
        # A GET is retried (and the closer is now marked down anyway).
        assert http.get("/quiz").json()["instance"] == "quiz-a"


def test_service_errors_pass_through_without_retry(client: httpx.Client, gateway: Gateway) -> None:
    """A service's own 502 (say, its quiz upstream failed) is its answer, not an outage."""
    response = client.get("/quiz", headers={"X-Echo-Status": "502", "X-Request-ID": "svc-502"})
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/json"
    assert response.json()["instance"].startswith("quiz-")
    assert response.headers.get_list("x-request-id") == ["svc-502"]
    assert "," not in wait_for_log(gateway, "svc-502")["upstream_addr"]
    # Neither instance was marked down.
    assert {client.get("/quiz").json()["instance"] for _ in range(6)} == {"quiz-a", "quiz-b"}


# --- static checks ---------------------------------------------------------------------------


def test_static_checks_pass(nginx: Path) -> None:
    """docker-compose config, hadolint and nginx -t on the compose-rendered template."""
    result = subprocess.run(
        [sys.executable, "-m", "devstack.static_checks"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the download cache ----------------------------------------------------------------------


def _fresh_record_url() -> str:
    return f"/record?id={uuid.uuid4()}&user=7"


def test_downloads_are_served_from_the_cache_after_the_first(client: httpx.Client) -> None:
    url = _fresh_record_url()
    first = client.get(url)
    second = client.get(url)
    assert first.status_code == second.status_code == 200
    assert first.headers["x-cache-status"] == "MISS"
    assert second.headers["x-cache-status"] == "HIT"
    # The stand-in echoes its request id: a HIT repeats the first answer, the service saw one.
    assert second.content == first.content
    assert second.headers["x-request-id"] != first.headers["x-request-id"]


def test_ranges_are_cut_from_the_cached_download(client: httpx.Client) -> None:
    url = _fresh_record_url()
    whole = client.get(url).content
    part = client.get(url, headers={"Range": "bytes=5-14"})
    assert part.status_code == 206
    assert part.content == whole[5:15]
    assert part.headers["content-range"] == f"bytes 5-14/{len(whole)}"


def test_cache_key_includes_the_user(client: httpx.Client) -> None:
    record = uuid.uuid4()
    assert client.get(f"/record?id={record}&user=7").headers["x-cache-status"] == "MISS"
    assert client.get(f"/record?id={record}&user=8").headers["x-cache-status"] == "MISS"


def test_errors_are_not_cached(client: httpx.Client) -> None:
    url = _fresh_record_url()
    for _ in range(2):
        response = client.get(url, headers={"X-Echo-Status": "404"})
        assert response.status_code == 404
        assert response.headers["x-cache-status"] == "MISS"


def test_no_cache_request_reaches_the_service(client: httpx.Client) -> None:
    url = _fresh_record_url()
    client.get(url)
    fresh = client.get(url, headers={"Cache-Control": "no-cache"})
    assert fresh.headers["x-cache-status"] == "BYPASS"


def test_uploads_are_never_cached(client: httpx.Client) -> None:
    url = _fresh_record_url()
    for _ in range(2):
        response = client.post(url, content=b"x")
        assert response.status_code == 200
        assert response.headers.get("x-cache-status", "") in ("", "MISS", "BYPASS")
        assert response.json()["method"] == "POST"


def test_waveform_peaks_are_cached_like_downloads(client: httpx.Client) -> None:
    record = uuid.uuid4()
    url = f"/record/peaks?id={record}&user=7&pixels=100"
    first, second = client.get(url), client.get(url)
    assert first.status_code == second.status_code == 200
    assert (first.headers["x-cache-status"], second.headers["x-cache-status"]) == ("MISS", "HIT")
    assert second.content == first.content
    # The key is the whole URI: another resolution or another user is another answer.
    for other in (f"/record/peaks?id={record}&user=7&pixels=200", url.replace("user=7", "user=8")):
        assert client.get(other).headers["x-cache-status"] == "MISS"
    for _ in range(2):
        missing = client.get(url + "&x=1", headers={"X-Echo-Status": "404"})
        assert (missing.status_code, missing.headers["x-cache-status"]) == (404, "MISS")


def test_unsatisfiable_range_from_the_cache_is_a_problem_416(client: httpx.Client) -> None:
    url = _fresh_record_url()
    size = len(client.get(url).content)
    response = client.get(url, headers={"Range": f"bytes={size + 10}-"})
    assert_problem(response, 416, "range-not-satisfiable")
    assert response.headers.get_list("x-request-id") == [response.json()["request_id"]]
    assert response.headers["content-range"] == f"bytes */{size}"


@pytest.mark.parametrize("path", ["/quiz/api/clues", "/quiz/api/categories", "/quiz/api/category"])
def test_jservice_reads_are_cached_briefly(client: httpx.Client, path: str) -> None:
    url = f"{path}?offset={uuid.uuid4().int % 10**9}"
    first = client.get(url)
    second = client.get(url)
    assert first.headers["x-cache-status"] == "MISS"
    assert second.headers["x-cache-status"] == "HIT"
    assert second.content == first.content  # the stand-in saw one request
    assert client.get(f"{url}1").headers["x-cache-status"] == "MISS"  # the query is the key
    fresh = client.get(url, headers={"Cache-Control": "no-cache"})
    assert fresh.headers["x-cache-status"] == "BYPASS"


@pytest.mark.parametrize("path", ["/quiz/api/random", "/quiz/api/final"])
def test_random_jservice_reads_are_never_cached(client: httpx.Client, path: str) -> None:
    first, second = client.get(f"{path}?count=3"), client.get(f"{path}?count=3")
    assert "x-cache-status" not in first.headers
    assert first.json()["headers"]["x-request-id"] != second.json()["headers"]["x-request-id"]


def test_jservice_errors_are_not_cached(client: httpx.Client) -> None:
    url = f"/quiz/api/clues?value=x{uuid.uuid4().hex}"
    for _ in range(2):
        response = client.get(url, headers={"X-Echo-Status": "422"})
        assert response.status_code == 422
        assert response.headers["x-cache-status"] == "MISS"
