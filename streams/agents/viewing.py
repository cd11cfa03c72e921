"""Playback events, position heartbeats and watch time -> MongoDB `progress`."""

from contextlib import suppress
from datetime import UTC, datetime, timedelta
from functools import partial

from faust.types import EventT, StreamT

from sinks.mongo.projections import PositionChange, WatchedTime
from streams.agents.erasure import erase_progress
from streams.app import app, progress_topics, settings
from streams.erasure import with_erasures
from streams.messages import Abandoned, consume_batches, decode_all, until_done
from streams.resources import projections
from streams.web import watch
from ugc.events import Family


async def _project(events: list[EventT]) -> None:
    positions, watched = [], []
    for item in await decode_all(events, app):
        record = item.record
        if item.family is Family.PLAYBACK:
            positions.append(
                PositionChange(
                    record["user_id"],
                    record["movie_id"],
                    record["position_ms"],
                    record["duration_ms"],
                    record["client_ts"],
                    record["event_id"],
                )
            )
        else:
            watched.append(
                WatchedTime(
                    record["user_id"],
                    record["movie_id"],
                    record["watched_seconds"],
                    record["event_id"],
                    item.event.message.offset,
                )
            )
    await until_done(partial(projections.apply_viewing, positions, watched), "mongodb", app)


@app.agent(progress_topics)
async def project_viewing(stream: StreamT) -> None:
    await consume_batches(
        app,
        stream,
        "viewing",
        settings.worker_batch_max,
        settings.worker_batch_within_s,
        with_erasures(_project, erase_progress),
        watch,
    )


@app.timer(interval=3600.0)
async def forget_old_viewing_ids() -> None:
    """Past the topic's retention no redelivery or retry can come back; drop their ids."""
    horizon = (
        datetime.now(UTC) - timedelta(milliseconds=settings.kafka_retention_ms) - timedelta(days=1)
    )
    with suppress(Abandoned):  # the next hour's run does it
        await until_done(lambda: projections.forget_seen_viewing(horizon), "mongodb", app)
