"""Skill tagging quality: hide the bundled catalog's hand tags, propose, and score against them.

    python benchmarks/tagging.py                       # default config (configs/data/tagging.yaml)
    python benchmarks/tagging.py --no-embeddings       # word matches only
    python benchmarks/tagging.py --catalog DIR         # any catalog in the documented format
    python benchmarks/tagging.py --fit                 # refit the job neighbour model on half A

Courses are proposed from their own text only, so their tags are the answer key. Jobs are scored
twice: text only (every job tag hidden), and with the neighbour method, leave-one-out: a job is
proposed from its text plus the *other* jobs' tags, the transitions and the course tags, never
its own tags. The neighbour model's weights and cut were fitted on tuning half A of the jobs (a
stable hash of the id, ``tuning_split``); half B is held out, and both halves and all jobs are
reported. Prints micro precision, recall and F1 at the default threshold, a threshold sweep and
the time (the first run also embeds the catalog with all-MiniLM-L6-v2 and caches it).
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from careerpath.core.catalog import load_catalog  # noqa: E402
from careerpath.curation.tagging import (  # noqa: E402
    evaluate_tagging,
    fit_neighbour_model,
    load_tagging_config,
    make_encoder,
    tuning_split,
)

SWEEP = (0.5, 0.6, 0.7, 0.8, 0.9)


def _cell(m: dict) -> str:
    return f"{m['f1']:.3f} ({m['precision']:.2f} / {m['recall']:.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--catalog", help="catalog folder (default: the bundled catalog)")
    ap.add_argument("--config", help="tagging YAML (default: configs/data/tagging.yaml)")
    ap.add_argument("--no-embeddings", action="store_true", help="word matches only")
    ap.add_argument("--fit", action="store_true", help="fit the neighbour model on half A; print YAML")
    args = ap.parse_args()
    cfg = load_tagging_config(args.config, {"embeddings": False} if args.no_embeddings else None)
    catalog = load_catalog(args.catalog)
    encoder = make_encoder(cfg)
    half_a, half_b = tuning_split(catalog)
    if args.fit:
        model, cut = fit_neighbour_model(catalog, cfg, encoder, half_a)
        print(f"# fitted on half A ({len(half_a)} jobs), leave-one-out features")
        print(f"neighbour_cut: {cut}\nneighbour_model:")
        for k, v in model.items():
            print(f"  {k}: {v}")
        return
    start = time.perf_counter()
    text = evaluate_tagging(catalog, replace(cfg, neighbours=False), encoder, thresholds=SWEEP)
    groups = {"job:A": half_a, "job:B": half_b}
    res = evaluate_tagging(catalog, cfg, encoder, ("course", "job"), SWEEP, job_groups=groups)
    total = time.perf_counter() - start
    enc = cfg.encoder if cfg.embeddings else "none"
    print(
        f"catalog: {catalog.source} ({len(catalog.courses)} courses, {len(catalog.jobs)} jobs, "
        f"{len(catalog.skills)} skills); encoder: {enc}; default threshold {cfg.threshold}; "
        f"jobs split by id hash into tuning half A ({len(half_a)}) and held-out half B ({len(half_b)})\n"
    )
    print("At the default threshold (hand tags hidden, micro-averaged):\n")
    print("| items | precision | recall | F1 | proposed | hand tags | found |\n|---|---|---|---|---|---|---|")
    rows = [
        ("courses (text only)", res["course"]),
        ("jobs, text only (all job tags hidden)", text["job"]),
        ("jobs, + neighbours, leave-one-out: tuning half A", res["job:A"]),
        ("jobs, + neighbours, leave-one-out: held-out half B", res["job:B"]),
        ("jobs, + neighbours, leave-one-out: all", res["job"]),
        ("courses + jobs (text only)", text["all"]),
        ("courses + jobs (+ neighbours, leave-one-out)", res["all"]),
    ]
    if not cfg.neighbours:
        rows = rows[:2] + rows[5:6]
    for label, by_t in rows:
        m = by_t[cfg.threshold]
        print(
            f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['proposed']} | "
            f"{m['gold']} | {m['correct']} |"
        )
    print("\nThreshold sweep (F1, with precision / recall):\n")
    print(
        "| threshold | courses | jobs, text only | jobs + neighbours: half B | jobs + neighbours: all "
        "| courses + jobs (+ neighbours) |\n|---|---|---|---|---|---|"
    )
    for t in sorted(res["course"]):
        cells = [_cell(res["course"][t]), _cell(text["job"][t]), _cell(res["job:B"][t])]
        cells += [_cell(res["job"][t]), _cell(res["all"][t])]
        mark = " (default)" if t == cfg.threshold else ""
        print(f"| {t:g}{mark} | " + " | ".join(cells) + " |")
    print(
        f"\ntime: {text['seconds']:.1f} s proposing text only, {res['seconds']:.1f} s with neighbours "
        f"({total:.1f} s in all, model loading excluded)"
    )


if __name__ == "__main__":
    main()
