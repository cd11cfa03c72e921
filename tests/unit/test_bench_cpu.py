"""bench.cpu: a process tree's CPU keeps what its children used after they ended."""

import subprocess
import sys

from bench.cpu import tree_cpu_s

BURN_S = 0.3
GRANDCHILD = f"import time\nt = time.process_time()\nwhile time.process_time() - t < {BURN_S}: pass"
CHILD = (
    "import subprocess, sys, time\n"
    f"subprocess.run([sys.executable, '-c', {GRANDCHILD!r}], check=True)\n"
    "print('ended', flush=True)\n"
    "time.sleep(30)\n"
)


def test_a_tree_counts_the_cpu_of_children_that_ended() -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "ended\n"
        assert tree_cpu_s(child.pid) >= BURN_S  # the grandchild is gone; its CPU is not
    finally:
        child.kill()
        child.wait(timeout=10)
