"""The API and the Faust worker as processes of their own, started and stopped by the bench."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from ugc.settings import PROJECT_ROOT, Settings
from ugc_cli.runner import projections_web_port

BIN = Path(sys.prefix) / "bin"


class Service:
    """A child process in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as out:  # a fresh log: its lines tell when this process is ready
            self.process = subprocess.Popen(
                argv,
                cwd=PROJECT_ROOT,
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_for(self, ready: Callable[["Service"], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not ready(self):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start; log tail:\n{self.log_tail()}")
            time.sleep(0.3)

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def api_url(settings: Settings) -> str:
    return f"http://{settings.api_host}:{settings.api_port}"


def worker_url(settings: Settings) -> str:
    """The raw-events worker's web port: its /analytics views tell when rows reached ClickHouse."""
    return f"http://{settings.worker_web_host}:{settings.raw_events_web_port}"


class Workers:
    """The projections workers and the raw-events worker of one bench phase."""

    def __init__(self, projections: list[Service], raw: Service) -> None:
        self.projections, self.raw = projections, raw

    def pids(self) -> dict[str, int]:
        named = {f"projections worker {n + 1}": s for n, s in enumerate(self.projections)}
        if len(self.projections) == 1:
            named = {"projections worker": self.projections[0]}
        return {**{name: s.process.pid for name, s in named.items()},
                "raw-events worker": self.raw.process.pid}  # fmt: skip

    def stop(self) -> None:
        for service in [*self.projections, self.raw]:
            service.stop()


def start_api(settings: Settings, log: Path) -> Service:
    """One uvicorn worker on the stack's API port (nginx in front of it stays unused)."""
    argv = [
        str(BIN / "uvicorn"), "ingest_api.main:app_factory", "--factory",
        "--host", settings.api_host, "--port", str(settings.api_port), "--workers", "1",
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    if answers(f"{api_url(settings)}/api/v1/health"):
        # Another API (a bench run that was killed) would answer for ours, which would then fail
        # to bind, and its CPU would be missing from the figures.
        raise RuntimeError(f"{api_url(settings)} is served already: stop that process first")
    api = Service("api", argv, log, {})
    api.wait_for(lambda _: answers(f"{api_url(settings)}/api/v1/ready"), 60)
    return api


def start_worker(
    settings: Settings, log: Path, write_log: Path | None, projections: int = 1
) -> Workers:
    """`projections` x `faust -A streams.app worker -l info` through bench.worker, which logs
    their `progress` writes to `write_log`, and one `faust -A streams.raw_app worker -l info`;
    ready once each logged Ready and its web server answers."""
    env = {
        # Faust's own setting: on stop, do not wait for the backlog already handed to the agents
        # (minutes when a sink is behind); the next phase skips it anyway. Nothing else changes.
        "STREAM_WAIT_EMPTY": "false",
    }
    apps = [("streams.app", projections_web_port(settings, n)) for n in range(projections)]
    started = []
    for app, port in [*apps, ("streams.raw_app", settings.raw_events_web_port)]:
        argv = [str(BIN / "python"), "-m", "bench.worker", "-A", app, "worker", "-l", "info",
                "--web-port", str(port)]  # fmt: skip
        logs = {"BENCH_WRITE_LOG": str(write_log or "")} if app == "streams.app" else {}
        service = Service(app, argv, log.with_suffix(f".{app}-{port}.log"), {**env, **logs})
        health = f"http://{settings.worker_web_host}:{port}/health"

        def ready(w: Service, url: str = health) -> bool:
            return b"Worker]: Ready" in w.log.read_bytes() and answers(url)

        service.wait_for(ready, 120)
        started.append(service)
    return Workers(started[:-1], started[-1])
