"""The settings object and .env.example describe the same variables."""

import re

from ugc.settings import PROJECT_ROOT, Settings


def _example_names() -> set[str]:
    text = (PROJECT_ROOT / ".env.example").read_text()
    return set(re.findall(r"^(UGC_[A-Z0-9_]+)=", text, flags=re.MULTILINE))


def test_every_setting_is_documented_and_nothing_else():
    fields = {f"UGC_{name.upper()}" for name in Settings.model_fields}
    assert _example_names() == fields


def test_example_values_are_the_defaults(monkeypatch):
    for name in Settings.model_fields:
        monkeypatch.delenv(f"UGC_{name.upper()}", raising=False)
    example = Settings(_env_file=PROJECT_ROOT / ".env.example")
    defaults = Settings(_env_file=None)
    assert example.model_dump() == defaults.model_dump()


def test_addresses_drive_the_stack_ports():
    settings = Settings(
        _env_file=None,
        kafka_bootstrap="127.0.0.1:19092,127.0.0.2:19092",
        schema_registry_url="http://127.0.0.1:18081/apis/ccompat/v7",
        mongo_url="mongodb://127.0.0.1:27117/",
    )
    assert settings.kafka_host_port == ("127.0.0.1", 19092)
    assert settings.registry_host_port == ("127.0.0.1", 18081)
    assert settings.registry_base_url == "http://127.0.0.1:18081"
    assert settings.mongo_host_port == ("127.0.0.1", 27117)


def test_relative_folders_are_taken_from_the_project_root():
    settings = Settings(_env_file=None, stack_dir="some/where")
    assert settings.stack_dir == PROJECT_ROOT / "some" / "where"
