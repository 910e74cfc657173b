"""Generalisation on real occupations: does the model rank O*NET related occupations it never saw?

    python benchmarks/generalisation.py [--onet ../shared/data/onet_29_3] [--out outputs/bench_generalisation]
                                        [--users 1200] [--epochs 2] [--holdout 0.2] [--seed 0]

1. Import the O*NET release (``careerpath data import-onet`` rules, configs/data/onet_import.yaml).
2. Hold out ``--holdout`` (20%) of the Related Occupations pairs, seeded. A pair is unordered: when
   A lists B and B lists A, both directions leave the graph together, so the model never sees the
   reverse move either.
3. Build the synthetic dataset (configs/data/onet.yaml, ``--users`` users) on the catalog without the
   held-out pairs, and train the tiny T5 (configs/tiny_t5.yaml, ``--epochs`` epochs, 2 CPU threads).
4. For every source occupation A with held-out pairs, score every job as A's next job with the
   model's full-catalog scorer (:class:`careerpath.model.scoring.CatalogScorer`) on the profile "job A,
   history A, A's skills, no courses, no goal", and rank the held-out related occupations B.
   Filtered ranking: A itself and A's related occupations kept in training are removed from the
   candidates. Baseline: cosine similarity of A's and B's importance-weighted skill vectors. Also
   shown: the expected score of a random ranking.

Prints Hit@1, Hit@10 and MRR of the model and the baselines over all held-out directed pairs.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from careerpath.core.catalog import Catalog, load_catalog  # noqa: E402
from careerpath.importers.onet import (  # noqa: E402
    OnetImportConfig,
    import_onet,
    load_import_config,
    write_catalog_atomically,
)


def split_pairs(catalog: Catalog, holdout: float, seed: int):
    """(kept transitions, held-out directed pairs): unordered pairs held out together."""
    unordered = sorted({tuple(sorted((t.from_job, t.to_job))) for t in catalog.transitions})
    rng = random.Random(seed)
    held = set(rng.sample(unordered, int(round(holdout * len(unordered)))))
    kept = [t for t in catalog.transitions if tuple(sorted((t.from_job, t.to_job))) not in held]
    held_directed = [
        (t.from_job, t.to_job) for t in catalog.transitions if tuple(sorted((t.from_job, t.to_job))) in held
    ]
    return kept, held_directed, len(unordered)


def rank_metrics(scores: dict[str, np.ndarray], pairs, job_index, exclude) -> dict[str, float]:
    """Hit@1, Hit@10 and MRR of the held-out targets under ``scores[source]`` (filtered ranking)."""
    ranks = []
    for a, b in pairs:
        s = scores[a].copy()
        s[[job_index[j] for j in exclude[a] | {a}]] = -np.inf
        target = s[job_index[b]]
        # ties count half: rank = 1 + (#better) + (#equal others) / 2
        better = int((s > target).sum())
        equal = int((s == target).sum()) - 1
        ranks.append(1 + better + equal / 2)
    r = np.array(ranks)
    return {
        "hit@1": float((r <= 1).mean()),
        "hit@10": float((r <= 10).mean()),
        "mrr": float((1 / r).mean()),
        "median_rank": float(np.median(r)),
    }


def skill_cosine(catalog: Catalog) -> np.ndarray:
    skill_pos = {s: i for i, s in enumerate(catalog.skills)}
    m = np.zeros((len(catalog.jobs), len(skill_pos)))
    for i, j in enumerate(catalog.jobs.values()):
        for s, w in j.skills.items():
            m[i, skill_pos[s]] = w
    m /= np.linalg.norm(m, axis=1, keepdims=True) + 1e-12
    return m @ m.T


def model_scores(
    model_dir: Path, catalog: Catalog, sources: list[str], batch: int = 32
) -> dict[str, np.ndarray]:
    import torch

    from careerpath.core.context import add_context, retriever_for
    from careerpath.core.textformat import Profile, serialise_input
    from careerpath.model.modeling import load_for_inference
    from careerpath.model.scoring import CatalogScorer

    torch.set_num_threads(2)
    model, tok, kind = load_for_inference(model_dir)
    # the model ranks the catalog it was trained on (model_dir/catalog, as the recommender does: its
    # course names are the model's tokens); the scores are then read in ``catalog``'s job order
    own = load_catalog(model_dir / "catalog") if (model_dir / "catalog").is_dir() else catalog
    order = [list(own.jobs).index(j) for j in catalog.jobs]
    catalog = own
    context = retriever_for(model_dir, catalog)  # inputs as the model was trained on (context.json)
    from careerpath.model.job_prior import load_job_prior
    from careerpath.model.prior import load_prior

    prior = load_prior(model_dir, catalog, context)  # the model's priors, when it has them
    job_prior = load_job_prior(model_dir, catalog, context) if prior is not None else None
    scorer = CatalogScorer(
        model, tok, catalog, kind=kind, max_source_length=256, prior=prior, job_prior=job_prior
    )
    out = {}
    for i in range(0, len(sources), batch):
        chunk = sources[i : i + batch]
        texts, skills = [], []
        for a in chunk:
            job = catalog.jobs[a]
            ids = [s for s in catalog.skills if s in job.skills]
            profile = Profile("", job.title, [job.title], catalog.skill_names(ids), [])
            if context is not None:  # no goal: no next step and no candidate courses
                add_context(profile, context.context(a, "", ids), catalog)
            texts.append(serialise_input(profile))
            skills.append(ids)
        _, job_lp = scorer.score(texts, skills)
        for a, row in zip(chunk, job_lp):
            out[a] = row[:-1][order]  # drop "stay"; the benchmark catalog's job order
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onet", default=str(ROOT.parent / "shared" / "data" / "onet_29_3"))
    ap.add_argument("--out", default="outputs/bench_generalisation")
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--users", type=int, default=1200, help="synthetic users (default 1200)")
    ap.add_argument("--epochs", type=int, default=2, help="training epochs (default 2)")
    ap.add_argument(
        "--train-args",
        default="",
        help='more train.py flags for the model, e.g. "--course_prior never --tie_embeddings true"',
    )
    ap.add_argument("--max-steps", type=int, default=0, help="stop training after N steps (0: all epochs)")
    ap.add_argument("--reuse", action="store_true", help="reuse the dataset and model in --out when present")
    args = ap.parse_args()
    out = Path(args.out)
    t0 = time.time()
    timings = {}

    cfg = load_import_config(OnetImportConfig, ROOT / "configs" / "data" / "onet_import.yaml")
    full, _ = import_onet(args.onet, cfg)
    kept, held, n_pairs = split_pairs(full, args.holdout, args.seed)
    train_cat = Catalog(full.skills, full.courses, full.jobs, kept, [], "onet-train")
    write_catalog_atomically(train_cat, out / "catalog_train")
    train_cat = load_catalog(out / "catalog_train")
    timings["import"] = time.time() - t0

    data_dir, model_dir = out / "data", out / "model"
    if not (args.reuse and (data_dir / "stats.json").exists()):
        from careerpath.data.build import build_dataset, load_data_config

        dcfg = load_data_config(
            ROOT / "configs" / "data" / "onet.yaml",
            {"catalog": str(out / "catalog_train"), "users": args.users},
        )
        build_dataset(dcfg, data_dir, progress=False)
    timings["data_build"] = time.time() - t0 - sum(timings.values())
    if not (args.reuse and (model_dir / "config.json").exists()):
        from careerpath.core.config import load_config
        from careerpath.training import training

        tcfg = load_config(
            [
                "--config",
                str(ROOT / "configs" / "tiny_t5.yaml"),
                "--data.data-dir",
                str(data_dir),
                "--train.output-dir",
                str(model_dir),
                "--train.epochs",
                str(args.epochs),
                "--train.max-steps",
                str(args.max_steps),
                "--train.num-threads",
                "2",
                "--data.max-eval-examples",
                "200",
                *args.train_args.split(),
            ]
        )
        training.run_training(tcfg)
    timings["train"] = time.time() - t0 - sum(timings.values())

    exclude = {j: set() for j in train_cat.jobs}
    for t in kept:
        exclude[t.from_job].add(t.to_job)
    sources = sorted({a for a, _ in held})
    job_ids = list(train_cat.jobs)
    job_index = {j: i for i, j in enumerate(job_ids)}
    cos = skill_cosine(train_cat)
    methods = {
        "model (tiny T5, full-catalog scorer)": model_scores(model_dir, train_cat, sources),
        "skill similarity (cosine of skill vectors)": {a: cos[job_index[a]] for a in sources},
    }
    timings["score"] = time.time() - t0 - sum(timings.values())
    results = {name: rank_metrics(s, held, job_index, exclude) for name, s in methods.items()}
    n_cand = np.mean([len(job_ids) - 1 - len(exclude[a]) for a, _ in held])
    results["random ranking (expected)"] = {
        "hit@1": 1 / n_cand,
        "hit@10": 10 / n_cand,
        "mrr": float(np.mean([np.mean(1 / np.arange(1, len(job_ids) - len(exclude[a]))) for a, _ in held])),
        "median_rank": (n_cand + 1) / 2,
    }
    stats = json.loads((data_dir / "stats.json").read_text())
    summary = {
        "pairs_unordered": n_pairs,
        "held_out_directed": len(held),
        "sources": len(sources),
        "mean_candidates": float(n_cand),
        "users": stats["users"],
        "train_examples": stats["examples"]["train"],
        "epochs": args.epochs,
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "results": results,
    }
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"O*NET related-occupation pairs: {n_pairs} unordered; held out {len(held)} directed pairs "
        f"({args.holdout:.0%}, seed {args.seed}) from {len(sources)} source occupations; "
        f"~{n_cand:.0f} candidates each (filtered)"
    )
    print(
        f"trained on {stats['examples']['train']} examples from {stats['users']} users, {args.epochs} epoch(s)"
        f"{f' capped at {args.max_steps} steps' if args.max_steps else ''}; "
        f"time {summary['timings_s']}, peak RSS {summary['peak_rss_mb']} MB\n"
    )
    print("| method | Hit@1 | Hit@10 | MRR | median rank |\n|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['hit@1']:.3f} | {r['hit@10']:.3f} | {r['mrr']:.3f} | {r['median_rank']:.0f} |")


if __name__ == "__main__":
    main()
