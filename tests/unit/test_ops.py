"""The pure parts of the operators' tools: parked-message headers, filters, lag arithmetic."""

from datetime import UTC, datetime

from aiokafka import ConsumerRecord

from infra.ops.lag import lag_of
from infra.ops.parked import Parked
from ugc_cli.ops import _hex

AT_MS = 1_790_000_000_000


def _record(headers: list[tuple[str, bytes]]) -> ConsumerRecord:
    return ConsumerRecord(
        topic="ugc.dead-letter",
        partition=0,
        offset=41,
        timestamp=AT_MS + 5,
        timestamp_type=0,
        key=b"u:f",
        value=b"\x00\x00\x00\x00\x07body",
        checksum=None,
        serialized_key_size=3,
        serialized_value_size=9,
        headers=headers,
    )


def _parked() -> Parked:
    return Parked.of(
        _record(
            [
                ("ugc-dlq-reason", b"SerializerError"),
                ("ugc-dlq-detail", b"unable to fetch schema with id 7"),
                ("ugc-dlq-topic", b"ugc.viewing"),
                ("ugc-dlq-partition", b"2"),
                ("ugc-dlq-offset", b"1234"),
                ("ugc-dlq-at", str(AT_MS).encode()),
            ]
        )
    )


def test_headers_say_why_and_whence():
    parked = _parked()
    assert (parked.reason, parked.source_topic) == ("SerializerError", "ugc.viewing")
    assert (parked.source_partition, parked.source_offset) == (2, 1234)
    assert parked.parked_at == datetime.fromtimestamp(AT_MS / 1000, UTC)
    assert parked.ledger_key == "0:41"


def test_missing_headers_fall_back_to_the_record():
    parked = Parked.of(_record([]))
    assert parked.source_partition is None and parked.source_topic == ""
    assert parked.parked_at == datetime.fromtimestamp((AT_MS + 5) / 1000, UTC)


def test_filters():
    parked = _parked()
    at = parked.parked_at
    assert parked.matches()
    assert parked.matches(reason="SerializerError", topic="ugc.viewing", since=at)
    assert not parked.matches(reason="InvalidEvent")
    assert not parked.matches(topic="ugc.ratings")
    assert not parked.matches(since=at.replace(year=at.year + 1))


def test_lag_counts_what_the_group_can_still_read():
    assert lag_of(end=10, committed=4, start=0) == 6
    assert lag_of(end=10, committed=None, start=0) == 10  # never committed: from the start
    assert lag_of(end=10, committed=None, start=7) == 3  # retention deleted the rest
    assert lag_of(end=10, committed=2, start=7) == 3
    assert lag_of(end=10, committed=10, start=0) == 0


def test_hex_dump():
    assert _hex(bytes(range(18))) == (
        "00000000  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f\n00000010  10 11"
    )
