"""The real Prometheus scrapes the running system with the project's scrape config and rules.

A stack of its own (fresh counters): the emulator, one quiz and two audio instances behind
nginx, Debian's ``prometheus`` scraping each instance on its own port every second (the
config of deploy/prometheus, rendered with these targets) and ``prometheus-nginx-exporter``
reading the gateway's stub_status. Known traffic goes through the gateway; the test asks
Prometheus's HTTP API until its numbers are exactly that traffic. The same stack has a short
body grace period, for one trickling upload through the real nginx.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.prometheus import Prometheus, binary, nginx_exporter
from devstack.stack import LocalStack
from testkit.audio import create_user, upload
from testkit.postgres import temporary_database, unavailable
from testkit.wav import write_tone_wav
from tests.e2e.helpers import multipart_parts, private_stack, upload_auth
from tests.gateway.raw_http import pace
from tests.test_observability import DASHBOARD, NGINX_METRIC, OUR_METRIC, alert_exprs

pytestmark = pytest.mark.e2e

GRACE_S = 1.0
MIN_RATE = 500


@pytest.fixture(scope="module")
async def observed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with AsyncExitStack() as exit_stack:
        env = {
            "QUIZ_DATABASE_URL": await exit_stack.enter_async_context(temporary_database("obs_q")),
            "AUDIO_DATABASE_URL": await exit_stack.enter_async_context(temporary_database("obs_a")),
            "AUDIO_TOKEN_SECRET": "observability-test-secret",
            "AUDIO_MAX_UPLOAD_BYTES": str(4 * 1024 * 1024),
            "AUDIO_BODY_GRACE_S": str(GRACE_S),
            "AUDIO_BODY_MIN_RATE_BYTES_S": str(MIN_RATE),
        }
        with private_stack("obs", env, audio=2) as stack:
            yield stack


@pytest.fixture(scope="module")
def prometheus(
    observed: LocalStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    if binary("prometheus") is None or binary("prometheus-nginx-exporter") is None:
        unavailable("Prometheus and its nginx exporter are needed: see devstack/prometheus.py")
    workdir = tmp_path_factory.mktemp("prometheus")
    status_url = f"{observed.gateway_url}/_gateway/status"
    with nginx_exporter(status_url, workdir) as exporter:
        targets = {
            "quiz": [observed.service_url("quiz-0").removeprefix("http://")],
            "audio": [observed.service_url(f"audio-{i}").removeprefix("http://") for i in (0, 1)],
            "gateway": [exporter],
        }
        with Prometheus(workdir, targets, scrape_interval="1s") as running:
            yield running


def until(prometheus: Prometheus, expr: str, expected: float, timeout_s: float = 20.0) -> None:
    """Asks Prometheus until ``expr`` is ``expected`` (it scrapes once a second)."""
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = prometheus.scalar(expr)
        if value == expected:
            return
        time.sleep(0.25)
    raise AssertionError(f"{expr} = {value}, expected {expected}")


async def test_prometheus_sees_exactly_the_traffic_sent(
    observed: LocalStack, prometheus: Prometheus, tmp_path: Path
) -> None:
    until(prometheus, 'count(up{job=~"quiz|audio|gateway"} == 1)', 4)  # every target is up
    wav = write_tone_wav(tmp_path / "tone.wav", sample_rate=44100, channels=2, duration_s=1.0)
    async with httpx.AsyncClient(base_url=observed.gateway_url, timeout=30) as gateway:
        user = await create_user(gateway)
        sizes = []
        for _ in range(3):
            response = await upload(gateway, user, wav)
            assert response.status_code == 201
            sizes.append(response.json()["output"]["size_bytes"])
        assert (await upload(gateway, user, b"RIFF....not a wav")).status_code == 415
        quiz = await gateway.post("/quiz", json={"questions_num": 5})
        assert quiz.status_code == 200
        # Not served to the public through the gateway.
        assert (await gateway.get("/services/audio/metrics")).status_code == 404

    ok = 'sum(audio_conversions_total{outcome="ok"})'
    until(prometheus, ok, 3)
    until(prometheus, 'sum(audio_conversions_total{outcome="refused",reason="not_wav"})', 1)
    until(prometheus, "sum(audio_mp3_stored_bytes_total)", sum(sizes))
    until(prometheus, 'sum(http_requests_total{job="audio",route="/record",status="201"})', 3)
    until(prometheus, 'sum(http_requests_total{job="audio",route="/record",status="415"})', 1)
    until(prometheus, 'sum(quiz_questions_stored_total{provider="jservice"})', 5)
    until(prometheus, 'sum(quiz_upstream_calls_total{outcome="ok"})', 1)
    until(prometheus, "sum(audio_conversion_realtime_factor_count)", 3)
    # Each audio instance is a target of its own; their counters add up to the traffic.
    assert prometheus.scalar('count(up{job="audio"} == 1)') == 2
    per_instance = prometheus.query('sum by (instance) (audio_conversions_total{outcome="ok"})')
    assert sum(float(sample["value"][1]) for sample in per_instance) == 3
    assert (prometheus.scalar("sum(nginx_http_requests_total)") or 0) > 0
    assert prometheus.scalar("max(db_pool_max_connections)") == 20


def test_prometheus_loaded_the_alert_rules_and_none_fires(prometheus: Prometheus) -> None:
    groups = prometheus.api("rules")["groups"]
    names = {rule["name"] for group in groups for rule in group["rules"]}
    assert {"HighServerErrorRatio", "QuizUpstreamFailing", "DatabasePoolExhausted"} <= names
    assert [rule for group in groups for rule in group["rules"] if rule["state"] == "firing"] == []


def test_every_metric_the_dashboard_and_alerts_read_is_scraped(
    observed: LocalStack, prometheus: Prometheus
) -> None:
    until(prometheus, 'count(up{job=~"quiz|audio|gateway"} == 1)', 4)
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    exprs += alert_exprs()
    patterns = (OUR_METRIC, NGINX_METRIC)
    used = {name for expr in exprs for pattern in patterns for name in pattern.findall(expr)}
    # Labelled series show up once touched: requests came before (and the services start
    # the series that alerts read at 0).
    assert used - prometheus.metric_names() == set()


async def test_a_trickling_upload_is_cut_off_through_the_gateway(observed: LocalStack) -> None:
    """nginx streams the body to the service, whose minimum rate (500 bytes/s after 1 s
    here) cuts a body trickling at 10 bytes/s: the client gets the service's 408."""
    async with httpx.AsyncClient(base_url=observed.gateway_url, timeout=10) as gateway:
        user = await create_user(gateway)
    head, tail, content_type = multipart_parts(upload_auth(user), "file", "slow.wav")
    length = len(head) + 200 + len(tail)
    request = (
        f"POST /record HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode() + head
    address = ("127.0.0.1", observed.config.gateway_port)
    paced = await asyncio.to_thread(
        pace, address, [request, *[b"x"] * 200], wait=0.1, max_waits=100
    )
    assert paced.closed, f"still open after {paced.seconds:.1f} s"
    response = paced.response
    assert response.status_code == 408
    body = response.json()
    assert body["type"].endswith("/request-timeout")
    assert f"{MIN_RATE} bytes/s" in body["detail"]
    assert paced.sent < 100  # cut long before the 20 s the body would have taken
