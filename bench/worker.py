"""The real Faust worker, plus a log of when each MongoDB write for the bench's viewer finished.

`python -m bench.worker <faust arguments>` is `faust <faust arguments>` with one addition: a
pymongo command listener (pymongo's own monitoring API, registered before the worker opens its
client) that appends, for every successful update of a `progress` document of the viewer
BENCH_USER_ID, the movie and the times the update was sent and answered to BENCH_WRITE_LOG.

Why not the document's `updated_at`: the worker stamps it when it builds the update, before the
write (for positions, before the whole batch is written), so it can be earlier than the moment
the document is there. Why not poll: FerretDB scans the whole collection for every query by
user and film, so polling would load the very component being measured. The answer to an
update comes after FerretDB committed it, so the reply time is a time the document was visible.
"""

import os
import sys
import time
from typing import IO
from uuid import UUID

from pymongo import monitoring

PROGRESS = "progress"


class ProgressWriteLog(monitoring.CommandListener):
    """Lines `movie_id sent_at answered_at` (epoch seconds) for the viewer's progress writes."""

    def __init__(self, user_id: UUID, out: IO[str]) -> None:
        self._user_id = str(user_id)
        self._out = out
        self._pending: dict[int, tuple[str, float]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        command = event.command
        # A first write of a document is an insert, later ones are updates (projections.py).
        if command.get(event.command_name) != PROGRESS:
            return
        if event.command_name == "update":
            updates = command.get("updates") or []
            key = updates[0].get("q", {}).get("_id", "") if len(updates) == 1 else ""
        elif event.command_name == "insert":
            documents = command.get("documents") or []
            key = documents[0].get("_id", "") if len(documents) == 1 else ""
        else:
            return
        # Progress documents are keyed "user:movie" (sinks/mongo/documents.py).
        user, _, movie = str(key).partition(":")
        if user == self._user_id:
            self._pending[event.request_id] = (movie, time.time())

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pending = self._pending.pop(event.request_id, None)
        if pending is None:
            return
        answered = time.time()
        # n counts matched or upserted documents; a write error (a lost upsert race) is no write.
        if event.reply.get("n", 0) >= 1 and not event.reply.get("writeErrors"):
            movie_id, sent = pending
            self._out.write(f"{movie_id} {sent:.6f} {answered:.6f}\n")

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._pending.pop(event.request_id, None)


def main() -> None:
    user, path = os.environ.get("BENCH_USER_ID"), os.environ.get("BENCH_WRITE_LOG")
    if user and path:
        # Line-buffered: the bench reads the file while the worker runs.
        monitoring.register(ProgressWriteLog(UUID(user), open(path, "a", buffering=1)))  # noqa: SIM115
    from faust.cli.faust import cli  # after the listener: the app opens its client on import

    sys.argv[0] = "faust"
    cli()


if __name__ == "__main__":
    main()
