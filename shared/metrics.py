"""Prometheus metrics both services share: HTTP requests, the database pool, ``GET /metrics``.

Each app has a registry of its own (``prometheus_client.CollectorRegistry``), never the
library's global one: one process may build several apps (the tests do), and each service
adds its own metrics to it (``quiz_service.metrics``, ``audio_service.metrics``).

One registry per process, each process its own scrape target: a service is one uvicorn
process (``shared.server`` starts no workers), and more capacity means more processes or
containers, each scraped on its own port (compose: Prometheus's DNS discovery lists every
replica). The library's multiprocess mode is not used: it cannot serve the live gauges read
at scrape time (pool, conversion queue) and needs a shared directory cleaned on every start.

- ``MetricsMiddleware`` (pure ASGI, inside ``RequestContextMiddleware``): requests by route
  template, method and status; latency; requests in flight. The route is the one the router
  matched (``/quiz/questions/{question_id}``, never the raw path), ``unmatched`` for a 404 of
  an unknown path or a body refused before routing. A request that ended without any answer
  (the client went away) counts as status 499, nginx's "client closed request".
- ``PoolCollector``: the database pool, read when scraped (in use, idle, overflow, capacity)
  and the counters ``Database.pool_stats`` keeps (checkouts that waited, that timed out).
- ``metrics_router``: ``GET /metrics``, the text exposition format.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    PLATFORM_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.pool import QueuePool
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.db import Database
from shared.request_context import ResponseAborted

UNMATCHED_ROUTE = "unmatched"
CLIENT_CLOSED_STATUS = "499"

# From 5 ms to 5 minutes: uploads are answered after their conversion.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


def create_registry() -> CollectorRegistry:
    """A registry of the process's own figures (CPU, memory, file descriptors, Python)."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    registry.register(PLATFORM_COLLECTOR)
    return registry


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from the request head to the end of the response body.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "http_requests_in_flight", "Requests being handled now.", registry=registry
        )


def route_template(scope: Scope, root_path: str) -> str:
    """The template of the route the router matched, ``unmatched`` if none did.

    Starlette records the route in the scope; under a mounted app the route is the inner
    app's, relative to the mount, whose path the mount appended to ``root_path``.
    """
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    if not isinstance(template, str):
        return UNMATCHED_ROUTE
    mounted = str(scope.get("root_path", ""))[len(root_path) :]
    if isinstance(route, Mount):
        mounted = mounted.removesuffix(route.path)
    return mounted + template


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root_path = str(scope.get("root_path", ""))
        status = ""
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_status)
        except ResponseAborted:
            status = status or CLIENT_CLOSED_STATUS  # ended on purpose: nobody to answer
            raise
        except Exception:
            # The request context answers a 500 for what nothing else handled; an exception
            # after the answer began (a download cut short) keeps the status that was sent.
            status = status or "500"
            raise
        except BaseException:
            status = status or CLIENT_CLOSED_STATUS
            raise
        finally:
            self.metrics.in_flight.dec()
            route, method = route_template(scope, root_path), scope["method"]
            self.metrics.requests.labels(route, method, status or CLIENT_CLOSED_STATUS).inc()
            self.metrics.duration.labels(route, method).observe(time.perf_counter() - started)


class PoolCollector(Collector):
    """The database pool, read at each scrape; nothing is counted per request but the
    checkouts that found the pool exhausted (``Database.pool_stats``)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[Metric]:
        pool = self.database.engine.pool
        stats = self.database.pool_stats
        if isinstance(pool, QueuePool):
            in_use, idle = pool.checkedout(), pool.checkedin()
            # QueuePool counts overflow from -pool_size: above 0 are connections over the pool.
            overflow = max(0, pool.overflow())
            yield _gauge("db_pool_in_use_connections", "Pooled connections checked out.", in_use)
            yield _gauge("db_pool_idle_connections", "Open connections waiting in the pool.", idle)
            yield _gauge(
                "db_pool_overflow_connections",
                "Connections open above the pool size (DB_MAX_OVERFLOW allows them).",
                overflow,
            )
        if stats.capacity is not None:
            yield _gauge(
                "db_pool_max_connections",
                "Most connections the pool may hold: DB_POOL_SIZE + DB_MAX_OVERFLOW.",
                stats.capacity,
            )
        yield _counter(
            "db_pool_waits",
            "Checkouts that found every connection in use and had to wait.",
            stats.waits,
        )
        yield _counter(
            "db_pool_timeouts",
            "Checkouts that gave up after DB_POOL_TIMEOUT_S (answered 503).",
            stats.timeouts,
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def metrics_router(registry: CollectorRegistry) -> APIRouter:
    router = APIRouter(tags=["operations"])

    # Not in the OpenAPI document: it is for the scraper on the service's own port, and the
    # gateway, which serves the documents, does not serve it (404).
    @router.get("/metrics", response_class=Response, include_in_schema=False)
    async def metrics() -> Response:
        # The classic text format (0.0.4), which every Prometheus version reads.
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)

    return router
