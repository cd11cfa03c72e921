"""Where a projections worker's CPU goes: py-spy samples, sorted into the pipeline's stages.

py-spy (a sampling profiler, pip-installed in the venv) records the worker's busy stacks for a
benchmark step, without pausing it (`--nonblocking`), only the thread holding the GIL
(`--gil`: the one running Python; a thread waiting for the GIL uses no CPU); each sample goes
to the stage of its innermost frame that belongs to one (STAGES). The worker's CPU per event
times a stage's share of the samples is that stage's CPU per event.
"""

import subprocess
import sys
from collections import Counter
from pathlib import Path

PY_SPY = Path(sys.prefix) / "bin" / "py-spy"
RATE_HZ = 100
# (stage, code that belongs to it). A sample goes to the stage of the innermost frame that
# belongs to one: the library doing the work (asyncio's and the standard library's frames are
# passed over to their caller).
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("decode", ("schemas/codec.py", "fastavro", "_decode (", "validate (", "decode_all (")),
    ("write", ("pymongo/", "bson/")),
    ("aggregate", ("sinks/mongo/projections.py", "streams/agents/")),
    ("consume", ("aiokafka/", "faust/", "mode/", "streams/messages.py")),
)
OTHER = "other"  # the event loop itself, logging, the bench's write log
# Reached going out from the innermost frame, the event loop's own frames end the search: below
# them, the loop is polling or scheduling, not running a stage's code.
# Waiting in epoll: not CPU (py-spy's own idle detection is off with --nonblocking).
IDLE = "select (selectors.py:"
LOOP_FRAMES = ("_run_once (asyncio/base_events.py", "run_forever (asyncio/base_events.py")


class Profile:
    """py-spy recording one process for `seconds` into `out` (raw, collapsed stacks)."""

    def __init__(self, pid: int, seconds: float, out: Path) -> None:
        self.out = out
        argv = [str(PY_SPY), "record", "--pid", str(pid), "--rate", str(RATE_HZ),
                "--duration", str(max(1, int(seconds))), "--format", "raw", "--nonblocking",
                "--gil", "--output", str(out)]  # fmt: skip
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stages(self, timeout_s: float = 60.0) -> Counter[str]:
        """Samples per stage (empty if py-spy could not record: its error is printed)."""
        _, err = self.process.communicate(timeout=timeout_s)
        if self.process.returncode != 0 or not self.out.exists():
            print(f"py-spy failed: {err.decode(errors='replace')[-300:]}", flush=True)
            return Counter()
        counts: Counter[str] = Counter()
        for line in self.out.read_text().splitlines():
            stack, _, samples = line.rpartition(" ")
            if samples.isdigit() and IDLE not in stack.rpartition(";")[2]:
                counts[stage_of(stack)] += int(samples)
        return counts  # the recording stays in the stack folder, to be read


def stage_of(stack: str) -> str:
    """py-spy's raw stacks run from the root to the innermost frame, `;` between frames."""
    for frame in reversed(stack.split(";")):
        if any(loop in frame for loop in LOOP_FRAMES):
            return OTHER
        for stage, markers in STAGES:
            if any(marker in frame for marker in markers):
                return stage
    return OTHER


def shares(counts: Counter[str]) -> dict[str, float]:
    total = sum(counts.values())
    names = [stage for stage, _ in STAGES] + [OTHER]
    return {name: counts[name] / total if total else 0.0 for name in names}
