"""`make bench-pipeline` writes the figures a machine reads, with the names the issue asks for,
and sorts the worker's profile into the pipeline's stages."""

import json
from collections import Counter

from bench import pipeline
from bench.freshness import Freshness
from bench.ladder import ViewerStep
from bench.measures import NEVER, Delays, Load, WriteLog
from bench.projection_writes import WriteCost
from bench.pyspy import OTHER, stage_of
from streams.base import PROJECTIONS_GROUP, RAW_EVENTS_GROUP

REQUIRED = {
    "sustained_events_per_s", "mongo_p99_s_at_500", "clickhouse_p99_s_at_500",
    "concurrent_viewers", "worker_us_per_event", "projection_documents", "date", "machine",
}  # fmt: skip


def _load(rate: float, events: int) -> Load:
    accepted = [
        {"kind": "position", "event_id": str(i), "status": 202, "sent": 0.0, "answered": 0.01}
        for i in range(events)
    ]
    return Load(rate, 10.0, 0.0, accepted, cpu_s=1.0)


def _step(viewers: int, rate: float, lag_end: float, resume_p99: float) -> ViewerStep:
    groups = (PROJECTIONS_GROUP, RAW_EVENTS_GROUP)
    return ViewerStep(
        viewers=viewers,
        load=_load(rate, int(rate * 10)),
        lag_mid=dict.fromkeys(groups, 100.0),
        lag_end={PROJECTIONS_GROUP: lag_end, RAW_EVENTS_GROUP: 100.0},
        processed=dict.fromkeys(groups, int(rate * 10)),
        resume=Delays(0.1, resume_p99, resume_p99, 0, 10),
        cpu_s={"projections worker": rate * 10 * 500e-6, "raw-events worker": 1.0, "api": 2.0},
        seconds=10.0,
        idle_cpu_per_s={"projections worker": 0.0, "raw-events worker": 0.05, "api": 0.1},
        stages=Counter({"write": 3, "consume": 1}),
    )


def _fresh(rate: float, p99: float) -> Freshness:
    delays, probe = Delays(p99 / 2, p99, p99, 0, 100), Delays(1.0, 3.0, 3.0, 0, 100)
    load = _load(rate, 100)
    return Freshness(load, delays, load, probe, probe, 0.01, delays, delays, 10, 10, 0, 0, 1)


def test_the_report_writes_the_json_and_the_section(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "RESULTS", tmp_path / "benchmarks.md")
    monkeypatch.setattr(pipeline, "JSON_RESULTS", tmp_path / "benchmarks" / "pipeline.json")
    steps = [_step(1000, 120, 90, 0.3), _step(2000, 240, 110, 0.6), _step(4000, 480, 5000, 4.0)]
    costs = [WriteCost(1000, 10, 1000, 0.5, {"ferretdb": 500, "postgres": 400}),
             WriteCost(1_000_000, 10, 1500, 0.7, {"ferretdb": 550, "postgres": 650})]  # fmt: skip
    results = pipeline.Results(
        1_000_000, 1.0, costs, {1: steps}, {500.0: _fresh(500, 0.8), 192: _fresh(192, 0.2)}, 60, 1
    )
    pipeline.report(pipeline.get_settings(), results)

    data = json.loads((tmp_path / "benchmarks" / "pipeline.json").read_text())
    assert data.keys() >= REQUIRED
    assert data["sustained_events_per_s"] == 240  # the 480/s step's projections lag grew
    assert data["concurrent_viewers"] == 2000
    assert data["mongo_p99_s_at_500"] == 0.8  # the viewers' resume points, not the probe's
    # CPU figures of the highest step whose load the API took: 4,800 events, 1 s of it idle
    assert data["cpu_us_per_event_less_idle_by_process"]["api"] == round(1e6 / 4800)
    assert data["worker_us_per_event"] == 500
    assert data["worker_us_per_event_by_stage"] == {
        "decode": 0, "write": 375, "aggregate": 0, "consume": 125, OTHER: 0,
    }  # fmt: skip
    assert data["write_cost_ratio"] == round(1200 / 900, 2)
    assert "## Pipeline freshness" in (tmp_path / "benchmarks.md").read_text()


def test_a_sample_goes_to_the_stage_of_its_innermost_known_frame():
    loop = "main (faust/cli/base.py:1);BaseEventLoop._run_once (asyncio/base_events.py:1884)"
    write = ";_apply_in_order (sinks/mongo/projections.py:350);update_one (pymongo/x.py:1)"
    assert stage_of(loop + write + ";send (asyncio/selector_events.py:5)") == "write"
    assert stage_of(loop + ";_decode (streams/messages.py:199);loads (fastavro/x.py:1)") == "decode"
    assert stage_of(loop + ";_newest_per_film (sinks/mongo/projections.py:150)") == "aggregate"
    assert stage_of(loop + ";EpollSelector.select (selectors.py:468)") == OTHER


def test_the_write_log_is_read_as_it_grows(tmp_path):
    path = tmp_path / "writes.log"
    path.write_text("u:m1 e1 1.0 1.5\nu:m1 - 2.0 2.1\nu:m2 e2 3.0 3.")  # the last line unfinished
    log = WriteLog(path)
    log.refresh()
    assert (log.by_key["u:m1"].answered, set(log.by_event)) == (1.5, {"e1"})
    with path.open("a") as file:
        file.write("5\n")
    log.refresh()
    assert log.by_event["e2"].answered == 3.5
    assert Delays.of([0.1, NEVER]).never == 1
