"""The write path's pieces that need no broker: event ids, and how a request's delivery
reports become its per-event outcomes."""

import asyncio
import uuid

from ingest_api.gateways.event_log import UNACKNOWLEDGED, _Delivery
from ingest_api.services.events import new_event_ids


class _Error:
    def str(self) -> str:
        return "Broker: Not enough in-sync replicas"


def test_new_event_ids_are_random_version_4_uuids_in_text_form():
    ids = new_event_ids(1000)
    assert len(set(ids)) == 1000
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


async def test_a_request_resolves_once_every_queued_record_is_reported():
    delivery = _Delivery(asyncio.get_running_loop(), 3)
    delivery.report(0, None, None)  # reports may come while records are still being queued
    delivery.report(2, _Error(), None)
    assert not delivery.future.done()
    delivery.all_queued(3)
    assert not delivery.future.done()
    delivery.report(1, None, None)
    assert delivery.future.done()
    assert delivery.outcomes[0] is None and delivery.outcomes[1] is None
    assert "Not enough in-sync replicas" in str(delivery.outcomes[2])


async def test_records_reported_before_the_count_is_known_resolve_it_at_once():
    delivery = _Delivery(asyncio.get_running_loop(), 2)
    delivery.report(0, None, None)
    delivery.all_queued(1)  # record 1 could not be queued: its outcome says so already
    assert delivery.future.done()
    assert delivery.outcomes == [None, UNACKNOWLEDGED]


async def test_records_never_reported_stay_unacknowledged():
    delivery = _Delivery(asyncio.get_running_loop(), 2)
    delivery.all_queued(2)
    delivery.report(1, None, None)
    assert not delivery.future.done()
    assert delivery.outcomes == [UNACKNOWLEDGED, None]
