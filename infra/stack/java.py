"""Finding a Java runtime of a given major version (Kafka needs 17+, Apicurio 3.3 needs 21+)."""

import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

from infra.stack.process import StackError

JVM_DIR = Path("/usr/lib/jvm")


@cache
def java_major(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return 0
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def find_java(min_major: int, preferred_home: str = "") -> str:
    """The first java of at least `min_major`: preferred home, JAVA_HOME, PATH, /usr/lib/jvm."""
    homes = [preferred_home, os.environ.get("JAVA_HOME", "")]
    candidates = [str(Path(home) / "bin" / "java") for home in homes if home]
    candidates.append(shutil.which("java") or "")
    if JVM_DIR.is_dir():
        candidates += [str(p / "bin" / "java") for p in sorted(JVM_DIR.iterdir(), reverse=True)]
    for java in candidates:
        if java and Path(java).is_file() and java_major(java) >= min_major:
            return java
    raise StackError(
        f"no Java {min_major}+ found (looked at {', '.join(c for c in candidates if c)}); "
        f"install one or set UGC_STACK_JAVA21_HOME"
    )
