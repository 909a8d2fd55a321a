"""The CPU clock of run.max_cpu_seconds counts this process and its children, live and finished."""

import subprocess
import sys
import time

from gozero.train.cputime import CPUClock, tree_cpu_seconds

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass\ntime.sleep({idle})\n"


def test_the_clock_counts_a_running_child_and_a_finished_one():
    clock = CPUClock(offset=10.0)
    assert 10.0 <= clock.seconds() < 10.5
    child = subprocess.Popen([sys.executable, "-c", BURN.format(s=1.0, idle=3.0)])
    deadline = time.monotonic() + 60
    while tree_cpu_seconds(child.pid) < 1.0 and time.monotonic() < deadline:
        time.sleep(0.1)
    live = clock.seconds()  # the child has burnt its second and sleeps: counted while it runs
    assert live >= 10.0 + 0.9
    child.wait()
    done = clock.seconds()  # now through getrusage(RUSAGE_CHILDREN), not twice
    assert 10.0 + 0.9 <= done < live + 1.0
    assert tree_cpu_seconds(child.pid) == 0.0  # gone
