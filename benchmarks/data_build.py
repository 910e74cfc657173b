"""Data building speed and memory: users/s and peak RSS for several sizes (each in a fresh process).

    python benchmarks/data_build.py                 # 1,400 (the default) and 10,000 users
    python benchmarks/data_build.py --users 1400 10000 100000

Memory should stay flat as the number of users grows: users are generated one at a time and
streamed to disk.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = """
import json, resource, sys, time
from data_prep.build import build_dataset, load_data_config
cfg = load_data_config("configs/data/default.yaml", {"users": int(sys.argv[1])})
t = time.perf_counter()
stats = build_dataset(cfg, sys.argv[2], progress=False)
secs = time.perf_counter() - t
print(json.dumps({"users": stats["users"], "examples": sum(stats["examples"].values()), "seconds": secs,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--users", type=int, nargs="+", default=[1400, 10000])
    args = ap.parse_args()
    print("| users | examples | seconds | users/s | peak RSS (MB) |\n|---|---|---|---|---|")
    for n in args.users:
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(n), f"{tmp}/ds"], capture_output=True, text=True, check=True
            )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"| {n} | {r['examples']} | {r['seconds']:.1f} | {n / r['seconds']:.0f} | {r['peak_rss_mb']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
