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
