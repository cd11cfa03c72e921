"""Prometheus metrics of the API and an ASGI middleware that records requests cheaply."""

import time
from typing import Any

from prometheus_client import Counter, Histogram, disable_created_metrics
from starlette.types import ASGIApp, Message, Receive, Scope, Send

disable_created_metrics()  # the *_created series only double the scrape size

REQUESTS = Counter(
    "ugc_http_requests_total",
    "HTTP requests by route, method and status",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "ugc_http_request_duration_seconds",
    "HTTP request latency by route and method",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_PRODUCED = Counter(
    "ugc_events_produced_total", "Events acknowledged by Kafka, by event type", ["type"]
)
PRODUCER_ERRORS = Counter(
    "ugc_producer_errors_total", "Events not stored because a dependency failed", ["dependency"]
)


class MetricsMiddleware:
    """Counts and times every HTTP request under its route template (not the raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # labels() takes a lock and builds keys on every call; the children are cached instead.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            key = (_route_template(scope), scope["method"], status_code)
            children = self._children.get(key)
            if children is None:
                route, method, code = key
                children = REQUESTS.labels(route, method, str(code)), LATENCY.labels(route, method)
                self._children[key] = children
            requests, latency = children
            requests.inc()
            latency.observe(time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", "unmatched")
