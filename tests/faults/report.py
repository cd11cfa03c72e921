"""Write docs/reliability.md and docs/benchmarks/reliability.json from the fault scenarios'
figures (one JSON line per scenario run, tests/faults/conftest.py).

    python -m tests.faults.report [--wall-s SECONDS] [--command "make soak RUNS=10"]
    python -m tests.faults.report --reset    # before the runs: forget earlier figures
"""

import argparse
import json
import os
from collections import defaultdict
from typing import Any

from bench.machine import machine_facts, machine_line
from tests.faults.conftest import results_file
from ugc.settings import PROJECT_ROOT, get_settings

SUMMED = ("accepted", "lost", "doubled", "wrong", "http_5xx", "http_503", "unanswered")
HEADER = (
    "| scenario | runs | exact runs | accepted | lost | doubled | wrong | 5xx | 503 "
    "| unanswered | slowest answer | time per run |\n" + "|---" * 12 + "|"
)
DOC = PROJECT_ROOT / "docs" / "reliability.md"
JSON = PROJECT_ROOT / "docs" / "benchmarks" / "reliability.json"


def summarise(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per scenario, in the order first run: runs, failed runs and the summed figures."""
    by_scenario: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        by_scenario[line["scenario"]].append(line)
    summary = {}
    for scenario, runs in by_scenario.items():
        summary[scenario] = {
            "runs": len(runs),
            **{key: sum(run[key] for run in runs) for key in SUMMED},
            "exact_runs": sum(1 for run in runs if _exact(run)),
            "slowest_answer_s": max(run["slowest_answer_s"] for run in runs),
            "mean_load_s": round(sum(run["load_s"] for run in runs) / len(runs), 1),
            "mean_scenario_s": round(sum(run["scenario_s"] for run in runs) / len(runs), 1),
        }
    return summary


def _exact(run: dict[str, Any]) -> bool:
    return not any(run[key] for key in ("lost", "doubled", "wrong", "http_5xx", "unanswered"))


def markdown(summary: dict[str, dict[str, Any]], failures: list[dict[str, Any]], meta: str) -> str:
    rows = "\n".join(
        f"| {name} | {s['runs']} | {s['exact_runs']} | {s['accepted']:,} | {s['lost']} | "
        f"{s['doubled']} | {s['wrong']} | {s['http_5xx']} | {s['http_503']} | "
        f"{s['unanswered']} | {s['slowest_answer_s']} s | {s['mean_scenario_s']} s |"
        for name, s in summary.items()
    )
    failed = "\n".join(
        f"- {run['at']} {run['scenario']}: lost {run['lost']}, doubled {run['doubled']}, "
        f"wrong {run['wrong']}, 5xx {run['http_5xx']}, unanswered {run['unanswered']}; "
        f"{json.dumps(run.get('detail', {}), default=str)[:600]}"
        for run in failures
    )
    return f"""# Reliability under faults

Written by `make test-faults` (one run of each scenario) and `make soak` (`RUNS`, 10 by
default), from `tests/faults/`. {meta}

Each scenario runs on a local cluster of three Kafka 4.4.0 nodes (each broker and KRaft
controller, a 3-voter quorum; topics with replication factor 3 and `min.insync.replicas=2`),
Apicurio, FerretDB on PostgreSQL, chDB, nginx, the API (one uvicorn process) and three Faust
workers (two projections workers in one group, one raw-events worker). It posts 5,000 events
(plus 5% sent twice) of all five families (playback actions, position heartbeats, watch time,
ratings, favourites) for 20 fresh viewers and 5 fresh films, client times spread over two hours
in random order, through nginx at up to 250 events/s from 12 clients in batches of 20; a
reader asks for resume points 5 times a second. An item not stored (a 503, or a 503 result in
a 207) is sent again with the same `event_id` until it is accepted. The fault comes at a
quarter to a third of the load and is repaired at 60-70% (the pause lasts the produce timeout
plus 3 s). Then MongoDB's projections (watch time, resume points, favourites, each film's sum
and count of ratings) and ClickHouse (distinct events per viewer and family, watch time per
day) are compared with the ground truth computed from what got a 202.

- **accepted**: distinct events that got a 202, summed over the runs;
- **lost**: accepted events ClickHouse does not hold (per viewer and family);
- **doubled**: totals above the truth (watch time or rating count in MongoDB, watch time per
  day in ClickHouse) and events ClickHouse holds beyond those accepted;
- **wrong**: MongoDB projections that differ from the truth in any way (counted in a run
  that did not converge within 120 s after the load);
- **5xx**: answers 5xx other than 503, and 503s without `Retry-After`, to writes and reads;
- **503**: 503 with `Retry-After`, as the API answers while a dependency is down;
- **unanswered**: requests with no answer within the produce and registry timeouts + 5 s.

{HEADER}
{rows}

The scenarios:

- **kill -9 the leaders' broker**: the node leading the most event-topic partitions gets
  SIGKILL; it is started again at 60% of the load and the next scenario waits until no
  partition is under-replicated;
- **SIGSTOP a broker past the produce timeout**: the leaders' node is paused for
  `UGC_PRODUCE_TIMEOUT_S` + 3 s, then resumed;
- **kill -9 one of two projections workers**: the group rebalances, the worker comes back;
- **projections workers leave and join six times** (10,000 events, twice the others): the
  second worker stops (SIGTERM) at 10% and starts at 20%, the first gets SIGKILL at 35% and
  starts at 50%, the second stops at 65% and starts at 75%;
- **stop MongoDB**: FerretDB and its PostgreSQL stop; reads must answer 503 meanwhile, writes
  never do;
- **stop the schema registry**: a fresh API process must answer 503 + Retry-After, a freshly
  started raw-events worker waits for the registry, and the dead-letter topic gains nothing.

Runs that were not exact:
{failed or "none."}

Found on 2026-11-28: the worker kill lost events in 2 of its first 4 runs, and the scenario of
workers leaving and joining, written then, was wrong in 2 of its first 3 runs (watch time and a
film's rating sum short). Three causes were found and fixed. Faust 0.15.3 resumes fetching after
a rebalance before it seeks back to the committed offsets, drops events fetched again after a
seek, and may commit offsets never applied (faust-streaming#606); each partition is now handed
to the agents strictly in offset order from where it was sought and committed only as far as
applied (`streams/offsets.py`). FerretDB 1.24 loses one of two concurrent updates of a document
(it reads, then writes it whole): a worker writes each document from one path at a time
(`sinks/mongo/projections.py`), and since 2026-12-02 every update also moves the document's
version, which a trigger in FerretDB's PostgreSQL checks, so a write computed from a document
another process changed meanwhile is refused and sent again (`sinks/mongo/conflicts.py`). Before
that guard the scenario was exact in 9 of 10 runs; the failure (one viewing event missing from a
viewer's watch time while later ones of the same viewer and film were applied, produced as a
worker began a graceful stop and its partition moved twice) has the shape of such a lost update.
The figures above are of the code with the guard; workers log each refused write as
`write conflict`.

Found on 2026-12-03, in CI and in 2 of 6 soak runs on a loaded machine, both in the worker
kill: (1) a film's rating total short by 3 ratings for good. Its changelog held no total for
48 consecutive ratings before the kill, yet their offsets were committed: Faust's flush before a
commit returns after 0.1 s without a message sent, with table changes still queued. A rating is
now acknowledged only once Kafka acknowledged its table changes (`streams/tables.py`). (2) A
viewer's watch time one event short at the bound, applied 9 s after it: the restarted worker,
ready and idle, never handed on its partition's last record until the next rebalance. An
assigned partition with records waiting, nothing handed on for 10 s and nothing unacknowledged
is now fetched again from the awaited offset (workers log `none handed on`).
"""


DETAIL_CHARS = 3000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wall-s", type=float, default=0.0, help="the whole command's time")
    parser.add_argument("--command", default="make test-faults")
    parser.add_argument("--reset", action="store_true", help="forget earlier figures, and stop")
    parser.add_argument("--note", default="", help="findings to print under the figures")
    args = parser.parse_args()
    path = results_file(get_settings())
    if args.reset:
        path.unlink(missing_ok=True)
        return
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    summary = summarise(lines)
    runs = min((s["runs"] for s in summary.values()), default=0)
    wall = f", {args.wall_s / 60:.1f} min in all (stack up included)" if args.wall_s else ""
    env_file = os.environ.get("UGC_ENV_FILE", ".env")
    meta = (
        f"Measured {machine_line()}: `{args.command}` (stack settings `{env_file}`), "
        f"{runs} run(s) of each scenario{wall}."
    )
    failures = [line for line in lines if not _exact(line)]
    note = f"\n## Notes\n\n{args.note.strip()}\n" if args.note else ""
    DOC.write_text(markdown(summary, failures, meta) + note)
    JSON.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "machine": machine_facts(),
        "command": args.command,
        "stack_settings": env_file,
        "runs": runs,
        "wall_s": args.wall_s,
        "scenarios": summary,
    }
    JSON.write_text(json.dumps(document, indent=2) + "\n")
    print(f"{DOC.relative_to(PROJECT_ROOT)}: {runs} run(s); not exact: {len(failures)}")
    for failure in failures:  # CI keeps only this output: what differed, enough to start from
        detail = json.dumps(failure.get("detail"), default=str)
        print(f"not exact: {failure['scenario']} at {failure['at']}: {detail[:DETAIL_CHARS]}")


if __name__ == "__main__":
    main()
