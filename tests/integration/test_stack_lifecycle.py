"""A second, separate stack instance: `up` twice is harmless, `down` leaves no process behind."""

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ugc.settings import PROJECT_ROOT

# Ports of this instance only; it shares the provisioned software with the test stack.
LIFECYCLE_ENV = {
    "UGC_KAFKA_BOOTSTRAP": "127.0.0.1:29092",
    "UGC_STACK_KAFKA_CONTROLLER_PORT": "29093",
    "UGC_SCHEMA_REGISTRY_URL": "http://127.0.0.1:28081/apis/ccompat/v7",
    "UGC_STACK_REGISTRY_MANAGEMENT_PORT": "29001",
    "UGC_MONGO_URL": "mongodb://127.0.0.1:27217/",
    "UGC_MONGO_POSTGRES_URL": "postgresql://postgres@127.0.0.1:25432/ferretdb",
    "UGC_NGINX_PORT": "28000",
    "UGC_API_PORT": "28001",
}


def _processes_mentioning(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline:
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


@pytest.mark.slow
def test_up_twice_then_down_leaves_nothing(settings):
    # In the project, not in pytest's private (0700) temporary folder: PostgreSQL runs as its
    # own user, who must reach its data folder.
    stack_dir = PROJECT_ROOT / f".stack-lifecycle-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        **LIFECYCLE_ENV,
        "UGC_ENV_FILE": "/dev/null",
        "UGC_STACK_DIR": str(stack_dir),
        "UGC_STACK_DIST_DIR": str(settings.stack_dist_dir),
        "UGC_CLICKHOUSE_PATH": str(stack_dir / "chdb"),
    }
    ugc = str(Path(sys.prefix) / "bin" / "ugc")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ugc, *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
        )

    try:
        first = run("stack", "up")
        assert first.returncode == 0, first.stdout + first.stderr
        pids = sorted((stack_dir / "run").glob("*.pid"))
        assert [p.stem for p in pids] == ["ferretdb", "kafka", "nginx", "postgres", "registry"]
        before = {p.stem: p.read_text() for p in pids}

        second = run("stack", "up")
        assert second.returncode == 0, second.stdout + second.stderr
        assert second.stdout.count("already running") == 5
        assert {p.stem: p.read_text() for p in sorted((stack_dir / "run").glob("*.pid"))} == before

        status = run("stack", "status")
        assert status.returncode == 0, status.stdout + status.stderr
        for expected in (
            "kafka       4.4.0",
            "registry    3.3.3",
            "ferretdb    1.24.2",
            "postgres    1",
            "PostgreSQL 1",
            "chDB 26.",
        ):
            assert expected in status.stdout
    finally:
        down = run("stack", "down")
    assert down.returncode == 0, down.stderr
    assert _processes_mentioning(str(stack_dir)) == []
    assert list((stack_dir / "run").glob("*.pid")) == []
    shutil.rmtree(stack_dir)
