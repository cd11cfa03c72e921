"""The FastAPI application: ingest (write path) and read endpoints under /api/v1."""

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE

from ingest_api.auth import TokenVerifier
from ingest_api.encoding import GzipBodies
from ingest_api.errors import install_error_handlers
from ingest_api.gateways.event_log import KafkaEventLog
from ingest_api.limits import BodyLimits
from ingest_api.logs import configure_logging
from ingest_api.metrics import MetricsMiddleware
from ingest_api.routes import erasure, events, operations, reads
from ingest_api.services.erasure import erasure_service
from ingest_api.services.events import EventService
from ingest_api.services.reads import ReadService
from sinks.mongo.reads import ProjectionReads
from ugc.settings import InsecureSettingsError, Settings, get_settings

API_PREFIX = "/api/v1"
BATCH_PATH = f"{API_PREFIX}/events/batch"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Raises InsecureSettingsError outside development with the public JWT secret."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        event_log = KafkaEventLog(settings)
        await event_log.start()
        app.state.event_log = event_log
        app.state.event_service = EventService(event_log)
        # Reads start without MongoDB if it is away (bounded wait): writes must not depend on it.
        projections = ProjectionReads(settings)
        await projections.start()
        app.state.read_service = ReadService(projections)
        try:
            async with erasure_service(settings) as erasures:
                app.state.erasure_service = erasures
                yield
        finally:
            try:
                await event_log.stop()
            finally:
                await projections.close()

    app = FastAPI(
        title="UGC service",
        description=(
            "Playback events, resume positions, watch time, favourites and ratings of the "
            "online cinema. Writes are accepted (202) once durable in Kafka."
        ),
        version="0.1.0",
        docs_url=f"{API_PREFIX}/openapi",
        openapi_url=f"{API_PREFIX}/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
        # Prometheus (/metrics) is the service's telemetry; FastAPI's OpenTelemetry hooks would
        # look up providers on every request of the hottest path for nothing.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    app.state.token_verifier = TokenVerifier(settings)
    install_error_handlers(app, settings.retry_after_s)
    # Innermost: gzip batches are inflated after BodyLimits bounded the compressed bytes, and
    # the inflated size is bounded by the same limit (a zip bomb is a 413).
    app.add_middleware(GzipBodies, paths=[BATCH_PATH], limit=settings.nginx_body_limit)
    # Inside the metrics, so its 413 and 408 are counted; the same limit as nginx's.
    app.add_middleware(
        BodyLimits, limit=settings.nginx_body_limit, timeout_s=settings.client_timeout_s
    )
    app.add_middleware(MetricsMiddleware)
    # Routers carry their full paths, so metrics label requests with the whole route template.
    # The write path first: its routes are matched first (no path is in two routers).
    app.include_router(events.router)
    app.include_router(operations.router)
    app.include_router(reads.router)
    app.include_router(erasure.router)
    return app


def app_factory() -> FastAPI:
    """Entry point for uvicorn (`--factory`): logging configured in the server process."""
    settings = get_settings()
    configure_logging(settings.log_level)
    try:
        app = create_app(settings)
    except InsecureSettingsError as exc:
        # One line that says what to set, rather than a traceback. uvicorn's startup-failure
        # code: with --workers its supervisor stops, instead of restarting workers forever.
        logging.getLogger(__name__).critical("the API refuses to start: %s", exc)
        raise SystemExit(STARTUP_FAILURE) from None
    # The modules, the app and its models are ~100,000 objects that live as long as the process:
    # out of the collector's reach, a full collection no longer walks them (~60 ms each time,
    # a pause for every request in flight).
    gc.collect()
    gc.freeze()
    return app
