"""`ugc run` as a process supervisor runs it: a SIGTERM to it alone stops the API and the
workers too, and each of them listens on the loopback only."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.stack.process import wait_until
from tests.net_support import listening_sockets_of
from tests.proc_support import Proc, descendants, running
from ugc.settings import PROJECT_ROOT, Settings
from ugc_cli.runner import STOP_TIMEOUT_S, service_commands

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 150.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def api_port_free(api_server) -> Iterator[None]:
    """`ugc run` starts its own API on the stack's API port: the session's steps aside."""
    api_server.stop()
    yield
    api_server.start()


def _api_answers(settings: Settings) -> bool:
    url = f"http://{settings.api_host}:{settings.api_port}/api/v1/health"
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


def test_sigterm_to_ugc_run_stops_the_api_and_the_workers(stack, settings, api_port_free, tmp_path):
    # The workers' web ports are this test's own, in case other workers of the session run.
    web_ports = {
        f"UGC_{name.upper()}": str(_free_port())
        for name in Settings.model_fields
        if name.endswith("web_port")
    }
    log = tmp_path / "ugc-run.log"
    expected = len(service_commands(settings))
    children: list[Proc] = []
    with log.open("wb") as out:
        run = subprocess.Popen(
            [f"{sys.prefix}/bin/ugc", "run"],
            cwd=PROJECT_ROOT,
            env={**os.environ, **web_ports},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a signal to the test's group never reaches it
        )
    try:
        # Started: the API answers and every child listens (API, workers' web servers).
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert run.poll() is None, f"ugc run exited:\n{_log_tail(log)}"
            children = descendants(run.pid)
            services = [c for c in children if c.ppid == run.pid]
            if (
                len(services) == expected
                and all(listening_sockets_of(c.pid) for c in services)
                and _api_answers(settings)
            ):
                break
            assert time.monotonic() < deadline, f"not started:\n{_log_tail(log)}"
            time.sleep(0.5)

        # Reachable from this machine only (a default start: 127.0.0.1). Helpers that listen
        # on nothing (the resource tracker of uvicorn's worker processes) are fine.
        for child in children:
            hosts = {s.local[0] for s in listening_sockets_of(child.pid)}
            assert hosts <= {"127.0.0.1"}, (child.cmdline, hosts)

        os.kill(run.pid, signal.SIGTERM)  # that process only, as a supervisor does
        run.wait(timeout=STOP_TIMEOUT_S + 10)
        assert wait_until(lambda: not any(running(c) for c in children), 5.0), [
            c.cmdline for c in children if running(c)
        ]
        assert run.returncode == 0, _log_tail(log)  # a requested stop, not a failure
    finally:
        for child in children:  # whatever this test started and left behind
            if running(child):
                os.kill(child.pid, signal.SIGKILL)
        if run.poll() is None:
            run.kill()
            run.wait(timeout=10)
