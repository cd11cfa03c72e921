"""`make bench-ingest` writes the figures a machine reads, with the names the issue asks for."""

import json

from bench import ingest
from bench.ingest import ApiRuns, WrkResult

REQUIRED = {
    "ceiling_events_per_s", "ceiling_client", "batch_events_per_s", "batch_ratio",
    "single_rps_per_worker", "single_p99_ms", "workers", "multi_worker_rps", "date", "machine",
}  # fmt: skip


def _run(rps: float) -> WrkResult:
    return WrkResult(requests_per_s=rps, p50_ms=5.0, p99_ms=20.0, requests=int(rps * 10), errors=0)


def test_the_report_writes_the_json_and_the_section(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "RESULTS", tmp_path / "benchmarks.md")
    monkeypatch.setattr(ingest, "RESULTS_JSON", tmp_path / "benchmarks" / "ingest.json")
    ceilings = {
        "confluent-kafka": 200_000.0,
        "aiokafka": 60_000.0,
        "kafka-producer-perf-test": 1.5e5,
    }
    one = ApiRuns(1, _run(3_100), _run(300))
    many = ApiRuns(2, _run(5_000), _run(280))
    ingest.report(ceilings, one, many)

    results = json.loads((tmp_path / "benchmarks" / "ingest.json").read_text())
    assert results.keys() >= REQUIRED
    assert results["ceiling_client"] == "confluent-kafka"
    assert results["ceiling_events_per_s"] == 200_000
    assert results["batch_events_per_s"] == 30_000  # the better of 1 and N workers
    assert results["batch_ratio"] == 0.15
    assert results["single_rps_per_worker"] == 3_100
    assert (results["workers"], results["multi_worker_rps"]) == (2, 5_000)
    section = (tmp_path / "benchmarks.md").read_text()
    assert "## Ingest API" in section and "confluent-kafka (ceiling)" in section
