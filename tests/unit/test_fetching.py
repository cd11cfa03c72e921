"""streams.fetching: the worker's consumer asks the broker for fetches that carry batches."""

import faust

from streams.fetching import fetch_in_batches


async def test_the_worker_consumer_fetches_with_the_settings_given(tmp_path) -> None:
    fetch_in_batches(min_bytes=65_536, max_wait_ms=250)
    fetch_in_batches(min_bytes=1_048_576, max_wait_ms=100)  # once more: the last one counts
    app = faust.App("fetching-test", broker="kafka://127.0.0.1:1", store="memory://",
                    datadir=str(tmp_path))  # fmt: skip
    thread = app.consumer._thread  # type: ignore[attr-defined]
    consumer = thread._create_worker_consumer(app.transport)
    assert (consumer._fetch_min_bytes, consumer._fetch_max_wait_ms) == (1_048_576, 100)
    assert consumer._group_id == "fetching-test"  # still Faust's consumer otherwise
