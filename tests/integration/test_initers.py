"""`ugc init` is idempotent: a second run creates nothing and says what already existed."""

import os
import subprocess
import sys
from pathlib import Path

from infra.init.report import Outcome


def _ugc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.prefix) / "bin" / "ugc"), *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
        check=False,
    )


def test_second_init_changes_nothing(stack):
    first = _ugc("init")
    assert first.returncode == 0, first.stderr
    second = _ugc("init")
    assert second.returncode == 0, second.stderr

    lines = [line for line in second.stdout.splitlines() if line.strip()]
    assert len(lines) == len(first.stdout.strip().splitlines())
    for store in ("kafka", "registry", "clickhouse", "mongo"):
        assert any(line.startswith(store) for line in lines), store
    assert all(line.endswith(Outcome.EXISTED) or f"{Outcome.EXISTED} (" in line for line in lines)
