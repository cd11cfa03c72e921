"""Fixtures of the fault suite: the 3-node cluster, the workers (two projections workers, one
raw-events worker), and where each scenario's figures are recorded for the report."""

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.stack.manager import Stack
from tests.faults.check import Figures
from tests.faults.faults import restore
from tests.server_support import ApiServer
from tests.worker_support import Pipeline, Worker
from ugc.settings import Settings


def results_file(settings: Settings) -> Path:
    """One JSON line per scenario run; `make test-faults` and `make soak` report from it."""
    return settings.stack_dir / "reliability-runs.jsonl"


@pytest.fixture(scope="session")
def cluster(stack: Stack, settings: Settings) -> Stack:
    if len(stack.kafka_nodes) < 3 or settings.kafka_min_insync_replicas < 2:
        pytest.fail(
            "the fault suite needs a 3-node cluster: run it with `make test-faults` "
            "(UGC_ENV_FILE=tests/faults/stack.env)"
        )
    restore(stack, settings)
    return stack


class Workers(Pipeline):
    """Two projections workers in one group, and the raw-events worker."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        super().__init__(settings, log_dir)
        self.second = Worker(
            settings, log_dir / "projections-2.log", web_port=settings.worker_web_port + 10
        )

    def start(self) -> None:
        super().start()
        self.second.start()

    def stop(self) -> None:
        self.second.stop()
        super().stop()


@pytest.fixture(scope="session")
def log_dir(settings: Settings) -> Path:
    """Beside the stack's logs, not in pytest's rotated folders: a failed soak run keeps them."""
    path = settings.stack_dir / "logs" / time.strftime("faults-%Y%m%dT%H%M%S")
    path.mkdir(parents=True)
    return path


@pytest.fixture(scope="session")
def api_server(cluster: Stack, settings: Settings, log_dir: Path) -> Iterator[ApiServer]:
    server = ApiServer(settings, log_dir / "api.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def workers(cluster: Stack, settings: Settings, log_dir: Path):
    workers = Workers(settings, log_dir)
    workers.start()
    yield workers
    workers.stop()


@pytest.fixture
def restored(cluster: Stack, settings: Settings) -> Iterator[Stack]:
    """The scenario's stack; afterwards everything it stopped runs again and is whole."""
    yield cluster
    restore(cluster, settings)


@pytest.fixture(scope="session")
def record(settings: Settings) -> Callable[[Figures, dict[str, Any]], None]:
    path = results_file(settings)

    def append(figures: Figures, detail: dict[str, Any]) -> None:
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        line = {"at": at, **figures.as_dict(), "detail": detail}
        with path.open("a") as out:
            out.write(json.dumps(line, default=str) + "\n")

    return append
