"""`make bench-ingest`: throughput and latency of the ingest API against the local stack.

One uvicorn worker serves the API; wrk (another process) loads it with single-event POSTs and
then with batch POSTs of 100 events. In the same run the raw aiokafka producer sends the same
Avro payloads with the same settings: that is the ceiling. Every accepted event is checked
against the API's own counter of events Kafka acknowledged. Results go to docs/benchmarks.md.
"""

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx

from bench.machine import machine_line, replace_section
from infra.stack.process import wait_until
from ingest_api.auth import mint_token
from ugc.settings import PROJECT_ROOT, get_settings

DURATION_S = int(os.environ.get("BENCH_DURATION_S", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))  # this VM is noisy: report the median round
BATCH = 100
TARGET_SINGLE_RPS = 3000
TARGET_BATCH_EPS = 30_000
TARGET_CEILING_SHARE = 0.5
RESULTS = PROJECT_ROOT / "docs" / "benchmarks.md"
BIN = Path(sys.prefix) / "bin"


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, token: str, batch: int, connections: int) -> WrkResult:
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    env = {**os.environ, "BENCH_TOKEN": token, "BENCH_BATCH": str(batch)}
    command = [
        wrk, "-t1", f"-c{connections}", f"-d{DURATION_S}s", "--latency", "--timeout", "10s",
        "-s", str(PROJECT_ROOT / "bench" / "wrk_events.lua"), url,
    ]  # fmt: skip
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    percentile = {
        p: _ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    }
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        print(f"wrk socket errors: {socket_errors.group(1)}")
    return WrkResult(
        requests_per_s=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=percentile["50"],
        p99_ms=percentile["99"],
        requests=requests,
        errors=int(errors.group(1)) if errors else 0,
    )


def events_produced(api: str) -> float:
    text = httpx.get(f"{api}/metrics").text
    return sum(
        float(v) for v in re.findall(r"^ugc_events_produced_total\{.*\} ([\d.e+]+)$", text, re.M)
    )


def raw_ceiling(count: int) -> float:
    out = subprocess.run(
        [str(BIN / "python"), "-m", "bench.raw_producer", str(count)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    result = json.loads(out.strip().splitlines()[-1])
    return float(result["events"] / result["seconds"])


def main() -> None:
    settings = get_settings()
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            str(BIN / "uvicorn"), "ingest_api.main:app_factory", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--no-access-log", "--log-level", "warning",
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "UGC_LOG_LEVEL": "WARNING"},
    )  # fmt: skip
    try:
        if not wait_until(lambda: _ready(api), 60, 0.5):
            sys.exit("the API did not become ready within 60s")
        token = mint_token(settings, uuid.uuid4(), timedelta(hours=1))
        run_wrk(api, token, 1, 32)  # warm-up: connections, caches, JIT of the broker
        singles = [checked_run(api, token, 1, 64) for _ in range(ROUNDS)]
        batches = [checked_run(api, token, BATCH, 8) for _ in range(ROUNDS)]
    finally:
        server.terminate()
        server.wait(timeout=30)
    ceiling = statistics.median(raw_ceiling(300_000) for _ in range(ROUNDS))
    single, batch = median_run(singles), median_run(batches)
    report(single, batch, batch.requests_per_s * BATCH, ceiling)


def checked_run(api: str, token: str, batch: int, connections: int) -> WrkResult:
    """One wrk run; every request wrk saw completed must be events Kafka acknowledged."""
    before = events_produced(api)
    result = run_wrk(api, token, batch, connections)
    acknowledged = events_produced(api) - before
    assert acknowledged >= (result.requests - result.errors) * batch, (acknowledged, result)
    return result


def median_run(runs: list[WrkResult]) -> WrkResult:
    return sorted(runs, key=lambda r: r.requests_per_s)[len(runs) // 2]


def _ready(api: str) -> bool:
    try:
        return httpx.get(f"{api}/api/v1/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def report(single: WrkResult, batch: WrkResult, batch_eps: float, ceiling: float) -> None:
    share = batch_eps / ceiling
    body = f"""
Measured {machine_line()}. Command: `make bench-ingest` (bench/ingest.py). One uvicorn worker;
load from wrk (1 thread) in a separate process, {ROUNDS} rounds of {DURATION_S}s after a warm-up (the
median round is shown, as is the median of {ROUNDS} raw-producer runs); the
local stack (Kafka 4.4.0 single node, acks=all, idempotent, lz4, linger 5 ms). Every request
that wrk counts as done was checked against the API's own count of events Kafka acknowledged.

| run | result | p50 | p99 | errors | target |
|---|---|---|---|---|---|
| single-event POST, 64 connections | {single.requests_per_s:,.0f} requests/s | {single.p50_ms:.1f} ms | {single.p99_ms:.1f} ms | {single.errors} | ≥ {TARGET_SINGLE_RPS:,} requests/s: {verdict(single.requests_per_s >= TARGET_SINGLE_RPS)} |
| batch POST of {BATCH}, 8 connections | {batch_eps:,.0f} events/s ({batch.requests_per_s:,.0f} requests/s) | {batch.p50_ms:.1f} ms | {batch.p99_ms:.1f} ms | {batch.errors} | ≥ {TARGET_BATCH_EPS:,} events/s: {verdict(batch_eps >= TARGET_BATCH_EPS)} |
| raw aiokafka producer (ceiling), same payloads | {ceiling:,.0f} events/s | | | | |
| batch API / ceiling | {share:.0%} | | | | ≥ {TARGET_CEILING_SHARE:.0%}: {verdict(share >= TARGET_CEILING_SHARE)} |
"""  # noqa: E501
    replace_section(str(RESULTS), "Ingest API", body)
    print(body)


if __name__ == "__main__":
    main()
