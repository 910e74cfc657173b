"""Import and data-build time and peak memory on the full O*NET and ESCO releases.

    python benchmarks/taxonomy_scale.py [--shared ../shared/data] [--onet-users 3000] [--esco-users 1500]
                                        [--only onet|esco] [--out outputs/bench_scale]

Each step runs in a fresh process (so peak RSS is that step's own): ``careerpath data import-onet``
on all 1,016 O*NET occupations, ``careerpath data build --config configs/data/onet.yaml``, then
``careerpath data import-esco`` on ESCO's 3,007 occupations and 13,896 skills and ``careerpath data
build --config configs/data/esco.yaml``. Prints one markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from careerpath.app.cli import main
t = time.perf_counter()
rc = main(sys.argv[1:])
print(json.dumps({{"rc": rc, "seconds": time.perf_counter() - t,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def step(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD.format(root=str(ROOT)), *args], capture_output=True, text=True, cwd=ROOT
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"step failed: {' '.join(args)}\n{proc.stderr[-3000:]}")
    result = json.loads(lines[-1])
    result["summary"] = " ".join(lines[:-1])[:300]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--out", default="outputs/bench_scale")
    ap.add_argument("--onet-users", type=int, default=3000)
    ap.add_argument("--esco-users", type=int, default=1500)
    ap.add_argument("--only", choices=["onet", "esco"], default=None)
    args = ap.parse_args()
    out = Path(args.out)
    rows = []
    plan = {
        "onet": (
            ["data", "import-onet", f"{args.shared}/onet_29_3", "--out", str(out / "onet_catalog")],
            "configs/data/onet.yaml",
            args.onet_users,
        ),
        "esco": (
            ["data", "import-esco", f"{args.shared}/esco_v1.1.1", "--out", str(out / "esco_catalog")],
            "configs/data/esco.yaml",
            args.esco_users,
        ),
    }
    for name, (imp, config, users) in plan.items():
        if args.only and args.only != name:
            continue
        r = step(imp)
        rows.append((f"{name}: import", r))
        r = step(
            [
                "data",
                "build",
                "--config",
                config,
                "--catalog",
                str(out / f"{name}_catalog"),
                "--users",
                str(users),
                "--out",
                str(out / f"{name}_data"),
                "--quiet",
            ]
        )
        rows.append((f"{name}: data build ({users} users)", r))
    print("| step | seconds | peak RSS (MB) | result |\n|---|---|---|---|")
    for label, r in rows:
        print(f"| {label} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | {r['summary']} |")


if __name__ == "__main__":
    main()
