"""What every component of the local stack provides to the stack manager."""

import hashlib
import shutil
import signal
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from infra.stack.process import ManagedProcess, StackError, as_user
from ugc.settings import PROJECT_ROOT, Settings

INFRA_DIR = PROJECT_ROOT / "infra"


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class Launch:
    argv: Sequence[str]
    cwd: Path
    env: dict[str, str] | None = None
    user: str | None = None  # run as this user (PostgreSQL refuses to run as root)


class StackLayout:
    """Folders of one stack instance below `stack_dir`, and the shared software folder."""

    def __init__(self, stack_dir: Path, dist_dir: Path) -> None:
        self.root = stack_dir
        self.dist = dist_dir  # provisioned software, shared by stack instances and kept
        self.data = stack_dir / "data"
        self.conf = stack_dir / "conf"
        self.logs = stack_dir / "logs"
        self.run = stack_dir / "run"

    def data_dir(self, name: str) -> Path:
        path = self.data / name
        path.mkdir(parents=True, exist_ok=True)
        return path


class Component(ABC):
    """A piece of the stack, usually a process; chDB runs inside its users instead."""

    name: str
    version: str
    has_process: bool = True
    stop_signal: signal.Signals = signal.SIGTERM
    signal_leader_only: bool = False

    def __init__(self, settings: Settings, layout: StackLayout) -> None:
        self.settings = settings
        self.layout = layout
        self.process = ManagedProcess(
            self.name, layout.run, layout.logs, self.stop_signal, self.signal_leader_only
        )

    @property
    def dist_dir(self) -> Path:
        return self.layout.dist / f"{self.name}-{self.version}"

    def dist_dir_for(self, *inputs: Path) -> Path:
        """A software folder named after the build inputs, so changing one rebuilds it."""
        return self.layout.dist / f"{self.name}-{self.version}-{content_hash(*inputs)}"

    @property
    @abstractmethod
    def address(self) -> str: ...

    def listen_ports(self) -> list[tuple[str, int]]:
        """Ports this component binds; checked for conflicts before it starts."""
        return []

    def provision(self) -> None:
        """Download or build what the component needs; cached, so cheap when done before."""
        return None

    def launch(self) -> Launch:
        """Write configuration and return how to start the process."""
        raise NotImplementedError(f"{self.name} has no process")

    @abstractmethod
    def health(self) -> Health: ...


def run_tool(
    argv: Sequence[str],
    cwd: Path,
    what: str,
    env: dict[str, str] | None = None,
    user: str | None = None,
    stdin: str | None = None,
) -> None:
    """Run a provisioning tool (mvn, go, apt-get, initdb); raise with its output when it fails."""
    if shutil.which(argv[0]) is None:
        raise StackError(f"{what}: `{argv[0]}` is not installed (see README requirements)")
    result = subprocess.run(
        list(argv),
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        **as_user(user),
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()[-30:]
        raise StackError(f"{what} failed ({' '.join(argv)}):\n" + "\n".join(output))


def content_hash(*files: Path) -> str:
    """A short digest of build inputs, so that a changed input gets a fresh build folder."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.read_bytes())
    return digest.hexdigest()[:10]


def mark_complete(folder: Path) -> None:
    (folder / ".complete").touch()


def is_complete(folder: Path) -> bool:
    return (folder / ".complete").exists()
