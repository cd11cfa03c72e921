"""Coalescing a batch of positions per (viewer, film) keeps the newest and loses no field."""

import uuid
from datetime import UTC, datetime, timedelta

from sinks.mongo.projections import PositionChange, _newest_per_film

T = datetime(2026, 1, 1, tzinfo=UTC)


def _change(user, film, position, duration, ts, event_id=None):
    return PositionChange(user, film, position, duration, ts, event_id or uuid.uuid4())


def test_newest_heartbeat_keeps_the_duration_an_older_event_of_the_batch_sent():
    user, film = uuid.uuid4(), uuid.uuid4()
    play = _change(user, film, 0, 6_000_000, T)
    heartbeat = _change(user, film, 10_000, None, T + timedelta(seconds=10))
    (newest,) = _newest_per_film([play, heartbeat])
    assert (newest.position_ms, newest.duration_ms) == (10_000, 6_000_000)


def test_ties_of_client_time_go_to_the_larger_event_id_in_any_order():
    user, film = uuid.uuid4(), uuid.uuid4()
    low, high = sorted((uuid.uuid4(), uuid.uuid4()), key=str)
    a = _change(user, film, 1, None, T, low)
    b = _change(user, film, 2, None, T, high)
    assert _newest_per_film([a, b])[0].position_ms == 2
    assert _newest_per_film([b, a])[0].position_ms == 2


def test_films_and_viewers_are_kept_apart():
    users, film = (uuid.uuid4(), uuid.uuid4()), uuid.uuid4()
    changes = [_change(user, film, 5, 100, T) for user in users]
    assert len(_newest_per_film(changes)) == 2
