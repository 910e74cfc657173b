"""Recommendation latency: top-10 courses and jobs plus a 5-step pathway per profile, p50/p95
over test profiles, against plain ``generate(num_beams=10)`` on the same inputs, in one run.

    python benchmarks/recommend_latency.py --model outputs/tiny_t5 --data outputs/data --n 200

``--json PATH`` also writes the figures (milliseconds, profiles/s) for benchmarks/run_all.py.
``--load N`` runs N busy processes meanwhile (a loaded machine: ``--load 2`` on 2 cores);
``--repeats R`` measures R times, each with a freshly loaded recommender (no plan or score cached
from the run before), and reports the median of the R p50s and p95s.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from careerpath.core.profile import ResolvedProfile
from careerpath.data.splits import load_split
from careerpath.serving import planner_guided
from careerpath.serving.recommend import Recommender, settle_heap

sys.path.insert(0, str(Path(__file__).resolve().parent))
from background_load import busy_processes  # noqa: E402


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


def benchmark_rows(data: str, n: int) -> list[dict]:
    """The test rows whose profiles the benchmark times: one per test user (their first step), then
    later steps until there are ``n``."""
    rows = load_split(data, "test")
    firsts: dict = {}
    for r in rows:
        firsts.setdefault(r["user_id"], r)
    return (list(firsts.values()) + [r for r in rows if r["step"] > 0])[:n]


def measure(args, rows: list[dict]) -> dict:
    """One measurement with a fresh recommender: per-profile seconds of ours and of generate."""
    rec = Recommender.from_pretrained(args.model, use_embeddings=False)
    profiles = [profile_of(r) for r in rows]
    rec.recommend(profiles[0])  # warm-up
    rec.scorer._memo.clear()  # the warm-up profile is measured like the others
    settle_heap()  # as `careerpath serve` does once loaded: the collector's full passes skip start-up

    ours, sources = [], []
    for p in profiles:
        t = time.perf_counter()
        rec.recommend(p, top_k=10)
        path = rec.pathway(p, max_steps=args.steps)
        ours.append(time.perf_counter() - t)
        sources.append([s.source for s in path.steps if s.kind == "course"])

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

    # whole answers (top-10 courses and jobs with reasons), one call each against recommend_many:
    # a pass takes 0.1-0.3 s, so one pass of each is decided by the machine's moment (a full run
    # read 0.71x loaded; six alternated passes of the same code, 1.24x): medians of 6, alternated
    singles, manys = [], []
    for k in range(6):
        for which in ("single", "many") if k % 2 == 0 else ("many", "single"):
            t = time.perf_counter()
            if which == "single":
                for p in profiles:
                    rec.recommend(p, top_k=10)
            else:
                rec.recommend_many(profiles, top_k=10, batch_size=32)
            (singles if which == "single" else manys).append(len(profiles) / (time.perf_counter() - t))
    single, many = statistics.median(singles), statistics.median(manys)
    steps = [x for src in sources for x in src]
    followed = {
        "model_step_share": sum(x == "model" for x in steps) / max(len(steps), 1),
        "all_model_plans": sum(bool(src) and all(x == "model" for x in src) for src in sources),
    }
    gc.unfreeze()  # the next measurement's recommender is frozen afresh
    return {"ours": ours, "gen": gen, "batched": batched, "single": single, "many": many, **followed}


def summary(xs: list[float]) -> dict:
    return {
        "p50_ms": round(1000 * statistics.median(xs), 2),
        "p95_ms": round(1000 * pct(xs, 0.95), 2),
        "mean_ms": round(1000 * statistics.mean(xs), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="outputs/tiny_t5")
    ap.add_argument("--data", default="outputs/data")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--load", type=int, default=0, help="busy processes running meanwhile (0: none)")
    ap.add_argument("--repeats", type=int, default=1, help="measurements; medians of their figures")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument(
        "--exact-checks",
        type=int,
        default=None,
        help="integer-program checks per pathway step in the guided plan (default: the planner's, "
        "careerpath/serving/planner_guided.EXACT_CHECKS)",
    )
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error(f"--repeats {args.repeats}: must be at least 1")
    torch.set_num_threads(1)
    if args.exact_checks is not None:
        planner_guided.EXACT_CHECKS = args.exact_checks
    ordered = benchmark_rows(args.data, args.n)
    with busy_processes(args.load):
        runs = [measure(args, ordered) for _ in range(args.repeats)]

    def med(key: str, name: str) -> float:
        return round(statistics.median(summary(r[key])[name] for r in runs), 2)

    figures = {
        name: {f: med(key, f) for f in ("p50_ms", "p95_ms", "mean_ms")}
        for name, key in (("careerpath", "ours"), ("generate", "gen"))
    }
    batched = statistics.median(r["batched"] for r in runs)
    single = statistics.median(r["single"] for r in runs)
    many = statistics.median(r["many"] for r in runs)
    load = f", {args.load} busy processes" if args.load else ", no added load"
    print(f"{len(ordered)} test profiles, 1 thread{load}, median of {args.repeats} run(s)\n")
    print("| method | p50 (ms) | p95 (ms) | mean (ms) |\n|---|---|---|---|")
    for label, name in (
        (f"careerpath recommend (top-10) + {args.steps}-step pathway", "careerpath"),
        ("generate(num_beams=10)", "generate"),
    ):
        f = figures[name]
        print(f"| {label} | {f['p50_ms']:.1f} | {f['p95_ms']:.1f} | {f['mean_ms']:.1f} |")
    ratio = figures["generate"]["p50_ms"] / figures["careerpath"]["p50_ms"]
    print(f"\nratio of p50 (generate / careerpath): {ratio:.2f}")
    share = statistics.median(r["model_step_share"] for r in runs)
    all_model = statistics.median(r["all_model_plans"] for r in runs)
    print(
        f"pathways (exact checks per step: {planner_guided.EXACT_CHECKS}): share of course steps the model "
        f"chose {share:.3f}; plans whose every course it chose {all_model:g} of {len(ordered)}"
    )
    print(f"batched full-catalog scoring (courses + jobs): {batched:.0f} profiles/s")
    print(
        f"recommend (top-10 answers), one call per profile: {single:.0f} profiles/s; "
        f"recommend_many (batches of 32): {many:.0f} profiles/s ({many / single:.2f}x)"
    )
    if args.json:
        out = {
            "n": len(ordered),
            "steps": args.steps,
            "threads": 1,
            "load": args.load,
            "repeats": args.repeats,
            **figures,
            "ratio_p50": round(ratio, 3),
            "batched_profiles_per_s": round(batched, 1),
            "recommend_profiles_per_s": round(single, 1),
            "recommend_many_profiles_per_s": round(many, 1),
            "exact_checks": planner_guided.EXACT_CHECKS,
            "model_step_share": round(share, 4),
            "all_model_plans": all_model,
            "runs": [{"careerpath": summary(r["ours"]), "generate": summary(r["gen"])} for r in runs],
        }
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
