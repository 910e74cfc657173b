"""Recommendation latency: top-10 courses and jobs plus a 5-step pathway per profile, p50/p95
over test profiles, against plain ``generate(num_beams=10)`` on the same inputs, in one run.

    python benchmarks/recommend_latency.py --model outputs/tiny_t5 --data outputs/data --n 200

``--json PATH`` also writes the figures (milliseconds, profiles/s) for benchmarks/run_all.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from careerpath.profile import ResolvedProfile
from careerpath.recommend import Recommender
from careerpath.splits import load_split


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def profile_of(row: dict) -> ResolvedProfile:
    return ResolvedProfile(
        job=row["job_id"],
        goal=row["goal_id"],
        history=row["history_ids"][:-1],
        skills=list(row["skill_ids"]),
        courses=list(row["course_ids"]),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="outputs/tiny_t5")
    ap.add_argument("--data", default="outputs/data")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rec = Recommender.from_pretrained(args.model, use_embeddings=False)
    rows = load_split(args.data, "test")
    # one profile per test user (their first step), then later steps until there are n
    firsts = {}
    for r in rows:
        firsts.setdefault(r["user_id"], r)
    ordered = list(firsts.values()) + [r for r in rows if r["step"] > 0]
    profiles = [profile_of(r) for r in ordered[: args.n]]
    rec.recommend(profiles[0])  # warm-up

    ours = []
    for p in profiles:
        t = time.perf_counter()
        rec.recommend(p, top_k=10)
        rec.pathway(p, max_steps=args.steps)
        ours.append(time.perf_counter() - t)

    model, tok = rec.scorer.model, rec.scorer.tok
    gen = []
    for p in profiles:
        t = time.perf_counter()
        enc = tok([p.input_text(rec.catalog)], return_tensors="pt")
        with torch.no_grad():
            model.generate(**enc, num_beams=10, num_return_sequences=10, max_new_tokens=48)
        gen.append(time.perf_counter() - t)

    t = time.perf_counter()
    texts = [p.input_text(rec.catalog) for p in profiles]
    for i in range(0, len(texts), 32):
        rec.scorer.score(texts[i : i + 32], [p.skills for p in profiles[i : i + 32]])
    batched = len(texts) / (time.perf_counter() - t)

    print(f"{len(profiles)} test profiles, 1 thread\n")
    print("| method | p50 (ms) | p95 (ms) | mean (ms) |\n|---|---|---|---|")
    for name, xs in (
        (f"careerpath recommend (top-10) + {args.steps}-step pathway", ours),
        ("generate(num_beams=10)", gen),
    ):
        print(
            f"| {name} | {1000 * statistics.median(xs):.1f} | {1000 * pct(xs, 0.95):.1f} | {1000 * statistics.mean(xs):.1f} |"
        )
    print(f"\nratio of p50 (generate / careerpath): {statistics.median(gen) / statistics.median(ours):.2f}")
    print(f"batched full-catalog scoring (courses + jobs): {batched:.0f} profiles/s")
    if args.json:
        figures = {
            name: {
                "p50_ms": round(1000 * statistics.median(xs), 2),
                "p95_ms": round(1000 * pct(xs, 0.95), 2),
                "mean_ms": round(1000 * statistics.mean(xs), 2),
            }
            for name, xs in (("careerpath", ours), ("generate", gen))
        }
        Path(args.json).write_text(
            json.dumps(
                {
                    "n": len(profiles),
                    "steps": args.steps,
                    "threads": 1,
                    **figures,
                    "ratio_p50": round(statistics.median(gen) / statistics.median(ours), 3),
                    "batched_profiles_per_s": round(batched, 1),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
