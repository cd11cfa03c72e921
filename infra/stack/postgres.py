"""PostgreSQL from Debian's package: the storage under the local FerretDB.

FerretDB keeps each collection as a table of one `jsonb` column. PostgreSQL, unlike FerretDB's
SQLite backend, serves FerretDB's pushed-down filters from indexes (`ugc init` creates the
ones FerretDB cannot: see sinks/mongo/postgres.py). The server runs on 127.0.0.1 with its data
in the stack folder, as the `postgres` user when started by root (it refuses to run as root),
and trusts local connections: it is a developer's store, reachable from this machine only.
"""

import contextlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from infra.stack.base import Component, Health, Launch, run_tool
from infra.stack.process import StackError

POSTGRES_PACKAGE = "postgresql"
SERVER_USER = "postgres"  # the account Debian's package creates
# Server settings, rewritten at each start; `ALTER SYSTEM` (postgresql.auto.conf) overrides them.
SERVER_CONF = """\
# Written by `ugc stack up` at each start (infra/stack/postgres.py): edits here are lost.
listen_addresses = '{host}'
port = {port}
unix_socket_directories = ''
max_connections = 100
shared_buffers = 128MB
# Planning only: JIT compilation costs more than FerretDB's short queries take.
jit = off
# Every lookup by `_id` reads a GIN index's whole pending list (4 MB by default: some 240 pages
# per update at 1M documents, half PostgreSQL's CPU per write); 64 kB keeps it a few pages and
# merges it often, in small steps (docs/benchmarks.md, pipeline).
gin_pending_list_limit = 64kB
# auto_explain: loaded but silent; tests/integration/test_postgres_plans.py turns it on to see
# the plans. pg_stat_statements: what FerretDB sends, per statement, for whoever profiles the
# store (`CREATE EXTENSION pg_stat_statements` first; docs/benchmarks.md, pipeline, says how).
shared_preload_libraries = 'auto_explain,pg_stat_statements'
auto_explain.log_min_duration = -1
log_line_prefix = '%m [%p] '
log_timezone = 'UTC'
timezone = 'UTC'
"""


def postgres_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's binaries (Debian: /usr/lib/postgresql/<major>/bin)."""
    candidates = [
        path.parent
        for path in Path("/usr/lib/postgresql").glob("*/bin/postgres")
        if path.parent.parent.name.isdigit()
    ]
    if candidates:
        return max(candidates, key=lambda path: int(path.parent.name))
    found = shutil.which("postgres")
    return Path(found).parent if found else None


class Postgres(Component):
    name = "postgres"
    # Fast shutdown: the postmaster ends its sessions, checkpoints and exits. Its children
    # (one per connection) must not be signalled themselves.
    stop_signal = signal.SIGINT
    signal_leader_only = True

    @property
    def version(self) -> str:  # type: ignore[override]
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            return "not installed"
        out = subprocess.run(
            [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True
        ).stdout
        match = re.search(r"\(PostgreSQL\) ([\w.]+)", out)
        return match.group(1) if match else "unknown"

    @property
    def address(self) -> str:
        host, port = self.settings.postgres_host_port
        return f"postgresql://{host}:{port}/{self.database}"

    @property
    def database(self) -> str:
        return urlsplit(self.settings.mongo_postgres_url).path.lstrip("/") or "ferretdb"

    @property
    def user(self) -> str:
        return urlsplit(self.settings.mongo_postgres_url).username or SERVER_USER

    def listen_ports(self) -> list[tuple[str, int]]:
        return [self.settings.postgres_host_port]

    @property
    def data_dir(self) -> Path:
        return self.layout.data / "postgres"

    @property
    def run_as(self) -> str | None:
        """Root starts the server as `postgres`; anyone else as themselves."""
        return SERVER_USER if os.geteuid() == 0 else None

    def provision(self) -> None:
        if postgres_bin_dir() is not None:
            return
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise StackError(f"PostgreSQL is not installed: apt-get install {POSTGRES_PACKAGE}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run_tool(["apt-get", "update", "-qq"], Path("/"), "apt-get update", env=env)
        # The package also creates a cluster of its own ("main", port 5432), which a machine
        # with services may start: ours has its own folder and, by default, port 5433.
        run_tool(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", POSTGRES_PACKAGE],
            Path("/"),
            "installing PostgreSQL",
            env,
        )

    def launch(self) -> Launch:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise StackError("PostgreSQL is not installed")
        data = self.data_dir
        if not (data / "PG_VERSION").exists():
            self._init_cluster(bin_dir)
        host, port = self.settings.postgres_host_port
        (data / "postgresql.conf").write_text(SERVER_CONF.format(host=host, port=port))
        self._own(data / "postgresql.conf")
        return Launch(argv=[str(bin_dir / "postgres"), "-D", str(data)], cwd=data, user=self.run_as)

    def _init_cluster(self, bin_dir: Path) -> None:
        """initdb on first start, then the database FerretDB uses (in single-user mode, so no
        server has to run for it)."""
        data = self.data_dir
        shutil.rmtree(data, ignore_errors=True)  # a half-made cluster from a failed first start
        data.mkdir(parents=True)
        data.chmod(0o700)
        self._own(data)
        run_tool(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                f"--username={self.user}",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
            data,
            "initdb",
            user=self.run_as,
        )
        run_tool(
            [str(bin_dir / "postgres"), "--single", "-D", str(data), "-j", "postgres"],
            data,
            "creating the FerretDB database",
            user=self.run_as,
            stdin=f'CREATE DATABASE "{self.database}";\n',
        )

    def _own(self, path: Path) -> None:
        if self.run_as is not None:
            shutil.chown(path, SERVER_USER, SERVER_USER)

    def health(self) -> Health:
        host, port = self.settings.postgres_host_port
        try:
            with contextlib.closing(
                psycopg.connect(
                    host=host,
                    port=port,
                    dbname=self.database,
                    user=self.user,
                    connect_timeout=2,
                    application_name="ugc-stack",
                )
            ) as connection:
                row = connection.execute("SHOW server_version").fetchone()
        except psycopg.Error as exc:
            return Health(False, f"{type(exc).__name__}: {str(exc).strip()[:200]}")
        version = str(row[0]).split()[0] if row else "?"
        return Health(True, f"PostgreSQL {version}")
