"""Liveness, readiness and Prometheus metrics."""

import os

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from ingest_api.dependencies import EventLogDep, SettingsDep
from ingest_api.errors import EDGE_RESPONSES, RETRY_AFTER, error_response
from ingest_api.models import ErrorBody, Readiness

router = APIRouter(tags=["operations"], responses=EDGE_RESPONSES)
NOT_READY = error_response(
    "Kafka or the registry is down (`checks` say which), or nginx cannot reach the API.",
    RETRY_AFTER,
    model=Readiness | ErrorBody,
)


@router.get("/api/v1/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/api/v1/ready", response_model=Readiness, responses={503: NOT_READY})
async def ready(event_log: EventLogDep, settings: SettingsDep) -> JSONResponse:
    """Readiness: Kafka and the schema registry answer now."""
    checks = await event_log.ready()
    ok = all(value == "ok" for value in checks.values())
    return JSONResponse(
        status_code=200 if ok else 503,
        content={"status": "ok" if ok else "unavailable", "checks": checks},
        headers=None if ok else {"Retry-After": str(settings.retry_after_s)},
    )


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """This process's metrics; under `ingest_api.serve`, those of every worker, summed."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
