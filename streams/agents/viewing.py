"""Playback events, position heartbeats and watch time -> MongoDB `progress`."""

from datetime import UTC, datetime, timedelta
from functools import partial

from faust.types import StreamT

from sinks.mongo.projections import PositionChange, WatchedTime
from streams.app import app, progress_topics, settings
from streams.messages import batches, decode_all, until_done
from streams.metrics import EVENTS
from streams.resources import projections
from ugc.events import Family


@app.agent(progress_topics)
async def project_viewing(stream: StreamT) -> None:
    async for events in batches(stream, settings.worker_batch_max, settings.worker_batch_within_s):
        positions, watched = [], []
        for item in await decode_all(events):
            record = item.record
            if item.family is Family.PLAYBACK:
                positions.append(
                    PositionChange(
                        record["user_id"],
                        record["movie_id"],
                        record["position_ms"],
                        record["duration_ms"],
                        record["client_ts"],
                    )
                )
            else:
                message = item.event.message
                watched.append(
                    WatchedTime(
                        record["user_id"],
                        record["movie_id"],
                        record["watched_seconds"],
                        record["event_id"],
                        message.offset,
                    )
                )
        await until_done(partial(projections.apply_viewing, positions, watched), "mongodb")
        for event in events:
            await stream.ack(event)
        EVENTS.labels("viewing").inc(len(events))


@app.timer(interval=3600.0)
async def forget_old_viewing_ids() -> None:
    """Past the topic's retention no redelivery or retry can come back; drop their ids."""
    horizon = (
        datetime.now(UTC) - timedelta(milliseconds=settings.kafka_retention_ms) - timedelta(days=1)
    )
    await until_done(lambda: projections.forget_seen_viewing(horizon), "mongodb")
