"""Data building speed and memory: users/s and peak RSS for several sizes (each in a fresh process).

    python benchmarks/data_build.py                 # 1,400 (the default) and 10,000 users
    python benchmarks/data_build.py --users 1400 10000 100000
    python benchmarks/data_build.py --workers 1     # one process (default: one worker per core)
    python benchmarks/data_build.py --users 100000 --repeats 3   # median seconds of 3 fresh builds

Memory should stay flat as the number of users grows: users are generated in chunks (by worker
processes, a few chunks ahead of the writer at most) and streamed to disk. Peak RSS is given for
the building process and for the largest worker. With ``--repeats R`` each size is built R times
(fresh processes, one after the other): the median seconds and the largest peak RSS are reported,
with every run's seconds (``runs_seconds`` in the JSON): this machine's speed moves by 10-20%
within minutes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
from careerpath.data.build import build_dataset, default_workers, load_data_config
workers = int(sys.argv[3]) if sys.argv[3] != "auto" else None
cfg = load_data_config("configs/data/default.yaml", {"users": int(sys.argv[1]), "workers": workers})
t = time.perf_counter()
stats = build_dataset(cfg, sys.argv[2], progress=False)
secs = time.perf_counter() - t
print(json.dumps({"users": stats["users"], "examples": sum(stats["examples"].values()), "seconds": secs,
                  "workers": workers or default_workers(),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def _build(users: int, workers: str) -> dict:
    """One build of ``users`` in a fresh process: its figures."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(users), f"{tmp}/ds", str(workers)],
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--users", type=int, nargs="+", default=[1400, 10000])
    ap.add_argument("--workers", default="auto", help="worker processes (default: one per core)")
    ap.add_argument("--json", default="", help="also write the results here (a list, one entry per size)")
    ap.add_argument("--repeats", type=int, default=1, help="builds per size: median seconds, largest RSS")
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error(f"--repeats {args.repeats}: must be at least 1")
    results = []
    print(
        "| users | examples | workers | seconds | users/s | peak RSS (MB) | worker peak RSS (MB) |\n"
        "|---|---|---|---|---|---|---|"
    )
    for n in args.users:
        runs = [_build(n, args.workers) for _ in range(args.repeats)]
        r = dict(runs[0], seconds=statistics.median(x["seconds"] for x in runs))
        r["peak_rss_mb"] = max(x["peak_rss_mb"] for x in runs)
        r["worker_rss_mb"] = max(x["worker_rss_mb"] for x in runs)
        r["runs_seconds"] = [round(x["seconds"], 2) for x in runs]
        results.append(r)
        print(
            f"| {n} | {r['examples']} | {r['workers']} | {r['seconds']:.1f} | {n / r['seconds']:.0f} "
            f"| {r['peak_rss_mb']:.0f} | {r['worker_rss_mb']:.0f} |"
            + (f" runs: {', '.join(f'{x:.1f}' for x in r['runs_seconds'])} s" if args.repeats > 1 else ""),
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
