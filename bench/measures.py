"""What bench/pipeline.py's phases share: the load processes' records, the worker's write log,
percentiles."""

import asyncio
import json
import math
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ugc.settings import PROJECT_ROOT, Settings

NEVER = math.inf
Event = dict[str, Any]  # one event of bench/load.py's record


def bench_dir(settings: Settings) -> Path:
    path = settings.stack_dir / "bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Load:
    rate: float  # offered, events/s
    seconds: float
    start: float
    events: list[Event]
    cpu_s: float  # the load process's own CPU

    @property
    def accepted(self) -> list[Event]:
        return [e for e in self.events if e["status"] == 202]

    @property
    def errors(self) -> int:
        return len(self.events) - len(self.accepted)

    @property
    def achieved(self) -> float:
        """Accepted events per second over the time it took to get them accepted."""
        last = max((e["answered"] for e in self.accepted), default=self.start)
        return len(self.accepted) / max(self.seconds, last - self.start)

    def latency(self, q: float) -> float:
        return percentile([e["answered"] - e["sent"] for e in self.events], q)


async def run_child(
    settings: Settings, module: str, args: list[str], rate: float, seconds: float, env: dict
) -> Load:
    """`python -m module args... OUT` (bench/load.py or bench/viewers.py) in its own process;
    its record of the events it sent, and the CPU it used."""
    out = bench_dir(settings) / f"load-{os.getpid()}-{time.monotonic_ns()}.json"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args, str(out), cwd=PROJECT_ROOT, env={**os.environ, **env}
    )
    if await child.wait() != 0:
        raise RuntimeError(f"{module} failed (exit {child.returncode})")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    data = json.loads(out.read_text())
    out.unlink()
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Load(rate, seconds, data["start"], data["events"], cpu)


def percentile(values: list[float], q: float) -> float:
    """Nearest rank; NEVER (an event not seen) sorts last."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True)
class Delays:
    p50: float
    p99: float
    max: float
    never: int
    count: int

    @classmethod
    def of(cls, values: list[float]) -> "Delays":
        return cls(
            percentile(values, 0.50),
            percentile(values, 0.99),
            max(values, default=math.nan),
            sum(v == NEVER for v in values),
            len(values),
        )

    def ok(self, target_s: float) -> bool:
        """A valid run sees every event; then its p99 is compared with the target."""
        return self.never == 0 and self.p99 <= target_s

    def json(self) -> dict[str, float | int | None]:
        def finite(value: float) -> float | None:
            return round(value, 3) if math.isfinite(value) else None

        return {"p50_s": finite(self.p50), "p99_s": finite(self.p99), "max_s": finite(self.max),
                "never": self.never, "count": self.count}  # fmt: skip


def seconds_text(value: float) -> str:
    if value == NEVER:
        return "never"
    if math.isnan(value):
        return "-"
    return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:.2f} s"


@dataclass(frozen=True)
class Write:
    key: str  # the document, "user:movie"
    sent: float
    answered: float


class WriteLog:
    """bench/worker.py's log of `progress` writes, read as it grows: per document the first
    write, per position event the write that stored it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self.by_key: dict[str, Write] = {}
        self.by_event: dict[str, Write] = {}

    def refresh(self) -> None:
        if not self.path.exists():
            return
        with self.path.open() as file:
            file.seek(self._offset)
            for line in file:
                if not line.endswith("\n"):
                    break  # the worker is still writing it
                self._offset += len(line)
                key, event, sent, answered = line.split()
                write = Write(key, float(sent), float(answered))
                self.by_key.setdefault(key, write)
                if event != "-":
                    self.by_event.setdefault(event, write)


def load_average() -> float:
    return round(os.getloadavg()[0], 2)
