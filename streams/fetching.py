"""Fetches that carry batches: the fetch settings Faust 0.15.3 gives its consumer no say in.

Faust creates the worker's aiokafka consumer with `fetch_max_wait_ms=1500` and leaves
`fetch_min_bytes` at aiokafka's 1, so the broker answers a fetch as soon as one record is there.
Under a steady load that is one fetch per producer batch: hundreds a second per worker, each
request and answer naming every assigned partition (some 40), encoded and decoded in Python on
the worker's side and handled on the broker's. In a profile of the raw-events worker at 350
events/s, its consumer thread took 42% of the samples and its agent 8%.

With a minimum of bytes the broker holds a fetch until that much is there or the wait is over,
so a worker fetches a few times a second under light load and in large batches under heavy
load. The wait is the delay an event can gain on its way to the sinks, so it is kept short
(`UGC_CONSUMER_FETCH_MAX_WAIT_MS`, default 100 ms).
"""

from collections.abc import Callable
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

_CREATE = AIOKafkaConsumerThread._create_worker_consumer


def fetch_in_batches(min_bytes: int, max_wait_ms: int) -> None:
    """Make every worker consumer created from now on fetch with these settings (idempotent;
    before the app starts). aiokafka reads them when its consumer starts its fetcher."""

    def create(self: AIOKafkaConsumerThread, transport: Any) -> Any:
        consumer = _CREATE(self, transport)
        consumer._fetch_min_bytes = min_bytes
        consumer._fetch_max_wait_ms = max_wait_ms
        return consumer

    patched: Callable[..., Any] = create
    AIOKafkaConsumerThread._create_worker_consumer = patched  # type: ignore[method-assign]
