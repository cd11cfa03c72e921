"""The house's floors: `ugc/` is the ground floor and imports nothing of the project; the
command line (`ugc_cli/`) is the top floor and nothing below imports it."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = {"ingest_api", "streams", "schemas", "sinks", "infra", "bench", "ugc_cli"}
LOWER_FLOORS = ("ugc", "ingest_api", "streams", "schemas", "sinks", "infra")


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):  # walks function bodies too: lazy imports count
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_ground_floor_imports_nothing_of_the_project() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & PROJECT_PACKAGES)
        for path in (ROOT / "ugc").rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_nothing_below_the_cli_imports_it() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for floor in LOWER_FLOORS
        for path in (ROOT / floor).rglob("*.py")
        if "ugc_cli" in imported_packages(path)
    ]
    assert offenders == []


def test_the_entry_point_is_the_cli_package() -> None:
    assert 'ugc = "ugc_cli.main:app"' in (ROOT / "pyproject.toml").read_text()
