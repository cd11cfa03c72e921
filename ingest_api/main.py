"""The FastAPI application: ingest (write path) and read endpoints under /api/v1."""

from fastapi import FastAPI

API_PREFIX = "/api/v1"


def create_app() -> FastAPI:
    app = FastAPI(
        title="UGC service",
        description="Playback events, resume positions, watch time, favourites and ratings.",
        version="0.1.0",
        docs_url=f"{API_PREFIX}/openapi",
        openapi_url=f"{API_PREFIX}/openapi.json",
        redoc_url=None,
    )

    @app.get(f"{API_PREFIX}/health", tags=["operations"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    return app


app = create_app()
