"""The one settings object of the service, read from `UGC_*` environment variables.

Every field is documented in `.env.example`; `tests/test_settings.py` keeps the two in step.
Addresses are what clients connect to; the local stack binds to the same host and port, so one
variable moves both ends.
"""

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Public (it is in this repository): only ever acceptable on a developer's machine.
DEVELOPMENT_JWT_SECRET = "change-me-local-development-secret"
# Ports of the n-th local Kafka node (from 0): the first node's broker and controller ports + 10n.
KAFKA_NODE_PORT_STEP = 10


class InsecureSettingsError(ValueError):
    """A setting only safe on a developer's machine is used outside development."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="UGC_",
        env_file=os.environ.get("UGC_ENV_FILE", ".env"),
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # production refuses what only development may use (the public JWT secret, `ugc token`).
    environment: Literal["development", "production"] = "production"

    # --- Kafka ---
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_topic_prefix: str = "ugc"
    kafka_partitions: int = Field(default=6, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    kafka_min_insync_replicas: int = Field(default=1, ge=1)
    kafka_retention_ms: int = 7 * 24 * 3600 * 1000
    kafka_dead_letter_retention_ms: int = 30 * 24 * 3600 * 1000

    # --- Schema registry (Confluent-compatible API) ---
    schema_registry_url: str = "http://127.0.0.1:8081/apis/ccompat/v7"
    # Pinned on each subject: FULL (BACKWARD and FORWARD), so consumers and producers can be
    # deployed in any order. The registry's global rule stays BACKWARD.
    schema_compatibility: str = "FULL"

    # --- MongoDB ---
    mongo_url: str = "mongodb://127.0.0.1:27017/"
    mongo_db: str = "ugc"
    # The API's bound on MongoDB (server selection and each read) before it answers 503.
    mongo_timeout_s: float = Field(default=2.0, gt=0)
    # The PostgreSQL under the local FerretDB (the stack runs it there; `ugc init` adds the
    # indexes FerretDB cannot create itself). Ignored when MONGO_URL is a real MongoDB.
    mongo_postgres_url: str = "postgresql://postgres@127.0.0.1:5433/ferretdb"
    # Most projection writes a worker process has in flight at once (FerretDB holds up to two
    # PostgreSQL connections per write, from one pool of 50 for all workers and the API).
    mongo_write_concurrency: int = Field(default=8, ge=1, le=16)
    # Most updates of documents known to exist sent in one command (1: each its own command).
    # They count one by one in the bound above.
    mongo_updates_per_command: int = Field(default=4, ge=1, le=16)

    # --- ClickHouse: a server over HTTP when the URL is set, else embedded chDB at the path ---
    clickhouse_url: str = ""
    clickhouse_path: Path = PROJECT_ROOT / ".stack" / "data" / "chdb"
    clickhouse_db: str = "ugc"
    clickhouse_cluster: str = ""

    # --- HTTP API and the nginx in front of it ---
    api_host: str = "127.0.0.1"
    api_port: int = 8001
    # uvicorn worker processes of the API in `ugc run`; 0: one per core.
    api_workers: int = Field(default=0, ge=0)
    nginx_port: int = 8000
    nginx_body_limit: str = "1m"
    nginx_rate_limit: str = "2000r/s"
    nginx_rate_burst: int = 4000
    # Headers and body must arrive within this (nginx: between two reads; API port: whole body).
    client_timeout_s: float = Field(default=10.0, gt=0)

    # --- Ingest: producing to Kafka ---
    produce_timeout_s: float = Field(default=5.0, gt=0)
    producer_linger_ms: int = Field(default=5, ge=0)
    producer_compression: str = "lz4"
    registry_timeout_s: float = Field(default=3.0, gt=0)
    retry_after_s: int = Field(default=5, ge=1)
    batch_max_events: int = Field(default=500, ge=1)
    max_clock_skew_s: int = Field(default=300, ge=0)
    # At most 100 years: ClickHouse's DateTime64 starts in 1900.
    max_event_age_days: int = Field(default=365, ge=1, le=36_500)

    # --- Auth: JWTs issued by the cinema's auth service ---
    jwt_algorithm: str = "HS256"
    jwt_secret: str = DEVELOPMENT_JWT_SECRET
    jwt_public_key_file: Path | None = None
    jwt_audience: str = ""
    jwt_issuer: str = ""
    log_level: str = "INFO"

    # --- Faust worker ---
    worker_web_port: int = 6066
    workers: int = Field(default=1, ge=1, le=64)
    worker_web_host: str = "127.0.0.1"
    raw_events_web_port: int = 6067
    worker_data_dir: Path | None = None
    worker_session_timeout_s: float = Field(default=10.0, ge=6.0)
    worker_stall_after_s: float = Field(default=60.0, gt=0)
    worker_settle_writes_s: float = Field(default=5.0, gt=0)
    worker_batch_max: int = Field(default=500, ge=1)
    worker_batch_within_s: float = Field(default=0.05, gt=0)
    # A fetch waits for this many bytes or this long (streams/fetching.py).
    consumer_fetch_min_bytes: int = Field(default=1_048_576, ge=1)
    consumer_fetch_max_wait_ms: int = Field(default=100, ge=1, le=1500)
    clickhouse_batch_max: int = Field(default=5000, ge=1)
    clickhouse_flush_s: float = Field(default=1.0, gt=0)
    sink_retry_max_s: float = Field(default=5.0, gt=0)

    # --- Local stack (infra/stack): where state lives and the ports not implied above ---
    stack_dir: Path = PROJECT_ROOT / ".stack"
    stack_dist_dir: Path = PROJECT_ROOT / ".stack" / "dist"
    stack_kafka_controller_port: int = 9093
    # Kafka nodes of the local stack, each broker and controller (one KRaft quorum).
    stack_kafka_brokers: int = Field(default=1, ge=1, le=5)
    stack_kafka_heap: str = "512m"
    stack_registry_management_port: int = 9001
    stack_registry_heap: str = "384m"
    stack_java21_home: str = ""
    stack_start_timeout_s: float = 120.0

    @field_validator("jwt_public_key_file", "worker_data_dir", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("clickhouse_path", "stack_dir", "stack_dist_dir", "worker_data_dir")
    @classmethod
    def _relative_to_project(cls, path: Path | None) -> Path | None:
        """Relative folders are taken from the project root, wherever the command runs."""
        return path if path is None or path.is_absolute() else PROJECT_ROOT / path

    @model_validator(mode="after")
    def _kafka_cluster_defaults(self) -> "Settings":
        """Several local nodes: clients bootstrap from all of them (one down must not stop a
        fresh client), and topics not configured otherwise get three replicas, of which one
        may be down while acks=all writes go on."""
        if self.stack_kafka_brokers > 1:
            if "," not in self.kafka_bootstrap:
                host, port = self.kafka_host_port
                self.kafka_bootstrap = ",".join(
                    f"{host}:{port + KAFKA_NODE_PORT_STEP * n}"
                    for n in range(self.stack_kafka_brokers)
                )
            if len(self.kafka_bootstrap.split(",")) < self.stack_kafka_brokers:
                raise ValueError(
                    "UGC_KAFKA_BOOTSTRAP lists fewer addresses than UGC_STACK_KAFKA_BROKERS"
                )
            if "kafka_replication_factor" not in self.model_fields_set:
                self.kafka_replication_factor = min(3, self.stack_kafka_brokers)
            if "kafka_min_insync_replicas" not in self.model_fields_set:
                self.kafka_min_insync_replicas = max(1, self.kafka_replication_factor - 1)
        return self

    @property
    def kafka_node_addresses(self) -> list[tuple[str, int, int]]:
        """(host, broker port, controller port) of each node of the local stack: the bootstrap
        addresses in order, controllers from UGC_STACK_KAFKA_CONTROLLER_PORT in steps of 10."""
        nodes = []
        for n, address in enumerate(self.kafka_bootstrap.split(",")[: self.stack_kafka_brokers]):
            host, _, port = address.strip().rpartition(":")
            controller = self.stack_kafka_controller_port + KAFKA_NODE_PORT_STEP * n
            nodes.append((host, int(port), controller))
        return nodes

    @property
    def faust_data_dir(self) -> Path:
        """Where the Faust workers keep their data: the stack's state folder by default."""
        return self.worker_data_dir or self.stack_dir / "faust"

    def require_private_jwt_secret(self) -> None:
        """Outside development, refuse an HS key anyone can know: they could mint any token."""
        if self.environment == "development" or not self.jwt_algorithm.startswith("HS"):
            return
        if self.jwt_secret in ("", DEVELOPMENT_JWT_SECRET):
            raise InsecureSettingsError(
                "UGC_JWT_SECRET is not set: the public development secret would let anyone mint "
                "tokens. Set UGC_JWT_SECRET to the auth service's secret (or use RS256 with "
                "UGC_JWT_PUBLIC_KEY_FILE); on a developer's machine set UGC_ENVIRONMENT=development"
            )

    @property
    def kafka_host_port(self) -> tuple[str, int]:
        host, _, port = self.kafka_bootstrap.split(",")[0].rpartition(":")
        return host, int(port)

    @property
    def registry_host_port(self) -> tuple[str, int]:
        return _host_port(self.schema_registry_url, 8081)

    @property
    def registry_base_url(self) -> str:
        """The registry's root URL (without the ccompat path)."""
        parts = urlsplit(self.schema_registry_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def mongo_host_port(self) -> tuple[str, int]:
        return _host_port(self.mongo_url, 27017)

    @property
    def postgres_host_port(self) -> tuple[str, int]:
        return _host_port(self.mongo_postgres_url, 5432)


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


@lru_cache
def get_settings() -> Settings:
    return Settings()
