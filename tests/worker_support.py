"""Running the real Faust workers as subprocesses, and waiting on what they write."""

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from ugc.settings import PROJECT_ROOT, Settings
from ugc.tokens import mint_analyst_token
from ugc_cli.runner import worker_command

T = TypeVar("T")


class Worker:
    """One `faust -A <app> worker` process, as operators start it, with the test stack's
    settings (and, for a second worker of the same app, its own web port)."""

    def __init__(
        self,
        settings: Settings,
        log_path: Path,
        app: str = "streams.app",
        web_port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.log_path = log_path
        self.app = app
        default_port = (
            settings.worker_web_port if app == "streams.app" else settings.raw_events_web_port
        )
        self.web_port = web_port or default_port
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def web(self) -> str:
        return f"http://{self.settings.worker_web_host}:{self.web_port}"

    def start(self, timeout_s: float = 90.0) -> None:
        log = self.log_path.open("ab")
        starts_before = self.log_path.read_bytes().count(b"Worker]: Ready")
        self.process = subprocess.Popen(
            worker_command(self.app, "--web-port", str(self.web_port)),
            cwd=PROJECT_ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while self.log_path.read_bytes().count(b"Worker]: Ready") <= starts_before:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{self.log_tail()}")
            time.sleep(0.2)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_s: float = 30.0) -> float:
        """SIGTERM, as a supervisor stops it; returns how long it took to exit (killed after
        `timeout_s`, and then the time is reported as infinite)."""
        if not self.running:
            return 0.0
        assert self.process is not None
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return float("inf")
        return time.monotonic() - began

    def kill(self) -> None:
        """kill -9: no shutdown, no final commit, nothing flushed."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def health(self) -> httpx.Response:
        return httpx.get(f"{self.web}/health", timeout=5)

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


class Pipeline:
    """The projections worker and the raw-events worker, as `ugc run` starts them."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.projections = Worker(settings, log_dir / "projections.log", "streams.app")
        self.raw = Worker(settings, log_dir / "raw-events.log", "streams.raw_app")

    def start(self) -> None:
        self.projections.start()
        self.raw.start()

    def stop(self) -> None:
        self.projections.stop()
        self.raw.stop()

    def kill(self) -> None:
        self.projections.kill()
        self.raw.kill()

    def log_tail(self, lines: int = 60) -> str:
        return f"{self.projections.log_tail(lines)}\n---\n{self.raw.log_tail(lines)}"

    def analytics(self, view: str, **params: Any) -> Any:
        response = httpx.get(
            f"{self.raw.web}/analytics/{view}",
            params=params,
            headers={"Authorization": f"Bearer {mint_analyst_token(self.settings)}"},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()


async def eventually(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout_s: float = 60.0
) -> T:
    """Poll `probe` until `accept` holds; fail with the last value seen at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout_s}s; last value: {value!r}")
        await asyncio.sleep(0.25)
