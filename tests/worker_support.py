"""Running the real Faust worker as a subprocess, and waiting on what it writes."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from ugc.settings import PROJECT_ROOT, Settings

T = TypeVar("T")


class Worker:
    """`faust -A streams.app worker`, as operators start it, with the test stack's settings."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def web(self) -> str:
        return f"http://{self.settings.api_host}:{self.settings.worker_web_port}"

    def start(self, timeout_s: float = 90.0) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(Path(sys.prefix) / "bin" / "faust"), "-A", "streams.app", "worker", "-l", "info"],
            cwd=PROJECT_ROOT,
            env=os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while b"Worker]: Ready" not in self.log_path.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """kill -9: no shutdown, no final commit, nothing flushed."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def analytics(self, view: str, **params: Any) -> Any:
        response = httpx.get(f"{self.web}/analytics/{view}", params=params, timeout=30)
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
