"""A bounded load through the real API for the fault scenarios, and every answer it got.

Clients post batches of one viewer's events at a steady rate; an item not stored (a 503, or a
503 result in a 207) is sent again, same event_id, until it is accepted or the load's deadline
passes. What got a 202 is the ground truth. A reader asks for resume points meanwhile.
"""

import asyncio
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from tests.api_support import auth_headers
from tests.workload import T0
from ugc.settings import Settings

Item = tuple[uuid.UUID, dict[str, Any]]
ACTIONS = ("play", "pause", "seek_forward", "seek_backward", "stop")
# Weights of the five families: heartbeats are the most frequent, as from a player.
KINDS = {"position": 4, "playback": 2, "viewing": 2, "rating": 1, "favourite": 1}
CHUNK = 20  # events per batch request
RETRY_PAUSE_S = 0.5  # a client's pause before sending unstored items again (Retry-After, capped)


def mixed_events(rng: random.Random, count: int, users: int = 20, films: int = 5) -> list[Item]:
    """`count` events of all five families for fresh viewers and films, client times spread
    over two hours in random order (late events), plus 5% sent twice (client retries)."""
    viewers = [uuid.uuid4() for _ in range(users)]
    movies = [str(uuid.uuid4()) for _ in range(films)]
    kinds, weights = list(KINDS), list(KINDS.values())
    items: list[Item] = []
    for _ in range(count):
        kind = rng.choices(kinds, weights)[0]
        item: dict[str, Any] = {
            "type": kind,
            "movie_id": rng.choice(movies),
            "event_id": str(uuid.uuid4()),
            "client_ts": (T0 + timedelta(seconds=rng.randint(0, 7200))).isoformat(),
        }
        if kind == "position":
            item["position_ms"] = rng.randint(0, 5_000_000)
        elif kind == "playback":
            item |= {"action": rng.choice(ACTIONS), "position_ms": rng.randint(0, 5_000_000)}
        elif kind == "viewing":
            item["watched_seconds"] = rng.randint(1, 600)
        elif kind == "rating":
            item["score"] = rng.choice([None, *range(11)])
        else:
            item["action"] = rng.choice(["added", "removed"])
        items.append((rng.choice(viewers), item))
    return items + rng.sample(items, count // 20)


@dataclass
class Answers:
    """Every answer of one load: status counts, and the ones a client must never get."""

    statuses: Counter[int] = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)  # 5xx but a 503 with Retry-After, 4xx, hangs
    slowest_s: float = 0.0

    def record(self, response: httpx.Response, elapsed_s: float, what: str) -> None:
        self.statuses[response.status_code] += 1
        self.slowest_s = max(self.slowest_s, elapsed_s)
        code = response.status_code
        if code == 503 and not response.headers.get("Retry-After"):
            self.bad.append(f"{what}: 503 without Retry-After")
        elif (code >= 500 and code != 503) or code in (400, 401, 413, 422, 429):
            self.bad.append(f"{what}: {code} {response.text[:200]}")

    def failed(self, what: str, exc: Exception) -> None:
        self.statuses[0] += 1
        self.bad.append(f"{what}: no answer: {type(exc).__name__}: {exc}")

    @property
    def http_5xx(self) -> int:
        """5xx answers other than 503, and 503s without Retry-After."""
        wrong_503 = sum(1 for b in self.bad if "503 without" in b)
        return sum(n for code, n in self.statuses.items() if code >= 500 and code != 503) + (
            wrong_503
        )


class Load:
    """Posts `items` through `base_url` at `rate` events/s with `clients` concurrent clients."""

    def __init__(
        self,
        settings: Settings,
        base_url: str,
        items: list[Item],
        rate: float = 250.0,
        clients: int = 12,
        deadline_s: float = 180.0,
    ) -> None:
        self.settings = settings
        self.base_url = base_url
        self.total = len(items)
        self.rate, self.clients, self.deadline_s = rate, clients, deadline_s
        self.accepted: list[Item] = []
        self.writes, self.reads = Answers(), Answers()
        self.pending: asyncio.Queue[list[Item]] = asyncio.Queue()
        self.unsettled = 0  # items sent or queued, not accepted yet
        by_user: dict[uuid.UUID, list[Item]] = defaultdict(list)
        for user, item in items:
            by_user[user].append((user, item))
        chunks = [b[i : i + CHUNK] for b in by_user.values() for i in range(0, len(b), CHUNK)]
        random.Random(7).shuffle(chunks)
        for chunk in chunks:
            self.pending.put_nowait(chunk)
            self.unsettled += len(chunk)
        self._next_send = 0.0
        self.done = asyncio.Event()

    def share_accepted(self) -> float:
        return len(self.accepted) / self.total

    async def reached(self, share: float, timeout_s: float = 120.0) -> None:
        """Wait until `share` of the items were accepted (bounded)."""
        deadline = time.monotonic() + timeout_s
        while self.share_accepted() < share:
            if time.monotonic() > deadline or self.done.is_set():
                raise AssertionError(f"{share:.0%} not accepted within {timeout_s}s")
            await asyncio.sleep(0.1)

    async def run(self) -> None:
        timeout = httpx.Timeout(
            self.settings.produce_timeout_s + self.settings.registry_timeout_s + 5
        )
        limits = httpx.Limits(max_connections=self.clients + 2)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=timeout, limits=limits) as c:
            self._next_send = time.monotonic()
            reader = asyncio.create_task(self._read(c))
            try:
                async with asyncio.timeout(self.deadline_s):
                    await asyncio.gather(*(self._client(c) for _ in range(self.clients)))
            except TimeoutError:
                self.writes.bad.append(f"{self.unsettled} items unaccepted after the deadline")
            finally:
                self.done.set()
                reader.cancel()

    async def _pace(self, events: int) -> None:
        """Spread sends evenly at the target rate across all clients."""
        now = time.monotonic()
        at = max(self._next_send, now)
        self._next_send = at + events / self.rate
        await asyncio.sleep(at - now)

    async def _client(self, client: httpx.AsyncClient) -> None:
        while self.unsettled:
            try:
                chunk = self.pending.get_nowait()
            except asyncio.QueueEmpty:
                await asyncio.sleep(0.05)  # others hold the rest; some may come back
                continue
            await self._pace(len(chunk))
            unstored = await self._post(client, chunk)
            self.unsettled -= len(chunk) - len(unstored)
            if unstored:
                await asyncio.sleep(RETRY_PAUSE_S)
                self.pending.put_nowait(unstored)

    async def _post(self, client: httpx.AsyncClient, chunk: list[Item]) -> list[Item]:
        """Send one batch; return the items that were not stored (to be sent again)."""
        user = chunk[0][0]
        body = {"events": [item for _, item in chunk]}
        began = time.monotonic()
        try:
            response = await client.post(
                "/api/v1/events/batch", json=body, headers=auth_headers(self.settings, user)
            )
        except httpx.HTTPError as exc:
            self.writes.failed("POST /events/batch", exc)
            return chunk
        self.writes.record(response, time.monotonic() - began, "POST /events/batch")
        if response.status_code == 202:
            self.accepted.extend(chunk)
            return []
        if response.status_code == 207:
            results = response.json()["results"]
            self.accepted.extend(chunk[r["index"]] for r in results if r["status"] == 202)
            return [chunk[r["index"]] for r in results if r["status"] == 503]
        return chunk if response.status_code == 503 else []

    async def _read(self, client: httpx.AsyncClient) -> None:
        """A viewer asking for a resume point every 0.2 s: 200 or 404, 503 when MongoDB is down."""
        while True:
            await asyncio.sleep(0.2)
            if not self.accepted:
                continue
            user, item = random.choice(self.accepted)
            began = time.monotonic()
            try:
                response = await client.get(
                    f"/api/v1/me/progress/{item['movie_id']}",
                    headers=auth_headers(self.settings, user),
                )
            except httpx.HTTPError as exc:
                self.reads.failed("GET /me/progress", exc)
                continue
            self.reads.record(response, time.monotonic() - began, "GET /me/progress")
