"""bench/pipeline.py's ladder: more and more concurrent viewers, until the pipeline falls behind.

Each step runs bench/viewers.py with VIEWERS viewers of the preloaded documents for STEP_S
seconds and measures, side by side in the step:
- per consumer group, whether its lag stayed flat (mean lag over the second quarter of the
  step vs the last quarter, within GROWTH_TOLERANCE_S of load);
- resume freshness: from each heartbeat's 202 to the answer of the worker's write that stored
  it (bench/worker.py's log); a heartbeat not stored GRACE_S after the step's last 202 never is;
- the CPU every process of the pipeline used per event (/proc), and a py-spy profile of the
  projections workers (bench/pyspy.py).
"""

import asyncio
import math
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from bench.cpu import CpuMeter
from bench.kafka_lag import LagProbe, LagSample
from bench.measures import NEVER, Delays, Load, WriteLog, bench_dir, load_average, run_child
from bench.pyspy import Profile, shares
from bench.services import api_url
from bench.viewers import events_per_viewer_s
from ingest_api.auth import mint_token
from streams.base import PROJECTIONS_GROUP, RAW_EVENTS_GROUP
from ugc.settings import Settings

STEP_S = float(os.environ.get("BENCH_STEP_S", "20"))
DOCS = int(os.environ.get("BENCH_DOCS", "1000000"))  # preloaded (viewer, film) documents
LAG_EVERY_S = 0.25
GROWTH_TOLERANCE_S = 0.5  # lag may grow by this many seconds of load within a sustained step
MIN_ACHIEVED = 0.95  # share of the offered rate the API must accept for a step to count
GRACE_S = 5.0
IDLE_S = 10.0
RESUME_TARGET_S = 1.0
GROUPS = (PROJECTIONS_GROUP, RAW_EVENTS_GROUP)


@dataclass
class ViewerStep:
    viewers: int
    load: Load
    lag_mid: dict[str, float]  # per group: mean lag over the second quarter of the step
    lag_end: dict[str, float]  # ... over the last quarter
    processed: dict[str, int]  # per group: events committed during the step
    resume: Delays
    cpu_s: dict[str, float]  # per process (tree): CPU seconds during the step
    seconds: float  # wall time of the CPU measurement
    idle_cpu_per_s: dict[str, float]  # per process: CPU seconds per second with no load
    stages: Counter[str] = field(default_factory=Counter)  # py-spy samples, projections workers
    load_avg: float = 0.0

    def lag_steady(self, group: str) -> bool:
        growth = self.lag_end[group] - self.lag_mid[group]
        return growth <= GROWTH_TOLERANCE_S * self.load.rate + 10

    @property
    def rate_held(self) -> bool:
        return self.load.errors == 0 and self.load.achieved >= MIN_ACHIEVED * self.load.rate

    def sustained(self, group: str) -> bool:
        return self.rate_held and self.lag_steady(group)

    @property
    def served(self) -> bool:
        """Every viewer's resume point fresh: p99 within the target, nothing left behind."""
        return self.sustained(PROJECTIONS_GROUP) and self.resume.ok(RESUME_TARGET_S)

    def us_per_event(self, name: str) -> float:
        """CPU per event of a process: the workers' per event their group committed, the rest
        per accepted event."""
        if name.startswith("projections worker"):
            events = self.processed[PROJECTIONS_GROUP]
        elif name == "raw-events worker":
            events = self.processed[RAW_EVENTS_GROUP]
        else:
            events = len(self.load.accepted)
        return self.cpu_s[name] * 1e6 / events if events else math.nan

    def marginal_us_per_event(self, name: str) -> float:
        """As `us_per_event`, less what the process spends idle (timers, polls, commits)."""
        used = self.cpu_s[name]
        idle = self.idle_cpu_per_s.get(name, 0.0) * self.seconds
        return self.us_per_event(name) * max(0.0, 1 - idle / used) if used > 0 else math.nan

    @property
    def worker_us_per_event(self) -> float:
        names = [n for n in self.cpu_s if n.startswith("projections worker")]
        events = self.processed[PROJECTIONS_GROUP]
        return sum(self.cpu_s[n] for n in names) * 1e6 / events if events else math.nan

    def worker_stages_us(self) -> dict[str, float]:
        return {k: v * self.worker_us_per_event for k, v in shares(self.stages).items()}


async def run_viewers(settings: Settings, viewers: int, seconds: float, seed: int) -> Load:
    rate = viewers * events_per_viewer_s()
    start_at = time.time() + 2.0 + viewers / 20_000  # imports, tokens, connections
    args = [api_url(settings), str(viewers), str(seconds), str(start_at), str(seed), str(DOCS)]
    token = mint_token(settings, uuid.uuid4(), timedelta(hours=1))
    return await run_child(settings, "bench.viewers", args, rate, seconds, {"BENCH_TOKEN": token})


async def sample_lag(probe: LagProbe, samples: list[LagSample], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(await probe.sample())
        await asyncio.sleep(LAG_EVERY_S)


def mean_lag(samples: list[LagSample], load: Load, group: str, start: float, end: float) -> float:
    """Mean over a window of the step: Faust commits once a second and the ClickHouse sink
    acks once per flush, so single samples saw-tooth; a mean over seconds does not."""
    low, high = load.start + start * load.seconds, load.start + end * load.seconds
    window = [s.groups[group] for s in samples if low <= s.at <= high]
    return sum(window) / len(window) if window else math.nan


async def resume_delays(load: Load, writes: WriteLog) -> Delays:
    """202 -> stored, for every accepted heartbeat; waits (bounded) for the last ones."""
    beats = [e for e in load.accepted if e["kind"] == "position"]
    deadline = max((e["answered"] for e in beats), default=time.time()) + GRACE_S
    while True:
        writes.refresh()
        if all(e["event_id"] in writes.by_event for e in beats) or time.time() > deadline:
            break
        await asyncio.sleep(0.25)
    stored = writes.by_event
    return Delays.of(
        [
            stored[e["event_id"]].answered - e["answered"] if e["event_id"] in stored else NEVER
            for e in beats
        ]
    )


async def idle_cpu(pids: dict[str, int], seconds: float = IDLE_S) -> dict[str, float]:
    """CPU seconds per second each process spends with no load at all."""
    meter = CpuMeter(pids)
    meter.start()
    await asyncio.sleep(seconds)
    return {name: used / meter.seconds for name, used in meter.stop().items()}


async def run_step(
    settings: Settings,
    probe: LagProbe,
    viewers: int,
    pids: dict[str, int],
    writes: WriteLog,
    profile: list[int],
    idle: dict[str, float],
) -> ViewerStep:
    stop, samples = asyncio.Event(), list[LagSample]()
    meter = CpuMeter(pids)
    meter.start()
    first = await probe.sample()
    sampler = asyncio.create_task(sample_lag(probe, samples, stop))
    out = bench_dir(settings)
    profiles = [Profile(pid, STEP_S, out / f"profile-{viewers}-{pid}.txt") for pid in profile]
    try:
        load = await run_viewers(settings, viewers, STEP_S, seed=viewers)
    finally:
        stop.set()
        await sampler
    cpu = meter.stop()
    cpu["load generator"] = load.cpu_s
    stages: Counter[str] = Counter()
    for recording in profiles:
        stages += await asyncio.to_thread(recording.stages)
    last = samples[-1] if samples else first
    accepted = len(load.accepted)
    step = ViewerStep(
        viewers=viewers,
        load=load,
        lag_mid={g: mean_lag(samples, load, g, 0.25, 0.5) for g in GROUPS},
        lag_end={g: mean_lag(samples, load, g, 0.75, 1.0) for g in GROUPS},
        processed={g: accepted - (last.groups[g] - first.groups[g]) for g in GROUPS},
        resume=await resume_delays(load, writes),
        cpu_s=cpu,
        seconds=meter.seconds,
        idle_cpu_per_s=idle,
        stages=stages,
        load_avg=load_average(),
    )
    print(
        f"{viewers:,} viewers ({load.rate:,.0f}/s offered, {load.achieved:,.0f}/s accepted, "
        f"{load.errors} errors): lag "
        + ", ".join(f"{g} {step.lag_mid[g]:,.0f} -> {step.lag_end[g]:,.0f}" for g in GROUPS)
        + f"; resume p99 {step.resume.p99:.3f} s ({step.resume.never} never); worker "
        f"{step.worker_us_per_event:,.0f} us/event; load average {step.load_avg}",
        flush=True,
    )
    return step
