"""Running the real API as operators do (uvicorn, the command of `ugc run`), behind the stack's
nginx, for tests that need a server on a socket rather than the in-process app."""

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from ugc.settings import PROJECT_ROOT, Settings
from ugc_cli.runner import service_commands


class ApiServer:
    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def direct(self) -> str:
        return f"http://{self.settings.api_host}:{self.settings.api_port}"

    @property
    def through_nginx(self) -> str:
        return f"http://{self.settings.api_host}:{self.settings.nginx_port}"

    def start(self, timeout_s: float = 60.0) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            service_commands(self.settings)["api"],
            cwd=PROJECT_ROOT,
            env=os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"API did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.2)

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.direct}/api/v1/health", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
