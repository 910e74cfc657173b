"""Course clustering on a catalog: the side-by-side table of K-Means, Ward and DBSCAN.

    python benchmarks/clustering.py                    # bundled catalog, outputs/clusters
    python benchmarks/clustering.py --catalog DIR --out DIR

Runs the same code as `careerpath data cluster --method all --out DIR` (report.md, clusters.json
and one PNG per method land in --out) and prints the table with the time taken.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from careerpath.core.catalog import load_catalog  # noqa: E402
from careerpath.curation.clustering import load_clustering_config, make_encoder, markdown_table, run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--catalog", help="catalog folder (default: the bundled catalog)")
    ap.add_argument("--config", help="clustering YAML (default: configs/data/clustering.yaml)")
    ap.add_argument("--out", default="outputs/clusters", help="where report.md and the PNGs go")
    args = ap.parse_args()
    cfg = load_clustering_config(args.config)
    catalog = load_catalog(args.catalog)
    start = time.perf_counter()
    res = run(catalog, cfg, Path(args.out), encoder=make_encoder(cfg))
    secs = time.perf_counter() - start
    print(
        f"catalog: {catalog.source} ({len(catalog.courses)} courses); features: skills x{cfg.skill_weight}, "
        f"text x{cfg.text_weight} ({cfg.encoder}), level x{cfg.level_weight}; PCA {cfg.pca_dims} dims\n"
    )
    print(markdown_table(res["rows"], res["chosen"]))
    print(f"\nchosen: {res['chosen']}; report: {Path(args.out) / 'report.md'}; time: {secs:.1f} s")


if __name__ == "__main__":
    main()
