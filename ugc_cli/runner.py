"""`ugc run`: the API and the Faust worker in the foreground, on top of the local stack."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import httpx

from infra.stack.nginx import UPSTREAM_KEEPALIVE_TIMEOUT_S
from infra.stack.process import wait_until
from ugc.settings import Settings
from ugc_cli.analytics import dashboard_url

Echo = Callable[[str], None]

# uvicorn keeps an idle connection open longer than nginx does: nginx closes it first, so it
# never sends a request on a connection uvicorn is closing at that moment (a 503 for a POST).
API_KEEPALIVE_TIMEOUT_S = UPSTREAM_KEEPALIVE_TIMEOUT_S + 15
# uvicorn's bound on the requests in flight at shutdown (produce timeouts are shorter).
API_GRACEFUL_SHUTDOWN_S = 10
# How long the children have, together, to stop on SIGTERM before they are killed.
STOP_TIMEOUT_S = 20.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def service_commands(settings: Settings) -> dict[str, list[str]]:
    bin_dir = f"{sys.prefix}/bin"
    return {
        # uvicorn through ingest_api.serve: metrics summed over its workers, one refusal of
        # insecure settings before any worker starts.
        "api": [
            f"{bin_dir}/python",
            "-m",
            "ingest_api.serve",
            "ingest_api.main:app_factory",
            "--factory",
            "--host",
            settings.api_host,
            "--port",
            str(settings.api_port),
            "--workers",
            str(api_workers(settings)),
            "--no-access-log",
            "--timeout-keep-alive",
            str(API_KEEPALIVE_TIMEOUT_S),
            "--timeout-graceful-shutdown",
            str(API_GRACEFUL_SHUTDOWN_S),
        ],
        # Projections into MongoDB (several may run) and raw events into ClickHouse (one per
        # chDB folder): separate consumer groups, so neither waits for the other.
        **{
            f"worker-{n}" if n else "worker": worker_command(
                "streams.app", "--web-port", str(projections_web_port(settings, n))
            )
            for n in range(settings.workers)
        },
        "raw-events-worker": worker_command("streams.raw_app"),
    }


def projections_web_port(settings: Settings, index: int) -> int:
    """The web port of the index-th projections worker (0 is the first)."""
    return settings.worker_web_port + 10 * index


def api_workers(settings: Settings) -> int:
    """UGC_API_WORKERS, or one per core when it is 0."""
    return settings.api_workers or os.cpu_count() or 1


def worker_command(app: str, *extra: str) -> list[str]:
    """`faust -A <app> worker -l info`, as operators run it."""
    return [f"{sys.prefix}/bin/faust", "-A", app, "worker", "-l", "info", *extra]


class _Stop(BaseException):
    """SIGTERM or SIGHUP (a supervisor, a closed terminal): stop as on Ctrl-C.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` on the way swallows it.
    """


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop(signal.Signals(signum).name)


def run_services(settings: Settings, echo: Echo) -> int:
    """Start the API and the workers, print the URLs; stop them all on Ctrl-C, SIGTERM or SIGHUP,
    or when one exits."""
    # Ctrl-C reaches the children through the terminal's process group; SIGTERM from a process
    # supervisor reaches this process only, and would leave them running as orphans.
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, *STOP_SIGNALS)}
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise_stop)
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, cmd in service_commands(settings).items():
            children[name] = subprocess.Popen(cmd)
        entry = f"http://{settings.api_host}:{settings.nginx_port}/api/v1"
        # A child that exits at once (e.g. the API refusing its settings) ends the wait.
        answered = wait_until(
            lambda: bool(_exited(children)) or _answers(f"{entry}/health"), 60.0, 0.5
        )
        if exited := _exited(children):
            echo(f"error: {', '.join(exited)} exited")
            return 1
        if not answered:
            echo("error: the API did not answer through nginx within 60s")
            return 1
        echo(f"API through nginx:  {entry}/health")
        echo(f"OpenAPI docs:       {entry}/openapi")
        echo(f"API direct:         http://{settings.api_host}:{settings.api_port}/api/v1")
        echo(f"Schema registry:    {settings.schema_registry_url}")
        echo(
            f"Projections worker: http://{settings.worker_web_host}:{settings.worker_web_port}/health"
        )
        echo(
            f"Raw-events worker:  http://{settings.worker_web_host}:{settings.raw_events_web_port}/health"
        )
        url, caveat = dashboard_url(settings)
        echo(f"Analytics dashboard: {url}")
        if caveat:
            echo(f"  {caveat}")
        echo("Ctrl-C stops the API and the worker; `ugc stack down` stops the stack.")
        while not (exited := _exited(children)):
            time.sleep(0.5)
        echo(f"error: {', '.join(exited)} exited")
        return 1
    except (KeyboardInterrupt, _Stop):
        return 0
    finally:
        # A second signal must not cut the stop short and leave children behind.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        try:
            stop_children(list(children.values()), STOP_TIMEOUT_S)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def stop_children(children: list[subprocess.Popen[bytes]], timeout_s: float) -> None:
    """SIGTERM to each running child, then SIGKILL to those still running at the deadline."""
    running = [child for child in children if child.poll() is None]
    for child in running:
        child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for child in running:
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _exited(children: dict[str, subprocess.Popen[bytes]]) -> list[str]:
    return [name for name, child in children.items() if child.poll() is not None]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
