"""FerretDB 1.24 on the stack's PostgreSQL: the MongoDB wire protocol, built from the Go module
proxy."""

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pymongo
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from infra.stack.base import (
    INFRA_DIR,
    Component,
    Health,
    Launch,
    is_complete,
    mark_complete,
    run_tool,
)

FERRETDB_VERSION = "1.24.2"
# FerretDB's PostgreSQL pool (its default): each update of a command holds one connection until
# the command ends, so writers bound their commands (UGC_MONGO_WRITE_CONCURRENCY).
FERRETDB_POOL_SIZE = 50
WRAPPER_DIR = INFRA_DIR / "ferretdb"
# Go's scheduler, one thread per core by default, spins looking for work between FerretDB's short
# PostgreSQL round trips; with half the cores (the other half is PostgreSQL's, which does the
# rest of each write) and a less eager collector, FerretDB spent a third less CPU per write
# (740 -> 505 us at 1M documents on 2 cores, docs/benchmarks.md, pipeline).
GO_RUNTIME = {"GOMAXPROCS": str(max(1, (os.cpu_count() or 2) // 2)), "GOGC": "200"}
STORAGE_TIMEOUT_S = 5.0


class FerretDB(Component):
    name = "ferretdb"
    version = FERRETDB_VERSION

    @property
    def address(self) -> str:
        return self.settings.mongo_url

    def listen_ports(self) -> list[tuple[str, int]]:
        return [self.settings.mongo_host_port]

    @property
    def dist_dir(self) -> Path:
        return self.dist_dir_for(*(WRAPPER_DIR / name for name in ("main.go", "go.mod", "go.sum")))

    @property
    def binary(self) -> str:
        return str(self.dist_dir / "ugc-ferretdb")

    def provision(self) -> None:
        if is_complete(self.dist_dir):
            return
        shutil.rmtree(self.dist_dir, ignore_errors=True)
        # go.sum pins every module; the Go module and build caches make a rebuild download nothing.
        run_tool(
            ["go", "build", "-trimpath", "-o", self.binary, "."],
            cwd=WRAPPER_DIR,
            what="building FerretDB with Go",
        )
        mark_complete(self.dist_dir)

    def launch(self) -> Launch:
        host, port = self.settings.mongo_host_port
        data = self.layout.data_dir("ferretdb")
        return Launch(
            argv=[
                self.binary,
                f"-listen-addr={host}:{port}",
                "-handler=postgresql",
                f"-postgresql-url={self.postgresql_url}",
            ],
            cwd=data,
            env=GO_RUNTIME,
        )

    @property
    def postgresql_url(self) -> str:
        """The stack's PostgreSQL in pgx's syntax, with FerretDB's pool size spelled out."""
        parts = urlsplit(self.settings.mongo_postgres_url)
        query = "&".join(filter(None, [parts.query, f"pool_max_conns={FERRETDB_POOL_SIZE}"]))
        return urlunsplit(("postgres", parts.netloc, parts.path, query, ""))

    def health(self) -> Health:
        try:
            client: MongoClient = MongoClient(self.address, serverSelectionTimeoutMS=2000)
            with client:
                info = client.admin.command("buildInfo")
                # Through to PostgreSQL: a FerretDB whose pool is used up answers buildInfo
                # but hangs on every query.
                with pymongo.timeout(STORAGE_TIMEOUT_S):
                    client[self.settings.mongo_db].command("dbStats")
        except PyMongoError as exc:
            return Health(False, f"{type(exc).__name__}: {str(exc)[:200]}")
        version = str(info.get("ferretdbVersion", "")).lstrip("v")
        if version != self.version:
            return Health(False, f"unexpected FerretDB version {version!r}")
        return Health(True, f"MongoDB {info.get('version')} wire protocol")
