"""compose.yaml cannot run here; what can be checked without Docker is checked."""

import re

import yaml

from sinks.clickhouse.ddl import TABLES, VIEWS, ddl_statements
from ugc.settings import PROJECT_ROOT, Settings
from ugc_cli.runner import service_commands

COMPOSE = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
UGC_SERVICES = ("init", "api", "worker", "raw-events-worker", "nginx-config")


def test_compose_has_the_production_topology():
    services = COMPOSE["services"]
    assert {"kafka-1", "kafka-2", "kafka-3", "schema-registry", "kafka-ui"} <= services.keys()
    assert {"clickhouse-keeper", "mongo-1", "mongo-2", "mongo-3", "nginx"} <= services.keys()
    assert sorted(name for name in services if name.startswith("clickhouse-s")) == [
        "clickhouse-s1r1", "clickhouse-s1r2", "clickhouse-s2r1", "clickhouse-s2r2",
    ]  # fmt: skip
    for name in UGC_SERVICES:
        assert services[name]["build"] == "."


def test_every_service_env_is_a_known_setting():
    known = {f"UGC_{name.upper()}" for name in Settings.model_fields}
    for name in UGC_SERVICES:
        env = COMPOSE["services"][name]["environment"]
        assert env, name
        assert set(env) <= known, set(env) - known
        Settings(_env_file=None, **{k.removeprefix("UGC_").lower(): v for k, v in env.items()})


def test_cluster_ddl_comes_from_the_same_table_specs():
    env = COMPOSE["services"]["init"]["environment"]
    cluster = env["UGC_CLICKHOUSE_CLUSTER"]
    cluster_xml = (PROJECT_ROOT / "infra" / "clickhouse" / "cluster.xml").read_text()
    assert f"<{cluster}>" in cluster_xml

    local = ddl_statements(env["UGC_CLICKHOUSE_DB"])
    clustered = ddl_statements(env["UGC_CLICKHOUSE_DB"], cluster)

    assert all(f"ON CLUSTER {cluster}" in statement for statement in clustered)
    for table in TABLES:
        local_ddl = next(s for s in local if f".{table.name} (" in s)
        replicated = next(s for s in clustered if f".{table.name}_local ON CLUSTER" in s)
        distributed = next(s for s in clustered if f".{table.name} ON CLUSTER" in s)
        columns = re.search(r"\((.*)\)\nENGINE", local_ddl, re.S)
        assert columns is not None and columns.group(1) in replicated
        assert f"ENGINE = Replicated{table.engine}(" in replicated
        assert f"Distributed({cluster}, " in distributed
    for view in VIEWS:
        assert any(f"TO ugc.{view.target}_local" in s for s in clustered)


def test_services_that_check_tokens_require_the_secret_from_the_environment():
    for name in ("api", "raw-events-worker"):
        env = COMPOSE["services"][name]["environment"]
        # ${VAR:?message}: compose refuses to start when it is unset or empty.
        assert re.fullmatch(r"\$\{UGC_JWT_SECRET:\?.+\}", env["UGC_JWT_SECRET"]), name
        assert env["UGC_ENVIRONMENT"] == "production", name
    for name in UGC_SERVICES:
        env = COMPOSE["services"][name]["environment"]
        secret = env.get("UGC_JWT_SECRET", "${}")
        assert secret.startswith("${"), f"{name}: a secret written in the file"
        assert env["UGC_ENVIRONMENT"] == "production", name


def test_api_keeps_idle_connections_as_ugc_run_does():
    """nginx in compose renders the same configuration: uvicorn must outlast its keep-alive."""
    compose_api = COMPOSE["services"]["api"]["command"]
    local_api = service_commands(Settings(_env_file=None))["api"]
    assert compose_api[:3] == ["python", "-m", "ingest_api.serve"], "metrics need the launcher"
    for option in ("--timeout-keep-alive", "--timeout-graceful-shutdown"):
        assert option in local_api
        assert compose_api[compose_api.index(option) + 1] == local_api[local_api.index(option) + 1]
