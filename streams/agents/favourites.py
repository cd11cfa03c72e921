"""Favourite added / removed -> MongoDB `favourites` (the newest change wins)."""

from functools import partial

from faust.types import EventT, StreamT

from sinks.mongo.projections import FavouriteChange
from streams.agents.erasure import erase_favourites
from streams.app import app, favourites_topic, settings
from streams.erasure import with_erasures
from streams.messages import consume_batches, decode_all, until_done
from streams.resources import projections
from streams.web import watch


async def _project(events: list[EventT]) -> None:
    changes = [
        FavouriteChange(
            r["user_id"], r["movie_id"], r["action"] == "added", r["client_ts"], r["event_id"]
        )
        for r in (item.record for item in await decode_all(events, app))
    ]
    await until_done(partial(projections.apply_favourites, changes), "mongodb", app)


@app.agent(favourites_topic)
async def project_favourites(stream: StreamT) -> None:
    await consume_batches(
        app,
        stream,
        "favourites",
        settings.worker_batch_max,
        settings.worker_batch_within_s,
        with_erasures(_project, erase_favourites),
        watch,
    )
