"""CPU time of the pipeline's processes, read from /proc: where a benchmark step's CPU went."""

import os
import time
from pathlib import Path

from infra.stack.process import ManagedProcess
from ugc.settings import Settings

TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
# The stack's servers on the event path (the registry is asked once per schema, nginx unused).
STACK_COMPONENTS = ("kafka", "postgres", "ferretdb")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a live process: its own and that of its children that ended
    (and were waited for). Without the latter a tree's CPU fell whenever a child ended, as
    PostgreSQL's backends do when FerretDB closes idle connections: its CPU in a step came out
    negative."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), sum(int(ticks) for ticks in fields[11:15]) * TICK_S


def tree_cpu_s(root: int) -> float:
    """CPU seconds of a process and its live descendants (PostgreSQL's backends, uvicorn's
    worker): one pass over /proc."""
    stats = {int(p.name): _stat(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit()}
    children: dict[int, list[int]] = {}
    for pid, stat in stats.items():
        if stat is not None:
            children.setdefault(stat[0], []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        stat = stats.get(pid)
        if stat is not None:
            total += stat[1]
            todo.extend(children.get(pid, []))
    return total


def stack_pids(settings: Settings) -> dict[str, int]:
    """The running stack servers of `settings`' folder, by component name."""
    run, logs = settings.stack_dir / "run", settings.stack_dir / "logs"
    pids = {name: ManagedProcess(name, run, logs).pid() for name in STACK_COMPONENTS}
    return {name: pid for name, pid in pids.items() if pid is not None}


class CpuMeter:
    """CPU seconds each named process tree used between `start()` and `stop()`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._before: dict[str, float] = {}
        self._started = 0.0
        self.used: dict[str, float] = {}
        self.seconds = 0.0  # wall time between start and stop

    def start(self) -> None:
        self._before = {name: tree_cpu_s(pid) for name, pid in self.pids.items()}
        self._started = time.monotonic()

    def stop(self) -> dict[str, float]:
        self.used = {name: tree_cpu_s(pid) - self._before[name] for name, pid in self.pids.items()}
        self.seconds = time.monotonic() - self._started
        return self.used
