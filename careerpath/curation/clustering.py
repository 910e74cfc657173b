"""Course clustering: K-Means, agglomerative (Ward) and DBSCAN over skills, text and level.

``careerpath data cluster --catalog DIR --method all --out DIR`` builds one feature row per course:

* skills: multi-hot over the taxonomy, taught skills 1.0 and prerequisites 0.5, each column scaled
  by its inverse document frequency (a skill every course has says little), row L2-normalised,
  times ``skill_weight``;
* text: the all-MiniLM-L6-v2 embedding of title + description (unit length), times ``text_weight``;
* level: (level - 1) / 4 in [0, 1], times ``level_weight``;

then reduces them with PCA to ``pca_dims`` dimensions (distances in 750 sparse dimensions are
mostly noise for DBSCAN). K-Means and Ward pick k by silhouette over ``k_min..k_max``; DBSCAN
takes eps at the knee of the sorted distance to each point's ``min_samples``-th neighbour. Each
method reports silhouette, Davies-Bouldin, sizes, noise share and a label per cluster from its
top skills; ``report.md`` puts them side by side, ``clusters.json`` holds everything, and
``projection_<method>.png`` draws a 2-D PCA of the features. The chosen clustering (best
silhouette with noise at most ``max_noise``, or ``--choose``) can be written into a catalog copy.

The config, features and methods are in :mod:`careerpath.curation.clustering_methods`, what is written about
each clustering in :mod:`careerpath.curation.clustering_report`, and how the demo and the recommender use
clusters in :mod:`careerpath.curation.clustering_use`; this module runs them (:func:`run`, the command line).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from careerpath.core.atomic import atomic_dir
from careerpath.core.catalog_model import Catalog, CatalogError
from careerpath.core.catalog_reader import load_catalog
from careerpath.core.cli_common import (
    ArgumentParser,
    HelpFormatter,
    add_json_flag,
    print_json,
    require_path,
    take_overrides,
)
from careerpath.curation.clustering_methods import (
    DEFAULT_CONFIG,
    METHODS,
    ClusteringConfig,
    choose,
    cluster_courses,
    knee,
    load_clustering_config,
    make_encoder,
    run_dbscan,
    run_hierarchical,
    run_kmeans,
    skill_matrix,
)
from careerpath.curation.clustering_report import (
    describe,
    markdown_table,
    plot_projection,
    summary_row,
    write_report,
)
from careerpath.curation.clustering_use import diversify, similar_courses
from careerpath.curation.tagging_review import save_catalog_atomic
from careerpath.curation.tagging_text import Encoder

__all__ = [
    "ClusteringConfig",
    "describe",
    "diversify",
    "knee",
    "load_clustering_config",
    "main",
    "make_encoder",
    "markdown_table",
    "run",
    "run_dbscan",
    "run_hierarchical",
    "run_kmeans",
    "similar_courses",
    "skill_matrix",
    "with_clusters",
]


def with_clusters(catalog: Catalog, labels: np.ndarray) -> Catalog:
    """A catalog copy whose courses carry ``cluster`` (-1 for noise)."""
    courses = {cid: replace(c, cluster=int(labels[i])) for i, (cid, c) in enumerate(catalog.courses.items())}
    return Catalog(catalog.skills, courses, catalog.jobs, catalog.transitions, catalog.merges, catalog.source)


def run(
    catalog: Catalog,
    cfg: ClusteringConfig,
    out: Path,
    methods=METHODS,
    encoder: Encoder | None = None,
    choose_method: str | None = None,
    catalog_out: Path | None = None,
) -> dict:
    """Cluster, then write report.md, clusters.json and the PNGs into ``out`` (atomically)."""
    x, results = cluster_courses(catalog, cfg, encoder, methods)
    chosen = choose(results, cfg, choose_method)
    described = {m: describe(catalog, r.labels, cfg.top_skills) for m, r in results.items()}
    rows = [summary_row(r) for r in results.values()]
    out = Path(out)
    # into an existing folder file by file (each swapped in one rename): other files there stay
    with atomic_dir(out, merge=True) as tmp:
        for (m, r), row in zip(results.items(), rows):
            plot_projection(x, r.labels, f"{m}: {row['n_clusters']} clusters", tmp / f"projection_{m}.png")
        write_report(tmp, catalog, cfg, results, chosen, described, rows)
        data = {
            "catalog": catalog.source,
            "config": asdict(cfg),
            "chosen": chosen,
            "methods": {
                m: {
                    **summary_row(r),
                    "search": r.search,
                    "clusters": described[m],
                    "assignment": {cid: int(r.labels[i]) for i, cid in enumerate(catalog.courses)},
                }
                for m, r in results.items()
            },
        }
        (tmp / "clusters.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    if catalog_out is not None:
        save_catalog_atomic(with_clusters(catalog, results[chosen].labels), Path(catalog_out))
    return {"chosen": chosen, "rows": rows}


# ---------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    ap = ArgumentParser(
        prog="careerpath data cluster",
        description="cluster courses; any key of the clustering config is a flag too (e.g. --k-min 3)",
        formatter_class=HelpFormatter,
    )
    ap.add_argument("--catalog", help="catalog folder (default: the bundled catalog)")
    ap.add_argument("--method", choices=(*METHODS, "all"), default="all", help="which method(s) to run")
    ap.add_argument("--out", required=True, help="folder for report.md, clusters.json and PNGs")
    ap.add_argument("--config", help=f"clustering YAML (default: the bundled configs/{DEFAULT_CONFIG})")
    ap.add_argument("--choose", choices=METHODS, help="clustering to write back (default: best silhouette)")
    ap.add_argument(
        "--write-catalog",
        nargs="?",
        const="",
        metavar="DIR",
        help="write a catalog copy with a cluster column per course (default DIR: OUT/catalog)",
    )
    ap.add_argument("--encoder", choices=("minilm", "hashing", "none"), help="text encoder")
    ap.add_argument("--k-max", type=int, help="largest k tried by kmeans and hierarchical")
    ap.add_argument("--min-samples", type=int, help="DBSCAN min_samples")
    ap.add_argument("--cache-dir", help="embedding cache folder")
    add_json_flag(ap)
    return ap


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    rest, overrides = take_overrides(parser, list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(rest)
    try:
        if args.config is not None:  # inputs before anything is written (the catalog: load_catalog)
            require_path(args.config, "--config", "file", hint="give a clustering YAML")
        cfg = load_clustering_config(
            args.config,
            {
                **overrides,
                "encoder": args.encoder,
                "k_max": args.k_max,
                "min_samples": args.min_samples,
                "cache_dir": args.cache_dir,
            },
        )
        catalog = load_catalog(args.catalog)
        methods = METHODS if args.method == "all" else (args.method,)
        if args.choose and args.choose not in methods:
            raise ValueError(f"--choose {args.choose} needs --method {args.choose} or all")
        out = Path(args.out)
        cat_out = None
        if args.write_catalog is not None:
            cat_out = Path(args.write_catalog) if args.write_catalog else out / "catalog"
        res = run(catalog, cfg, out, methods, make_encoder(cfg), args.choose, cat_out)
    except (CatalogError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print_json({"out": str(out), "chosen": res["chosen"], "rows": res["rows"], "catalog": cat_out})
        return 0
    print(markdown_table(res["rows"], res["chosen"]))
    print(f"chosen: {res['chosen']}; report: {out / 'report.md'}")
    if cat_out is not None:
        print(f"catalog with clusters: {cat_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
