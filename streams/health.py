"""Is the worker making progress? `/health` answers 503 when it is not, so a supervisor or an
orchestrator's probe can restart it: events were handed to the agents (or a rebalance began)
and nothing was acknowledged for `UGC_WORKER_STALL_AFTER_S` seconds.
"""

import time
from typing import Any

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.lag import install_lag_gauge
from ugc.settings import get_settings


class ProgressWatch:
    def __init__(self, app: faust.App, stall_after_s: float) -> None:
        self._app = app
        self._stall_after_s = stall_after_s
        self._last_progress = time.monotonic()
        self._waiting_since: float | None = None

    def progressed(self) -> None:
        self._last_progress = time.monotonic()

    def report(self) -> dict[str, Any]:
        now = time.monotonic()
        unacked = self._unacked()
        rebalancing = bool(self._app.rebalancing)
        if unacked or rebalancing:
            self._waiting_since = self._waiting_since or now
        else:
            self._waiting_since = None
        # Idle (nothing to do) is healthy; waiting with no acknowledgement for long is not.
        stuck_for = now - max(self._last_progress, self._waiting_since or now)
        stalled = self._waiting_since is not None and stuck_for > self._stall_after_s
        return {
            "status": "stalled" if stalled else "ok",
            "rebalancing": rebalancing,
            "assigned_partitions": self._assigned(),
            "unacked_events": unacked,
            "seconds_since_progress": round(now - self._last_progress, 1),
        }

    def _unacked(self) -> int:
        try:
            return len(self._app.consumer.unacked)
        except Exception:  # no consumer yet (starting)
            return 0

    def _assigned(self) -> int:
        try:
            return len(self._app.consumer.assignment())
        except Exception:
            return 0


def install_operational_views(app: faust.App, watch: ProgressWatch) -> None:
    """`/health` (200 or 503 with the report) and `/metrics` (Prometheus, with the consumer
    lag gauge of `streams.lag`) on the worker's port."""
    install_lag_gauge(app, get_settings())

    @app.timer(interval=1.0)
    async def sample_progress() -> None:
        watch.report()  # notes when waiting began, between probes too

    @app.page("/health")
    async def health(self: View, request: Request) -> Response:
        report = watch.report()
        return self.json(report, status=200 if report["status"] == "ok" else 503)

    @app.page("/metrics")
    async def metrics(self: View, request: Request) -> Response:
        # aiohttp takes the charset separately from the content type.
        content_type = CONTENT_TYPE_LATEST.split("; charset=")[0]
        return self.bytes(generate_latest(), content_type=content_type)
