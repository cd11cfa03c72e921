"""Favourite added / removed -> MongoDB `favourites` (the newest change wins)."""

from functools import partial

from faust.types import StreamT

from sinks.mongo.projections import FavouriteChange
from streams.app import app, favourites_topic, settings
from streams.messages import batches, decode_all, until_done
from streams.metrics import EVENTS
from streams.resources import projections


@app.agent(favourites_topic)
async def project_favourites(stream: StreamT) -> None:
    async for events in batches(stream, settings.worker_batch_max, settings.worker_batch_within_s):
        changes = [
            FavouriteChange(
                r["user_id"], r["movie_id"], r["action"] == "added", r["client_ts"], r["event_id"]
            )
            for r in (item.record for item in await decode_all(events))
        ]
        await until_done(partial(projections.apply_favourites, changes), "mongodb")
        for event in events:
            await stream.ack(event)
        EVENTS.labels("favourites").inc(len(events))
