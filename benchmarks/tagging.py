"""Skill tagging quality: hide the bundled catalog's hand tags, propose, and score against them.

    python benchmarks/tagging.py                       # default config (configs/data/tagging.yaml)
    python benchmarks/tagging.py --no-embeddings       # word matches only
    python benchmarks/tagging.py --catalog DIR         # any catalog in the documented format

The proposer reads only titles, alternative titles and descriptions (never an item's tags), so
the existing tags act as the answer key. Prints micro precision, recall and F1 for courses, jobs
and both, at the default threshold and a small sweep, and the time taken (the first run also
embeds the catalog with all-MiniLM-L6-v2 and caches it; later runs read the cache).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from data_prep.catalog import load_catalog  # noqa: E402
from data_prep.tagging import evaluate_tagging, load_tagging_config, make_encoder  # noqa: E402

SWEEP = (0.5, 0.6, 0.7, 0.8, 0.9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--catalog", help="catalog folder (default: the bundled catalog)")
    ap.add_argument("--config", help="tagging YAML (default: configs/data/tagging.yaml)")
    ap.add_argument("--no-embeddings", action="store_true", help="word matches only")
    args = ap.parse_args()
    cfg = load_tagging_config(args.config, {"embeddings": False} if args.no_embeddings else None)
    catalog = load_catalog(args.catalog)
    start = time.perf_counter()
    res = evaluate_tagging(catalog, cfg, make_encoder(cfg), thresholds=SWEEP)
    total = time.perf_counter() - start
    enc = cfg.encoder if cfg.embeddings else "none"
    print(
        f"catalog: {catalog.source} ({len(catalog.courses)} courses, {len(catalog.jobs)} jobs, "
        f"{len(catalog.skills)} skills); encoder: {enc}; default threshold {cfg.threshold}\n"
    )
    print("At the default threshold (tags hidden, micro-averaged):\n")
    print("| items | precision | recall | F1 | proposed | hand tags | found |\n|---|---|---|---|---|---|---|")
    for kind, label in (("course", "courses"), ("job", "jobs"), ("all", "courses + jobs")):
        m = res[kind][cfg.threshold]
        print(
            f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['proposed']} | "
            f"{m['gold']} | {m['correct']} |"
        )
    print("\nThreshold sweep (F1, with precision / recall):\n")
    print("| threshold | courses | jobs | courses + jobs |\n|---|---|---|---|")
    for t in sorted(res["course"]):
        cells = [
            f"{res[k][t]['f1']:.3f} ({res[k][t]['precision']:.2f} / {res[k][t]['recall']:.2f})"
            for k in ("course", "job", "all")
        ]
        mark = " (default)" if t == cfg.threshold else ""
        print(f"| {t:g}{mark} | " + " | ".join(cells) + " |")
    print(f"\ntime: {res['seconds']:.1f} s proposing ({total:.1f} s in all, model loading included)")


if __name__ == "__main__":
    main()
