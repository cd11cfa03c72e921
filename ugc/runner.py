"""`ugc run`: the API and the Faust worker in the foreground, on top of the local stack."""

import signal
import subprocess
import sys
import time
from collections.abc import Callable

import httpx

from infra.stack.process import wait_until
from ugc.settings import Settings

Echo = Callable[[str], None]


def service_commands(settings: Settings) -> dict[str, list[str]]:
    bin_dir = f"{sys.prefix}/bin"
    return {
        "api": [
            f"{bin_dir}/uvicorn",
            "ingest_api.main:app_factory",
            "--factory",
            "--host",
            settings.api_host,
            "--port",
            str(settings.api_port),
            "--no-access-log",
        ],
        "worker": [f"{bin_dir}/faust", "-A", "streams.app", "worker", "-l", "info"],
    }


def run_services(settings: Settings, echo: Echo) -> int:
    """Start the API and the worker, print the URLs, stop both on Ctrl-C or when one exits."""
    children = {name: subprocess.Popen(cmd) for name, cmd in service_commands(settings).items()}
    try:
        entry = f"http://{settings.api_host}:{settings.nginx_port}/api/v1"
        if not wait_until(lambda: _answers(f"{entry}/health"), 60.0, 0.5):
            echo("error: the API did not answer through nginx within 60s")
            return 1
        echo(f"API through nginx:  {entry}/health")
        echo(f"OpenAPI docs:       {entry}/openapi")
        echo(f"API direct:         http://{settings.api_host}:{settings.api_port}/api/v1")
        echo(f"Schema registry:    {settings.schema_registry_url}")
        echo(f"Faust worker web:   http://{settings.api_host}:{settings.worker_web_port}/")
        echo("Ctrl-C stops the API and the worker; `ugc stack down` stops the stack.")
        while all(child.poll() is None for child in children.values()):
            time.sleep(0.5)
        exited = [name for name, child in children.items() if child.poll() is not None]
        echo(f"error: {', '.join(exited)} exited")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children.values():
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
