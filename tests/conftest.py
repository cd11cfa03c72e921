"""Shared fixtures: the settings of the test stack and a guarantee that it is up."""

from collections.abc import Iterator

import pytest

from infra.init import init_all
from infra.stack.manager import Stack
from ugc.settings import Settings, get_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[Stack]:
    """The local stack, started if it is not running (idempotent), with topics and tables."""
    stack = Stack(settings)
    if not all(status.health.ok for status in stack.status()):
        stack.up(lambda line: None)
        init_all(settings)
    yield stack


@pytest.fixture(scope="session")
def api_server(stack: Stack, settings: Settings, tmp_path_factory: pytest.TempPathFactory):
    """The API as a uvicorn process on the stack's API port, behind its nginx."""
    from tests.server_support import ApiServer

    server = ApiServer(settings, tmp_path_factory.mktemp("api") / "api.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pipeline(stack: Stack, settings: Settings, tmp_path_factory: pytest.TempPathFactory):
    """Both Faust workers (projections and raw events), as `ugc run` starts them, for a module."""
    from tests.worker_support import Pipeline

    pipeline = Pipeline(settings, tmp_path_factory.mktemp("workers"))
    pipeline.start()
    yield pipeline
    pipeline.stop()
