"""The raw-events worker's erasure step (streams/erasure.py): a marker in partition p of a
family's topic deletes the viewer's rows of that family for the films keyed into p, and for
viewing their daily watch time too. The events of the batch before the marker are already
inserted (the runs are in order), those after it are inserted after the delete."""

from collections import defaultdict
from functools import partial
from uuid import UUID

from clickhouse_connect.driver.client import Client
from faust.types import EventT

from sinks.clickhouse.erasure import ClickHouseErasure
from streams.erasure import Marker, decode_markers, films_of, report
from streams.messages import FAMILY_OF_TOPIC, until_done
from streams.raw.clickhouse import clickhouse
from streams.raw_app import app, dead_letters, settings
from ugc.erasure import CLICKHOUSE, part
from ugc.events import Family


async def erase_raw_events(events: list[EventT]) -> None:
    # Markers of one viewer and family in a run erase together: one lookup, one DELETE.
    groups: dict[tuple[Family, UUID], list[Marker]] = defaultdict(list)
    for marker in await decode_markers(events, app, dead_letters):
        groups[(FAMILY_OF_TOPIC[marker.topic], marker.user_id)].append(marker)
    for (family, user), markers in groups.items():

        def erase(
            client: Client,
            family: Family = family,
            user: UUID = user,
            markers: list[Marker] = markers,
        ) -> None:
            store = ClickHouseErasure(client, settings.clickhouse_db, settings.clickhouse_cluster)
            stored = store.films(family, user)
            films = {film for marker in markers for film in films_of(marker, stored)}
            store.erase(family, user, [UUID(film) for film in sorted(films)])

        await until_done(partial(clickhouse.run, erase), CLICKHOUSE, app)
        await report(app, [(m, part(CLICKHOUSE, m.topic, m.partition)) for m in markers])
