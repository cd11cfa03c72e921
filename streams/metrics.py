"""Prometheus metrics of the worker (served at the worker's /metrics)."""

from prometheus_client import Counter, Histogram

EVENTS = Counter("ugc_worker_events_total", "Events processed, by agent", ["agent"])
DEAD_LETTERS = Counter(
    "ugc_worker_dead_letters_total", "Messages sent to the dead-letter topic", ["topic", "reason"]
)
SINK_RETRIES = Counter("ugc_worker_sink_retries_total", "Failed sink writes retried", ["sink"])
ABANDONED = Counter(
    "ugc_worker_events_abandoned_total",
    "Events left unacknowledged at a rebalance or shutdown (read again by the next owner)",
    ["agent"],
)
SINK_SECONDS = Histogram(
    "ugc_worker_sink_write_seconds",
    "Duration of one sink write (a batch)",
    ["sink"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
