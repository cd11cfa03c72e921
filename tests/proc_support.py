"""Processes as the kernel sees them (/proc): a process's descendants, and whether one of them
(the same one: pid and start time) still runs."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    start_ticks: int  # distinguishes a reused pid
    cmdline: str


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of a process, None if there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name is in parentheses and may hold anything: split after the last one.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def descendants(pid: int) -> list[Proc]:
    """Children, grandchildren... of `pid`, as of now."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents.setdefault(stat[1], []).append(int(entry.name))
    found, queue = [], list(parents.get(pid, []))
    while queue:
        child = queue.pop()
        stat = _stat(child)
        if stat is None:
            continue
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except FileNotFoundError:
            continue
        found.append(Proc(child, stat[1], stat[2], cmdline.strip()))
        queue.extend(parents.get(child, []))
    return found


def running(proc: Proc) -> bool:
    """True while that very process exists and is not a zombie."""
    stat = _stat(proc.pid)
    return stat is not None and stat[2] == proc.start_ticks and stat[0] != "Z"
