"""Next-job suggestions for real occupations against observed US mobility (CPS-ASEC).

    python benchmarks/mobility.py                      # ../shared/data/{mobility,onet_29_3}
    python benchmarks/mobility.py --no-embeddings      # without the MiniLM title feature
    python benchmarks/mobility.py --mobility DIR --onet DIR --folds 5 --l2 0.01

For every given source group with at least 5 observed destinations: Recall@10, Recall@5, Hit@10
of the most common destination and MRR (the mobility README's definitions, staying excluded) of
O*NET Related Occupations, skill similarity, employment popularity, careerpath's progression
graph on the plain O*NET catalog and on the catalog ``import-onet --mobility`` writes (each source's
moves from the fold that never saw it), the transition model under grouped cross-validation by source
(a source's outflows never train the model or the flow features that score it), the model from
O*NET features alone (same CV), and the observed flows themselves (the ceiling). Prints the
table and the fitted weights; writes benchmarks/results/mobility.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from careerpath.importers import mobility as mb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAREERPATH_SHARED_DATA") or ROOT.parent / "shared" / "data")
RESULTS = ROOT / "benchmarks" / "results" / "mobility.json"


def matrix_rankings(data: mb.TransitionData, scores: np.ndarray, sources) -> dict[str, list[str]]:
    """Groups by descending score (ties: file order)."""
    groups = data.mob.groups
    return {s: [groups[j] for j in np.argsort(-scores[data.pos[s]], kind="stable")[:50]] for s in sources}


def progression_rankings(data: mb.TransitionData, catalog, sources) -> dict[str, list[str]]:
    """careerpath's progression graph on a catalog (10 next jobs per job), merged over a group's codes."""
    from careerpath.core.progression import Progression

    prog = Progression(catalog, n_next=10)
    out = {}
    for s in sources:
        moves = [
            (score, b) for c in data.prof.codes[s] if c in prog.next_jobs for b, score in prog.next_jobs[c]
        ]
        out[s] = [data.mob.group_of(b) for _, b in sorted(moves, key=lambda x: (-x[0], x[1]))]
    return out


def held_out_catalog(fitted: mb.Fitted, catalog):
    """The catalog import-onet --mobility writes, with every given source's moves from the CV fold that
    never saw it (so the progression graph on it can be scored on those sources)."""
    from careerpath.core.catalog import Catalog

    held = replace(fitted, smoothed=fitted.cv["probs"])
    moves, _ = mb.catalog_transitions(held, catalog.jobs)
    return Catalog(catalog.skills, catalog.courses, catalog.jobs, moves)


def model_rankings(data: mb.TransitionData, catalog, sources, work: Path, users: int, epochs: int) -> dict:
    """careerpath's tiny T5 with its priors, trained on ``catalog`` (the held-out --mobility
    catalog): each source group's codes as job-only profiles ("job A, its skills, no goal", in
    distribution: 10% of synthetic people are job-only), job scores merged over the group's codes
    (best score), ranked as groups."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from generalisation import model_scores

    from careerpath.core.catalog import load_catalog
    from careerpath.core.config import load_config
    from careerpath.data.build import build_dataset, load_data_config
    from careerpath.importers.onet import write_catalog_atomically
    from careerpath.training import training

    write_catalog_atomically(catalog, work / "catalog")
    catalog = load_catalog(work / "catalog")
    cfg = load_data_config(
        ROOT / "configs" / "data" / "onet.yaml", {"catalog": str(work / "catalog"), "users": users}
    )
    build_dataset(cfg, work / "data", progress=False)
    argv = ["--config", str(ROOT / "configs" / "tiny_t5.yaml"), "--data.data-dir", str(work / "data")]
    argv += ["--train.output-dir", str(work / "model"), "--train.epochs", str(epochs)]
    training.run_training(load_config(argv))
    codes = sorted({c for s in sources for c in data.prof.codes[s] if c in catalog.jobs})
    scores = model_scores(work / "model", catalog, codes)
    job_ids = list(catalog.jobs)
    out = {}
    for s in sources:
        best: dict[str, float] = {}
        for c in data.prof.codes[s]:
            if c not in scores:
                continue
            for j, v in zip(job_ids, scores[c], strict=True):
                if j != c and v > best.get(j, -np.inf):
                    best[j] = float(v)
        out[s] = [data.mob.group_of(j) for j, _ in sorted(best.items(), key=lambda x: (-x[1], x[0]))]
    return out


def paired_difference(
    a: dict[str, list[str]], b: dict[str, list[str]], mob, sources, metric: str = "recall@10"
) -> dict[str, float]:
    """Mean of ``metric`` for ranking ``a`` minus ranking ``b`` over the same sources, with a 95%
    bootstrap interval that resamples sources (careerpath.core.metrics.clustered_bootstrap_ci, seed 0)."""
    from careerpath.core.metrics import clustered_bootstrap_ci

    sources = list(sources)
    d = [
        mb.score_ranking(a.get(s, []), mob.leavers(s), s)[metric]
        - mb.score_ranking(b.get(s, []), mob.leavers(s), s)[metric]
        for s in sources
    ]
    return clustered_bootstrap_ci(np.array(d), sources)


def table(rows: dict[str, dict]) -> str:
    head = "| method | Recall@10 | Recall@5 | Hit@10 | MRR |\n|---|---|---|---|---|"
    body = [
        f"| {name} | {m['recall@10']:.3f} | {m['recall@5']:.3f} | {m['hit@10']:.3f} | {m['mrr']:.3f} |"
        for name, m in rows.items()
    ]
    return "\n".join([head, *body])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mobility", default=str(SHARED / "mobility"), help="the mobility folder")
    ap.add_argument("--onet", default=str(SHARED / "onet_29_3"), help="the O*NET release folder or zip")
    ap.add_argument("--folds", type=int, default=5, help="grouped cross-validation folds (by source)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the fold assignment")
    ap.add_argument("--l2", type=float, default=1e-2, help="L2 penalty of the conditional logit")
    ap.add_argument("--no-embeddings", action="store_true", help="leave out the MiniLM title feature")
    ap.add_argument("--no-progression", action="store_true", help="skip the progression graph (an import)")
    ap.add_argument("--out", default=str(RESULTS), help="JSON of the results")
    ap.add_argument(
        "--train-model",
        metavar="DIR",
        default=None,
        help="also build, train and score careerpath's model on the held-out --mobility catalog in DIR (minutes)",
    )
    ap.add_argument(
        "--users", type=int, default=1200, help="synthetic users for --train-model (default: %(default)s)"
    )
    ap.add_argument(
        "--epochs", type=int, default=2, help="training epochs for --train-model (default: %(default)s)"
    )
    args = ap.parse_args()
    start = time.perf_counter()
    mob = mb.load_mobility(args.mobility)
    tables = mb.read_onet_tables(args.onet)
    data = mb.prepare(mob, tables, embeddings=not args.no_embeddings)
    scored = mob.scored_sources()
    f = {name: i for i, name in enumerate(mb.STATIC_FEATURES)}
    rankings = {
        "O*NET Related Occupations": mb.related_rankings(data.prof, scored),
        "skill similarity (Skills + Knowledge)": matrix_rankings(data, data.similarity, scored),
        "popularity (employment)": matrix_rankings(
            data, data.static[..., f["log_target_employment"]], scored
        ),
    }
    fitted = mb.fit_transitions(data, args.l2, args.folds, args.seed)
    if not args.no_progression:
        from careerpath.importers.onet import import_onet

        catalog, _ = import_onet(args.onet)
        rankings["progression graph, plain O*NET catalog"] = progression_rankings(data, catalog, scored)
        held = held_out_catalog(fitted, catalog)
        rankings["progression graph, --mobility catalog (CV)"] = progression_rankings(data, held, scored)
        if args.train_model:
            rankings["careerpath model, job-only profiles, --mobility catalog (CV)"] = model_rankings(
                data, held, scored, Path(args.train_model), args.users, args.epochs
            )
    onet_only = mb.TransitionData(mob, data.prof, data.static, mb.STATIC_FEATURES)
    onet_cv = mb.cross_validate(onet_only, args.folds, args.l2, args.seed)
    rankings["transition model, O*NET features only (CV)"] = onet_cv["rankings"]
    rankings["transition model (CV)"] = fitted.cv["rankings"]
    rankings["observed flows (ceiling)"] = matrix_rankings(data, mb.leaver_matrix(mob, scored), scored)
    results = {name: mb.mean_scores(r, mob, scored) for name, r in rankings.items()}
    secs = time.perf_counter() - start
    related = results["O*NET Related Occupations"]["recall@10"]
    model = results["transition model (CV)"]
    summary = {
        "command": " ".join(["python benchmarks/mobility.py", *sys.argv[1:]]),
        "sources_scored": len(scored),
        "folds": args.folds,
        "seed": args.seed,
        "l2": args.l2,
        "embeddings": not args.no_embeddings,
        "results": results,
        "recall10_vs_related": round(model["recall@10"] / related, 3),
        "weights": fitted.model.as_dict(),
        "fold_weights_sd": fitted.cv["fold_weights_sd"],
        "smoothing_strength": fitted.model.strength,
        "smoothing_loglik_per_mover": {str(k): round(v, 5) for k, v in fitted.cv["strength_loglik"].items()},
        "seconds": round(secs, 1),
        "attribution": mb.ATTRIBUTION,
    }
    model_key = "careerpath model, job-only profiles, --mobility catalog (CV)"
    if model_key in rankings:  # the model against the graph it was trained on, source by source
        summary["model_minus_progression"] = {
            m: paired_difference(
                rankings[model_key], rankings["progression graph, --mobility catalog (CV)"], mob, scored, m
            )
            for m in ("recall@10", "mrr")
        }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"{len(scored)} given sources with >= {mb.MIN_DESTINATIONS} destinations; {args.folds}-fold CV by source\n"
    )
    print(table(results))
    print(f"\ntransition model Recall@10 / Related Occupations: {summary['recall10_vs_related']:.2f}x")
    for m, d in summary.get("model_minus_progression", {}).items():
        print(
            f"model - progression graph, {m}: {d['mean']:+.4f} [{d['lo']:+.4f}, {d['hi']:+.4f}] (sources resampled)"
        )
    print("weights (per standard deviation of the feature):")
    for name, w in fitted.model.as_dict().items():
        print(f"  {name:24s} {w:+.3f}")
    print(
        f"smoothing strength (estimated movers): {fitted.model.strength}; time {secs:.0f} s; wrote {args.out}"
    )


if __name__ == "__main__":
    main()
