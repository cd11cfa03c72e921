"""Concurrent viewers for bench/pipeline.py, in a process of its own (never the API's).

`python -m bench.viewers URL VIEWERS SECONDS START_AT SEED DOCUMENTS OUT`: VIEWERS viewers,
each watching one of the DOCUMENTS preloaded (viewer, film) pairs of bench/preload.py (picked
at random with SEED), each with its own token, for SECONDS from the epoch time START_AT:
- a position heartbeat every HEARTBEAT_S (10 s), the position moving on by that much;
- a viewing-time event every VIEWING_S (60 s);
- now and then (once per EXTRA_S, 10 min, on average) a favourite or a rating.
Each viewer's first heartbeat and viewing event fall at a random moment of their period, so
the load is steady from the start. Open loop, single events, as players send them; OUT gets
bench/load.py's record of every event.
"""

import random
import sys
import uuid
from datetime import timedelta

import uvloop

from bench.load import Sent, run, write
from bench.preload import FILM_MS, key
from ugc.settings import get_settings
from ugc.tokens import mint

HEARTBEAT_S = 10.0
VIEWING_S = 60.0
EXTRA_S = 600.0


def events_per_viewer_s() -> float:
    return 1 / HEARTBEAT_S + 1 / VIEWING_S + 1 / EXTRA_S


def viewer_events(rng: random.Random, index: int, seconds: float) -> list[Sent]:
    user, movie = (str(part) for part in key(index))

    def sent(kind: str, due: float, fields: dict[str, object]) -> Sent:
        return Sent(kind, str(uuid.UUID(int=rng.getrandbits(128))), movie, due, user=user,
                    fields=fields)  # fmt: skip

    events = []
    position = rng.randrange(0, FILM_MS // 2)
    due = rng.uniform(0, HEARTBEAT_S)
    while due < seconds:
        position += int(HEARTBEAT_S * 1000)
        events.append(sent("position", due, {"position_ms": position, "duration_ms": FILM_MS}))
        due += HEARTBEAT_S
    due = rng.uniform(0, VIEWING_S)
    while due < seconds:
        events.append(sent("viewing", due, {"watched_seconds": int(VIEWING_S)}))
        due += VIEWING_S
    extra = rng.uniform(0, EXTRA_S)
    if extra < seconds:
        if rng.random() < 0.5:
            events.append(sent("favourites", extra, {"action": "added"}))
        else:
            events.append(sent("ratings", extra, {"score": rng.randint(0, 10)}))
    return events


def main() -> None:
    url, viewers, seconds, start_at, seed, documents, out = sys.argv[1:8]
    settings = get_settings()
    rng = random.Random(int(seed))
    events, tokens = [], {}
    for index in rng.sample(range(int(documents)), int(viewers)):
        mine = viewer_events(rng, index, float(seconds))
        if mine:
            tokens[mine[0].user] = mint(settings, mine[0].user, timedelta(hours=1))
        events.extend(mine)
    events.sort(key=lambda e: e.due)
    anyone = mint(settings, str(uuid.uuid4()), timedelta(hours=1))
    write(out, uvloop.run(run(url, anyone, events, float(start_at), tokens)))


if __name__ == "__main__":
    main()
