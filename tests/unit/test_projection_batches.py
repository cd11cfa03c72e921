"""Coalescing a batch per (viewer, film) keeps the newest change and loses no field."""

import uuid
from datetime import UTC, datetime, timedelta

from sinks.mongo.projections import (
    FavouriteChange,
    PositionChange,
    _finished_films,
    _newest_per_film,
    _newest_per_key,
    _pair,
    _stamp_of,
)

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


def test_a_heartbeat_at_95_percent_finishes_the_film_with_the_length_of_another_event():
    user, film = uuid.uuid4(), uuid.uuid4()
    play = _change(user, film, 0, 6_000_000, T)
    near_end = _change(user, film, 5_700_000, None, T + timedelta(minutes=95))
    assert _finished_films([play, near_end]) == [(user, film)]
    assert _finished_films([near_end]) == []  # no length known in the batch: decided later
    assert _finished_films([play]) == []


def test_favourites_and_ratings_keep_the_newest_change_per_viewer_and_film():
    user, film, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    changes = [
        FavouriteChange(user, film, True, T + timedelta(seconds=5), uuid.uuid4()),
        FavouriteChange(user, other, True, T, uuid.uuid4()),
        FavouriteChange(user, film, False, T + timedelta(seconds=9), uuid.uuid4()),
        FavouriteChange(user, film, True, T + timedelta(seconds=1), uuid.uuid4()),
    ]
    newest = _newest_per_key(changes, _pair, _stamp_of)
    assert [(c.movie_id, c.active) for c in newest.values()] == [(film, False), (other, True)]
