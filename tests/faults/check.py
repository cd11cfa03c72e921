"""What the stores hold after a scenario, against the ground truth of what got a 202, as the
figures the reliability report publishes."""

import asyncio
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from tests.faults.load import Load
from tests.worker_support import Pipeline
from tests.workload import T0, differences, ground_truth, mongo_state, subset


@dataclass(frozen=True)
class Figures:
    scenario: str
    accepted: int  # distinct events that got a 202
    lost: int  # accepted events ClickHouse does not hold
    # Totals above the truth (watch time and rating counts in MongoDB, watch time per day
    # in ClickHouse), and events ClickHouse holds beyond those accepted.
    doubled: int
    wrong: int  # MongoDB projections (any kind) that are not the truth
    http_5xx: int  # 5xx answers but a 503 with Retry-After, on writes and reads
    http_503: int  # 503 + Retry-After answers (expected while a dependency is down)
    unanswered: int  # requests without an answer (timeouts, resets)
    slowest_answer_s: float
    load_s: float  # posting everything, the fault included
    scenario_s: float  # the load, then until the stores held the truth (or the bound)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def _clickhouse(pipeline: Pipeline, users: set[str]) -> dict[str, Any]:
    day = T0.date().isoformat()
    counts, watched = {}, {}
    for user in users:
        row = await asyncio.to_thread(pipeline.analytics, "viewer-events", user_id=user)
        counts[user] = {k: v for k, v in row.items() if v}
        daily = await asyncio.to_thread(
            pipeline.analytics, "viewer-daily", user_id=user, **{"from": day, "to": day}
        )
        watched[user] = sum(d["watched_seconds"] for d in daily)
    return {"counts": counts, "watched": watched}


async def settled_figures(
    scenario: str, load: Load, pipeline: Pipeline, settings: Any, load_s: float, timeout_s: float
) -> tuple[Figures, dict[str, Any]]:
    """Wait (bounded) until MongoDB and ClickHouse hold the truth, then count what differs."""
    truth = ground_truth(load.accepted)
    users = set(truth["counts"])
    watched_by_user: Counter[str] = Counter()
    for (user, _film), seconds in truth["watched"].items():
        watched_by_user[user] += seconds
    settling = time.monotonic()
    deadline = settling + timeout_s
    while True:
        mongo = await mongo_state(settings, users)
        raw = await _clickhouse(pipeline, users)
        exact = mongo == subset(truth) and raw["counts"] == truth["counts"]
        if exact and raw["watched"] == {u: watched_by_user[u] for u in users}:
            break
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    lost = sum(
        max(0, n - raw["counts"].get(user, {}).get(family, 0))
        for user, families in truth["counts"].items()
        for family, n in families.items()
    )
    extra_events = sum(
        max(0, n - truth["counts"].get(user, {}).get(family, 0))
        for user, families in raw["counts"].items()
        for family, n in families.items()
    )
    film_counts = {film: count for film, (_, count) in truth["film_totals"].items()}
    doubled = (
        sum(1 for k, v in mongo["watched"].items() if v > truth["watched"].get(k, 0))
        + sum(1 for k, v in mongo["film_totals"].items() if v[1] > film_counts.get(k, 0))
        + sum(1 for u, v in raw["watched"].items() if v > watched_by_user[u])
    )
    diff = differences(mongo, truth)
    answers = (load.writes, load.reads)
    figures = Figures(
        scenario=scenario,
        accepted=len({item["event_id"] for _, item in load.accepted}),
        lost=lost,
        doubled=doubled + extra_events,
        wrong=sum(d["count"] for d in diff.values()),
        http_5xx=sum(a.http_5xx for a in answers),
        http_503=sum(a.statuses[503] for a in answers),
        unanswered=sum(a.statuses[0] for a in answers),
        slowest_answer_s=round(max(a.slowest_s for a in answers), 2),
        load_s=round(load_s, 1),
        scenario_s=round(load_s + time.monotonic() - settling, 1),
    )
    return figures, {"mongo": diff, "bad answers": [b for a in answers for b in a.bad][:10]}
