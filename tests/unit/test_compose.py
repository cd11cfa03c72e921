"""compose.yaml cannot run here; what can be checked without Docker is checked."""

import re

import yaml

from sinks.clickhouse.ddl import TABLES, VIEWS, ddl_statements
from ugc.settings import PROJECT_ROOT, Settings

COMPOSE = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
UGC_SERVICES = ("init", "api", "worker", "nginx-config")


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
