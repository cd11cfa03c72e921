"""Machine facts stamped on every benchmark result."""

import os
import platform
from datetime import UTC, datetime
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def machine_line() -> str:
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {os.cpu_count()} cores ({cpu_model()}) · "
        f"{memory_gib():.0f} GiB · {platform.system()} {platform.release()} · "
        f"Python {platform.python_version()}"
    )


def machine_facts() -> dict[str, object]:
    """The machine line's facts, for results a machine reads."""
    return {
        "date": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "memory_gib": round(memory_gib(), 1),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def replace_section(path: str, heading: str, body: str) -> None:
    """Write `## heading` + body into the markdown file, replacing that section if present."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        text = "# Benchmarks\n\nWritten by the `make bench-*` targets; each section is one run.\n"
    marker = f"## {heading}\n"
    section = f"{marker}\n{body.strip()}\n"
    if marker in text:
        start = text.index(marker)
        end = text.find("\n## ", start + len(marker))
        text = text[:start] + section + (text[end:] if end != -1 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    Path(path).write_text(text)
