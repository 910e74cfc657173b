"""``--load N`` of the latency benchmarks: N busy processes (pure-Python spin loops, one core
each) running while the measurement runs, so that "a loaded machine" is a setting anyone can
reproduce rather than whatever else happened to share the cores.

    with busy_processes(2):
        measure()
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_SPIN = "import time\nend = time.time() + {secs}\nwhile time.time() < end:\n    pass\n"


@contextmanager
def busy_processes(n: int, max_seconds: float = 1800.0) -> Iterator[list[int]]:
    """Start ``n`` spinning processes, yield their pids, stop them on exit. Each also stops on its
    own after ``max_seconds``, so that a benchmark killed hard leaves no spinner behind for long."""
    if n < 0:
        raise ValueError(f"--load {n}: the number of busy processes must be 0 or more")
    procs = [
        subprocess.Popen([sys.executable, "-c", _SPIN.format(secs=max_seconds)], stdin=subprocess.DEVNULL)
        for _ in range(n)
    ]
    try:
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
