"""The pathway planner's HiGHS programs, captured and replayed: where the planner's solver time goes,
and what a HiGHS option does to it, on the very programs the latency benchmark solves.

    python benchmarks/planner_replay.py --model outputs/tiny_t5 --data outputs/data --n 200 \
        [--variant mip_heuristic_run_rens=false,mip_heuristic_run_rins=false] [--repeats 5]

It runs ``recommend`` + a 5-step pathway for the latency benchmark's profiles
(``recommend_latency.py``'s first ``--n`` test profiles, one fresh recommender) and keeps every
program handed to HiGHS (:func:`careerpath.serving.planner_milp._run`: the integer programs and
the linear relaxations, each with its cutoff). Then it replays them ``--repeats`` times on one
thread with the planner's options and with each ``--variant`` (comma-separated ``name=value``
HiGHS options on top of the planner's), the variants alternated, and prints per kind of program
(integer with and without a cutoff, relaxations): how many, their median total milliseconds, the
branch-and-bound nodes and simplex iterations at the planner's options, and for each variant
how many programs give the planner another answer (another course set, or none, from an integer
program; another status or optimum from a relaxation) than with the planner's options. Timings
are medians of the repeats: this machine's speed moves by more than the differences measured
here, so compare variants within one run only. The options the planner sets for each program
itself (:data:`PER_RUN`) cannot be varied here.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch

from careerpath.serving import planner_milp
from careerpath.serving.recommend import Recommender

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recommend_latency import benchmark_rows, profile_of  # noqa: E402

PER_RUN = {"presolve", "objective_bound", "time_limit"}
"""Options :func:`careerpath.serving.planner_milp._run` sets for each program itself."""


def capture(model: str, data: str, n: int, steps: int) -> list[tuple]:
    """(program, cutoff) of every HiGHS run of the latency benchmark's first ``n`` profiles."""
    ordered = benchmark_rows(data, n)
    rec = Recommender.from_pretrained(model, use_embeddings=False)
    seen: list[tuple] = []
    real = planner_milp._run

    def keep(program, cutoff):
        seen.append((program, float(cutoff)))
        return real(program, cutoff)

    planner_milp._run = keep
    try:
        for row in ordered:
            p = profile_of(row)
            rec.recommend(p, top_k=10)
            rec.pathway(p, max_steps=steps)
    finally:
        planner_milp._run = real
    return seen


def parse_variant(text: str) -> dict:
    """``"a=1,b=false"`` -> {"a": 1, "b": False} (HiGHS option names and values)."""
    out = {}
    for part in filter(None, text.split(",")):
        name, sep, value = part.partition("=")
        if not sep:
            raise SystemExit(f"--variant {text!r}: each option as name=value, comma-separated")
        low = value.strip().lower()
        if low in ("true", "false"):
            out[name.strip()] = low == "true"
        else:
            try:
                out[name.strip()] = int(value) if value.strip().lstrip("-").isdigit() else float(value)
            except ValueError:
                out[name.strip()] = value.strip()
    return out


def replay(programs: list[tuple], options: dict) -> tuple[list[float], list[tuple]]:
    """Seconds and (what the planner reads, nodes, simplex iterations) of each program under the
    planner's options plus ``options`` (restored afterwards). What the planner reads: of an
    integer program, the chosen course columns when they cost less than the cutoff, else None
    (as :func:`~careerpath.serving.planner_milp.cover_program` reads it); of a relaxation, its
    status and optimum."""
    import highspy

    fixed = sorted(set(options) & PER_RUN)
    if fixed:
        raise SystemExit(f"{', '.join(fixed)}: set by the planner for each program, not a variant here")
    solver = planner_milp._solver()
    before = {k: solver.getOptionValue(k)[1] for k in options}
    for k, v in options.items():
        if solver.setOptionValue(k, v) != highspy.HighsStatus.kOk:
            raise SystemExit(f"HiGHS refused the option {k}={v!r}")
    seconds, answers = [], []
    try:
        for program, cutoff in programs:
            t = time.perf_counter()
            s = planner_milp._run(program, cutoff)
            seconds.append(time.perf_counter() - t)
            info = s.getInfo()
            if program.integer:
                cost = program.args[6]
                n = int(program.args[14].astype(bool).sum())  # the course columns are the integer ones
                cols = planner_milp.chosen_columns(s, n)
                ok = cols is not None and sum(cost[k] for k in cols) < cutoff - 1e-9
                read = tuple(cols) if ok else None
                answers.append((read, info.mip_node_count, info.simplex_iteration_count))
            else:
                read = (str(s.getModelStatus()), info.objective_function_value)
                answers.append((read, 0, info.simplex_iteration_count))
    finally:
        for k, v in before.items():
            solver.setOptionValue(k, v)
    return seconds, answers


def same(a, b) -> bool:
    """Whether two answers are the same for the planner: the same course set (integer programs),
    or the same status and an optimum within 1e-9 relative (relaxations)."""
    if isinstance(a, tuple) and len(a) == 2 and isinstance(a[0], str):
        return a[0] == b[0] and abs(a[1] - b[1]) <= 1e-9 * max(1.0, abs(a[1]))
    return a == b


def kind(program, cutoff: float) -> str:
    if not program.integer:
        return "relaxations"
    return "integer, cutoff" if math.isfinite(cutoff) else "integer, no cutoff"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="outputs/tiny_t5")
    ap.add_argument("--data", default="outputs/data")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--variant", action="append", default=[], help="HiGHS options name=value,...")
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error(f"--repeats {args.repeats}: must be at least 1")
    torch.set_num_threads(1)
    programs = capture(args.model, args.data, args.n, args.steps)
    variants = {"planner's options": {}} | {v: parse_variant(v) for v in args.variant}
    kinds = [kind(p, c) for p, c in programs]
    times: dict[str, list[dict]] = {v: [] for v in variants}
    answers: dict[str, list[tuple]] = {}
    for rep in range(args.repeats):
        order = list(variants) if rep % 2 == 0 else list(reversed(variants))
        for name in order:
            seconds, out = replay(programs, variants[name])
            per = {}
            for k, s in zip(kinds, seconds, strict=True):
                per[k] = per.get(k, 0.0) + s
            times[name].append(per)
            answers.setdefault(name, out)
    base = answers["planner's options"]
    print(f"{len(programs)} HiGHS runs of {args.n} profiles, replayed {args.repeats} times, 1 thread\n")
    print("| kind | programs | nodes (max) | simplex iterations (median) |\n|---|---|---|---|")
    for k in dict.fromkeys(kinds):
        idx = [i for i, x in enumerate(kinds) if x == k]
        nodes = max(base[i][1] for i in idx)
        its = statistics.median(base[i][2] for i in idx)
        print(f"| {k} | {len(idx)} | {nodes} | {its:g} |")
    print("\n| options | " + " | ".join(f"{k} (ms)" for k in dict.fromkeys(kinds)) + " | other answers |")
    print("|---|" + "---|" * (len(set(kinds)) + 1))
    for name in variants:
        cells = [
            f"{1000 * statistics.median(t.get(k, 0.0) for t in times[name]):.1f}"
            for k in dict.fromkeys(kinds)
        ]
        other = sum(not same(a[0], b[0]) for a, b in zip(base, answers[name], strict=True))
        print(f"| {name} | " + " | ".join(cells) + f" | {other} of {len(base)} |")


if __name__ == "__main__":
    main()
