"""Apicurio Registry 3.3 (Confluent-compatible API at /apis/ccompat/v7), from Maven Central."""

import shutil
import tarfile
import tempfile
from pathlib import Path

import httpx

from infra.stack.base import Component, Health, Launch, is_complete, mark_complete, run_tool
from infra.stack.java import find_java

APICURIO_VERSION = "3.3.3"
GLOBAL_COMPATIBILITY = "BACKWARD"
APICURIO_ARTIFACT = f"io.apicurio:apicurio-registry-app:{APICURIO_VERSION}:tar.gz:all"


class SchemaRegistry(Component):
    name = "registry"
    version = APICURIO_VERSION

    @property
    def address(self) -> str:
        return self.settings.schema_registry_url

    def listen_ports(self) -> list[tuple[str, int]]:
        host, port = self.settings.registry_host_port
        return [(host, port), (host, self.settings.stack_registry_management_port)]

    def provision(self) -> None:
        if is_complete(self.dist_dir):
            return
        shutil.rmtree(self.dist_dir, ignore_errors=True)
        with tempfile.TemporaryDirectory() as tmp:
            run_tool(
                ["mvn", "-q", "-B", "dependency:copy", f"-Dartifact={APICURIO_ARTIFACT}",
                 f"-DoutputDirectory={tmp}"],
                cwd=Path(tmp),
                what="fetching Apicurio Registry from Maven Central",
            )  # fmt: skip
            (archive,) = Path(tmp).glob("*.tar.gz")
            self.dist_dir.mkdir(parents=True)
            with tarfile.open(archive) as tar:
                tar.extractall(self.dist_dir, filter="data")
        mark_complete(self.dist_dir)

    def launch(self) -> Launch:
        host, port = self.settings.registry_host_port
        database = self.layout.data_dir("registry") / "registry"
        heap = self.settings.stack_registry_heap
        return Launch(
            argv=[
                find_java(21, self.settings.stack_java21_home),
                f"-Xmx{heap}", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                f"-Dquarkus.http.host={host}", f"-Dquarkus.http.port={port}",
                f"-Dquarkus.management.host={host}",
                f"-Dquarkus.management.port={self.settings.stack_registry_management_port}",
                # Apicurio defaults to no compatibility check; subjects get a stricter level pinned
                # by `ugc init` (UGC_SCHEMA_COMPATIBILITY).
                f"-Dapicurio.rules.global.compatibility={GLOBAL_COMPATIBILITY}",
                f"-Dapicurio.datasource.url=jdbc:h2:file:{database}",
                "-Dapicurio.datasource.jdbc.initial-size=2",
                "-Dapicurio.datasource.jdbc.min-size=2",
                "-Dquarkus.log.level=WARN",
                "-Dquarkus.log.category.\"io.quarkus\".level=INFO",
                "-jar", str(self.dist_dir / "quarkus-run.jar"),
            ],
            cwd=self.layout.data_dir("registry"),
        )  # fmt: skip

    def health(self) -> Health:
        host, _ = self.settings.registry_host_port
        management = f"http://{host}:{self.settings.stack_registry_management_port}"
        try:
            ready = httpx.get(f"{management}/health/ready", timeout=3.0)
            info = httpx.get(f"{self.settings.registry_base_url}/apis/registry/v3/system/info")
            config = httpx.get(f"{self.settings.schema_registry_url}/config", timeout=3.0)
        except httpx.HTTPError as exc:
            return Health(False, f"{type(exc).__name__}: {exc}")
        if ready.status_code != 200 or info.status_code != 200 or config.status_code != 200:
            return Health(False, f"ready={ready.status_code} info={info.status_code}")
        version = info.json().get("version")
        if version != self.version:
            return Health(False, f"unexpected version {version}")
        level = config.json().get("compatibilityLevel")
        return Health(True, f"compatibility {level}")
