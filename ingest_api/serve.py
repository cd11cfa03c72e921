"""`python -m ingest_api.serve [uvicorn options]`: uvicorn, with metrics right for any number of
workers (`--workers`, from UGC_API_WORKERS in `ugc run`).

Each uvicorn worker is a process of its own with its own counters, and a scrape reaches one of
them. So the API runs prometheus-client in multiprocess mode: every process writes its samples
to files in one directory (PROMETHEUS_MULTIPROC_DIR), and `/metrics` of any worker sums them
all. The directory is made empty for each run (no count of an earlier run leaks in) and removed
when the server stops (on SIGTERM and SIGHUP too); a worker that uvicorn restarts leaves its
files, so totals never go down.

Settings that must refuse the start (the public JWT secret in production) are checked here
once, before any worker starts: one log line, not one per worker.
"""

import logging
import os
import shutil
import signal
import sys
import tempfile

# Before anything imports prometheus_client: it picks its value class (files or memory) then.
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def main() -> None:
    from uvicorn.config import STARTUP_FAILURE

    from ingest_api.auth import TokenVerifier
    from ingest_api.logs import configure_logging
    from ugc.settings import InsecureSettingsError, get_settings

    settings = get_settings()
    try:
        TokenVerifier(settings)
    except InsecureSettingsError as exc:
        configure_logging(settings.log_level)
        logging.getLogger("ingest_api.main").critical("the API refuses to start: %s", exc)
        raise SystemExit(STARTUP_FAILURE) from None
    directory = tempfile.mkdtemp(prefix="ugc-api-metrics-")
    os.environ[METRICS_DIR_VARIABLE] = directory

    def remove_and_die(signum: int, frame: object) -> None:
        # uvicorn stops gracefully on SIGTERM, then restores this handler and raises the signal
        # again, to die of it: the directory goes first, then the process as before.
        shutil.rmtree(directory, ignore_errors=True)
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, remove_and_die)
    try:
        from uvicorn.main import main as uvicorn_main

        uvicorn_main(args=sys.argv[1:], prog_name="uvicorn")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
