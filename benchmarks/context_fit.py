"""Fit the catalog context's two weights on a dataset's training split (careerpath/core/context.py).

The skill-gap rule ranks courses by the gap they close: a missing skill of the next step counts
its importance, a missing goal skill ``goal_weight`` times its importance, a missing
prerequisite of a useful course ``prereq_weight`` times that course's best skill. This grid
search scores the rule (next-course Acc@1 and MRR, ties broken in catalog order, taken courses
hidden) on training rows for every pair of weights, prints the table and the best pair, so the
defaults in ``configs/data/default.yaml`` are a measured choice rather than a guess::

    python benchmarks/context_fit.py --data outputs/data [--rows 3000] [--split train]
    python benchmarks/context_fit.py --time      # the retriever's cost per row instead
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from careerpath.core.catalog import load_catalog  # noqa: E402
from careerpath.core.context import ContextConfig, GapRetriever, load_context_file, progression_for  # noqa: E402
from careerpath.eval.baselines import load_split  # noqa: E402

GRID = (0.0, 0.25, 0.5, 0.75, 1.0)


def rule_metrics(retriever: GapRetriever, rows: list[dict]) -> tuple[float, float]:
    """(Acc@1, MRR) of the rule's ranking of the sampled next course."""
    pos = {c: i for i, c in enumerate(retriever.course_ids)}
    hits, rr = 0.0, 0.0
    n = len(pos)
    for r in rows:
        _, score = retriever.scores(r["job_id"], r["goal_id"], r["skill_ids"], r["course_ids"])
        score = np.where(np.isfinite(score), score, 0.0)  # ineligible courses tie at zero
        for c in r["course_ids"]:
            score[pos[c]] = -np.inf
        # ties in catalog order: a tiny decreasing offset
        score = score - np.arange(n) * 1e-12
        gold = pos[r["next_course_id"]]
        rank = 1 + int(np.sum(score > score[gold]))
        hits += rank == 1
        rr += 1.0 / rank
    return hits / len(rows), rr / len(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="outputs/data", help="a dataset folder from `careerpath data build`")
    p.add_argument("--split", default="train", help="rows to fit on (train: the weights never see test)")
    p.add_argument("--rows", type=int, default=3000, help="a seeded sample of this many rows (0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--time", action="store_true", help="only time GapRetriever.context per row (median of 5 passes)"
    )
    args = p.parse_args(argv)
    data = Path(args.data)
    if not (data / f"{args.split}.jsonl").is_file():
        raise SystemExit(
            f"{data}/{args.split}.jsonl: missing; build one with `careerpath data build --out {data}`"
        )
    cat = load_catalog(data / "catalog")
    info = load_context_file(data)
    prog = progression_for(cat, info)
    rows = [r for r in load_split(data, args.split) if r.get("next_course_id")]
    if args.rows and args.rows < len(rows):
        keep = np.sort(np.random.default_rng(args.seed).choice(len(rows), args.rows, replace=False))
        rows = [rows[i] for i in keep]
    if args.time:
        retriever = GapRetriever(cat, prog, info["context"] if info else None)
        per_row = []
        for _ in range(5):
            t0 = time.perf_counter()
            for r in rows:
                retriever.context(r["job_id"], r["goal_id"], r["skill_ids"], r["course_ids"])
            per_row.append((time.perf_counter() - t0) / len(rows))
        print(
            f"GapRetriever.context: {1e6 * sorted(per_row)[2]:.0f} us per row (median of 5 passes over {len(rows)} rows)"
        )
        return 0
    t0 = time.time()
    table = {}
    for g in GRID:
        for q in GRID:
            table[(g, q)] = rule_metrics(
                GapRetriever(cat, prog, ContextConfig(goal_weight=g, prereq_weight=q)), rows
            )
    best = max(table, key=lambda k: table[k])
    print(f"skill-gap rule on {len(rows)} {args.split} rows of {data} ({time.time() - t0:.1f} s)")
    print("next-course Acc@1 / MRR; rows: goal_weight, columns: prereq_weight")
    print("| goal \\ prereq | " + " | ".join(f"{q:g}" for q in GRID) + " |")
    print("|---" * (len(GRID) + 1) + "|")
    for g in GRID:
        cells = [f"{table[(g, q)][0]:.3f} / {table[(g, q)][1]:.3f}" for q in GRID]
        print(f"| {g:g} | " + " | ".join(cells) + " |")
    print(
        f"best: goal_weight {best[0]:g}, prereq_weight {best[1]:g} (Acc@1 {table[best][0]:.3f}, MRR {table[best][1]:.3f})"
    )
    if info:
        c = info["context"]
        print(f"this dataset was built with goal_weight {c.goal_weight:g}, prereq_weight {c.prereq_weight:g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
