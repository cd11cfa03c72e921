"""The real Faust worker, plus a log of when each MongoDB write of a `progress` document ended.

`python -m bench.worker <faust arguments>` is `faust <faust arguments>` with one addition: a
pymongo command listener (pymongo's own monitoring API, registered before the worker opens its
client) that appends, for every successful update of a `progress` document, its key, the
position event it sets and the times the update was sent and answered to BENCH_WRITE_LOG.

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

from pymongo import monitoring

PROGRESS = "progress"


class ProgressWriteLog(monitoring.CommandListener):
    """Lines `key position_event_id sent_at answered_at` (epoch seconds; `-` for a write that
    sets no position) for every successful write of one `progress` document."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._pending: dict[int, tuple[list[tuple[str, str]], float]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        command = event.command
        if event.command_name != "update" or command.get("update") != PROGRESS:
            return
        sent = time.time()
        writes = []
        for update in command.get("updates") or []:  # several to a command (batches.py)
            position_event = update.get("u", {}).get("$set", {}).get("position_event_id", "-")
            writes.append((str(update.get("q", {}).get("_id", "")), position_event))
        self._pending[event.request_id] = (writes, sent)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pending = self._pending.pop(event.request_id, None)
        if pending is None:
            return
        answered = time.time()
        writes, sent = pending
        # n counts matched or upserted documents; a write error (a lost upsert race) is no
        # write, and a command not matched whole is sent again one update at a time.
        if event.reply.get("n", 0) == len(writes) and not event.reply.get("writeErrors"):
            for key, position_event in writes:
                self._out.write(f"{key} {position_event} {sent:.6f} {answered:.6f}\n")

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._pending.pop(event.request_id, None)


def main() -> None:
    path = os.environ.get("BENCH_WRITE_LOG")
    if path:
        # Buffered by the line: the bench reads the file while the worker runs.
        monitoring.register(ProgressWriteLog(open(path, "a", buffering=1)))  # noqa: SIM115
    from faust.cli.faust import cli  # after the listener: the app opens its client on import

    sys.argv[0] = "faust"
    cli()


if __name__ == "__main__":
    main()
