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
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from careerpath.atomic import atomic_dir
from careerpath.config import bundled_config, dataclass_from_yaml
from data_prep.catalog import Catalog, CatalogError, load_catalog
from data_prep.tagging_review import save_catalog_atomic
from data_prep.tagging_text import Encoder, HashingEncoder

DEFAULT_CONFIG = "data/clustering.yaml"  # bundled: careerpath.config.bundled_config
METHODS = ("kmeans", "hierarchical", "dbscan")


@dataclass
class ClusteringConfig:
    """Settings of ``careerpath data cluster`` (configs/data/clustering.yaml; flags override)."""

    skill_weight: float = 1.0
    """Weight of the IDF-weighted, unit-length skill multi-hot block."""
    prerequisite_weight: float = 0.5
    """Value of a prerequisite skill in the multi-hot (a taught skill is 1)."""
    text_weight: float = 0.7
    """Weight of the unit-length title + description embedding."""
    level_weight: float = 0.3
    """Weight of the level, scaled to [0, 1]."""
    encoder: str = "minilm"
    """``minilm`` (all-MiniLM-L6-v2), ``hashing`` (bag of words, no model) or ``none`` (no text)."""
    cache_dir: str = "outputs/cache/embeddings"
    """Embedding cache folder (shared with tagging); empty for none."""
    pca_dims: int = 8
    """Features are reduced to this many PCA dimensions before clustering (0 keeps them all)."""
    k_min: int = 2
    """Smallest k tried by K-Means and Ward."""
    k_max: int = 40
    """Largest k tried (capped at the number of courses - 1)."""
    min_samples: int = 4
    """DBSCAN core-point neighbourhood size; also the k of the k-distance curve."""
    max_noise: float = 0.25
    """DBSCAN is only chosen automatically when at most this share of courses is noise."""
    seed: int = 0
    """Random seed for K-Means and the PCA solver."""
    top_skills: int = 3
    """Skills named in each cluster's label."""


def load_clustering_config(path: str | Path | None = None, overrides: dict | None = None) -> ClusteringConfig:
    """Read a clustering config YAML (the default one when ``path`` is None); ``overrides`` win."""
    path = Path(path) if path else bundled_config(DEFAULT_CONFIG)
    cfg = dataclass_from_yaml(ClusteringConfig, path, overrides)
    if cfg.encoder not in ("minilm", "hashing", "none"):
        raise ValueError(f"{path}: encoder must be minilm, hashing or none, got {cfg.encoder!r}")
    if not 2 <= cfg.k_min <= cfg.k_max:
        raise ValueError(f"{path}: need 2 <= k_min <= k_max, got {cfg.k_min} and {cfg.k_max}")
    if cfg.min_samples < 2:
        raise ValueError(f"{path}: min_samples must be at least 2")
    return cfg


def make_encoder(cfg: ClusteringConfig) -> Encoder | None:
    if cfg.encoder == "none":
        return None
    if cfg.encoder == "hashing":
        return HashingEncoder()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from careerpath.embeddings import Embedder

    return Embedder(cache_dir=cfg.cache_dir or None)


# ---------------------------------------------------------------- features


def skill_matrix(catalog: Catalog, prerequisite_weight: float = 0.5) -> np.ndarray:
    """IDF-weighted multi-hot of taught skills (1) and prerequisites, unit rows: [courses, skills]."""
    col = {sid: j for j, sid in enumerate(catalog.skills)}
    m = np.zeros((len(catalog.courses), len(col)), np.float32)
    for i, c in enumerate(catalog.courses.values()):
        for sid in c.prerequisites:
            m[i, col[sid]] = prerequisite_weight
        for sid in c.skills:
            m[i, col[sid]] = 1.0
    df = (m > 0).sum(0)
    m *= np.log((1 + len(m)) / (1 + df)) + 1.0
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-9)


def course_features(catalog: Catalog, cfg: ClusteringConfig, encoder: Encoder | None) -> np.ndarray:
    """One row per course (catalog order): weighted skills | text embedding | level."""
    blocks = [cfg.skill_weight * skill_matrix(catalog, cfg.prerequisite_weight)]
    if encoder is not None and cfg.text_weight > 0:
        texts = [f"{c.title}. {c.description}".strip() for c in catalog.courses.values()]
        emb = np.asarray(encoder.embed(texts), np.float32)
        emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-9)
        blocks.append(cfg.text_weight * emb)
    levels = np.array([[(c.level - 1) / 4] for c in catalog.courses.values()], np.float32)
    blocks.append(cfg.level_weight * levels)
    return np.hstack(blocks)


def reduce(x: np.ndarray, dims: int, seed: int = 0) -> np.ndarray:
    from sklearn.decomposition import PCA

    if dims <= 0 or dims >= min(x.shape):
        return x
    return PCA(n_components=dims, random_state=seed).fit_transform(x)


# ---------------------------------------------------------------- methods


@dataclass
class Result:
    method: str
    labels: np.ndarray  # cluster per course, -1 = noise (DBSCAN)
    params: dict
    silhouette: float = float("nan")
    davies_bouldin: float = float("nan")
    noise_share: float = 0.0
    search: list | None = None  # (k, silhouette) per k tried


def _scores(x: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Silhouette and Davies-Bouldin on the clustered points (DBSCAN noise left out); NaN if < 2."""
    from sklearn.metrics import davies_bouldin_score, silhouette_score

    keep = labels >= 0
    n_clusters = len(set(labels[keep].tolist()))
    if n_clusters < 2 or n_clusters >= keep.sum():
        return float("nan"), float("nan")
    return (
        float(silhouette_score(x[keep], labels[keep])),
        float(davies_bouldin_score(x[keep], labels[keep])),
    )


def _k_range(n: int, cfg: ClusteringConfig) -> range:
    hi = min(cfg.k_max, n - 1)
    if hi < cfg.k_min:
        raise ValueError(f"{n} course(s) are too few to cluster; need at least {cfg.k_min + 1}")
    return range(cfg.k_min, hi + 1)


def run_kmeans(x: np.ndarray, cfg: ClusteringConfig) -> Result:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    search, best = [], None
    for k in _k_range(len(x), cfg):
        labels = KMeans(n_clusters=k, n_init=4, random_state=cfg.seed).fit_predict(x)
        s = float(silhouette_score(x, labels))
        search.append((k, round(s, 4)))
        if best is None or s > best[0] + 1e-12:
            best = (s, k, labels)
    _, k, labels = best
    return Result("kmeans", labels, {"k": k}, search=search)


def run_hierarchical(x: np.ndarray, cfg: ClusteringConfig) -> Result:
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.metrics import silhouette_score

    tree = linkage(x, method="ward")  # one tree, cut at every k
    search, best = [], None
    for k in _k_range(len(x), cfg):
        labels = fcluster(tree, t=k, criterion="maxclust") - 1
        if len(set(labels.tolist())) < 2:
            continue
        s = float(silhouette_score(x, labels))
        search.append((k, round(s, 4)))
        if best is None or s > best[0] + 1e-12:
            best = (s, k, labels)
    if best is None:
        raise ValueError("hierarchical clustering found fewer than 2 clusters; the courses are identical")
    _, k, labels = best
    return Result("hierarchical", np.asarray(labels), {"k": k, "linkage": "ward"}, search=search)


def knee(values: np.ndarray) -> int:
    """Index of the knee of an increasing curve: the point farthest below the chord (Kneedle)."""
    y = np.asarray(values, float)
    if len(y) < 3 or y[-1] == y[0]:
        return len(y) // 2
    t = np.linspace(0, 1, len(y))
    yn = (y - y[0]) / (y[-1] - y[0])
    return int(np.argmax(t - yn))


def k_distances(x: np.ndarray, k: int) -> np.ndarray:
    """Sorted distance from each point to its k-th nearest other point."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=min(k + 1, len(x))).fit(x)
    dist, _ = nn.kneighbors(x)
    return np.sort(dist[:, -1])


def run_dbscan(x: np.ndarray, cfg: ClusteringConfig) -> Result:
    from sklearn.cluster import DBSCAN

    kd = k_distances(x, cfg.min_samples)
    eps = float(kd[knee(kd)])
    if eps <= 0:
        eps = float(kd[kd > 0].min()) if (kd > 0).any() else 1e-6
    labels = DBSCAN(eps=eps, min_samples=cfg.min_samples).fit_predict(x)
    return Result("dbscan", labels, {"eps": round(eps, 4), "min_samples": cfg.min_samples})


RUNNERS = {"kmeans": run_kmeans, "hierarchical": run_hierarchical, "dbscan": run_dbscan}


def cluster_courses(catalog: Catalog, cfg: ClusteringConfig, encoder: Encoder | None, methods=METHODS):
    """Features, their 2-D projection and one :class:`Result` per method."""
    if len(catalog.courses) < 3:
        raise ValueError(f"{len(catalog.courses)} course(s) are too few to cluster; need at least 3")
    feats = course_features(catalog, cfg, encoder)
    x = reduce(feats, cfg.pca_dims, cfg.seed)
    results = {}
    for m in methods:
        r = RUNNERS[m](x, cfg)
        r.silhouette, r.davies_bouldin = _scores(x, r.labels)
        r.noise_share = float((r.labels < 0).mean())
        results[m] = r
    return x, results


def choose(results: dict[str, Result], cfg: ClusteringConfig, method: str | None = None) -> str:
    """``method`` if given, else the best silhouette among methods with noise at most ``max_noise``."""
    if method:
        if method not in results:
            raise ValueError(f"--choose {method}: that method was not run; run it with --method")
        return method
    ok = [
        r for r in results.values() if not math.isnan(r.silhouette) and r.noise_share <= cfg.max_noise + 1e-9
    ]
    if not ok:
        return next(iter(results))
    return max(ok, key=lambda r: r.silhouette).method


# ---------------------------------------------------------------- describing clusters


def describe(catalog: Catalog, labels: np.ndarray, top: int = 3) -> list[dict]:
    """Per cluster: id, size, label from its top skills, top skills and member course ids.

    A skill ranks by how many members teach it times how concentrated it is in this cluster
    (share inside / share overall), so "Communication" does not label every cluster.
    """
    ids = list(catalog.courses)
    overall = Counter(s for c in catalog.courses.values() for s in c.skills)
    n = len(ids)
    out = []
    for cl in sorted(set(labels.tolist())):
        members = [ids[i] for i in np.flatnonzero(labels == cl)]
        counts = Counter(s for cid in members for s in catalog.courses[cid].skills)
        score = {s: k * (k / len(members)) / (overall[s] / n) for s, k in counts.items()}
        best = sorted(score, key=lambda s: (-score[s], -counts[s], s))[:top]
        names = [catalog.skills[s].name for s in best]
        out.append(
            {
                "id": int(cl),
                "size": len(members),
                "label": "noise" if cl < 0 else " / ".join(names),
                "top_skills": best,
                "courses": members,
            }
        )
    return out


def plot_projection(x: np.ndarray, labels: np.ndarray, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    xy = PCA(n_components=2, random_state=0).fit_transform(x) if x.shape[1] > 2 else x
    fig, ax = plt.subplots(figsize=(7, 5.5), dpi=110)
    noise = labels < 0
    if noise.any():
        ax.scatter(xy[noise, 0], xy[noise, 1], s=10, c="lightgrey", label="noise")
    ax.scatter(xy[~noise, 0], xy[~noise, 1], s=14, c=labels[~noise], cmap="tab20", alpha=0.85)
    ax.set_title(title)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    if noise.any():
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def summary_row(r: Result) -> dict:
    sizes = sorted(Counter(r.labels[r.labels >= 0].tolist()).values())
    return {
        "method": r.method,
        "n_clusters": len(sizes),
        "silhouette": None if math.isnan(r.silhouette) else round(r.silhouette, 3),
        "davies_bouldin": None if math.isnan(r.davies_bouldin) else round(r.davies_bouldin, 3),
        "size_min": sizes[0] if sizes else 0,
        "size_median": float(np.median(sizes)) if sizes else 0,
        "size_max": sizes[-1] if sizes else 0,
        "noise_share": round(r.noise_share, 3),
        "params": r.params,
    }


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def markdown_table(rows: list[dict], chosen: str | None = None) -> str:
    lines = [
        "| method | clusters | silhouette | Davies-Bouldin | sizes (min / median / max) | noise | parameters |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
        mark = " (chosen)" if r["method"] == chosen else ""
        lines.append(
            f"| {r['method']}{mark} | {r['n_clusters']} | {_fmt(r['silhouette'])} | "
            f"{_fmt(r['davies_bouldin'])} | {r['size_min']} / {r['size_median']:g} / {r['size_max']} | "
            f"{r['noise_share']:.1%} | {params} |"
        )
    return "\n".join(lines)


def write_report(out: Path, catalog: Catalog, cfg, results, chosen, described, rows) -> None:
    text = [
        "# Course clusters",
        "",
        f"Catalog: `{catalog.source}` ({len(catalog.courses)} courses). Features: skills "
        f"x{cfg.skill_weight} (IDF multi-hot, prerequisites {cfg.prerequisite_weight}), text "
        f"x{cfg.text_weight} ({cfg.encoder}), level x{cfg.level_weight}; PCA to {cfg.pca_dims} dims.",
        "Silhouette: higher is better (max 1); Davies-Bouldin: lower is better. DBSCAN scores leave "
        "noise out.",
        "",
        markdown_table(rows, chosen),
        "",
        f"Chosen: **{chosen}**.",
        "",
    ]
    for m, r in results.items():
        text += [f"## {m}", "", f"![{m}](projection_{m}.png)", ""]
        if r.search:
            text.append("k searched (silhouette): " + ", ".join(f"{k}: {s:.3f}" for k, s in r.search))
            text.append("")
        text += ["| cluster | size | label (top skills) | example courses |", "|---|---|---|---|"]
        for d in sorted(described[m], key=lambda d: -d["size"]):
            examples = ", ".join(catalog.courses[c].title for c in d["courses"][:3])
            text.append(f"| {d['id']} | {d['size']} | {d['label']} | {examples} |")
        text.append("")
    (out / "report.md").write_text("\n".join(text), encoding="utf-8")


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


# ---------------------------------------------------------------- using clusters


def _skill_set(c) -> set[str]:
    return set(c.skills) | {f"pre:{p}" for p in c.prerequisites}


def similar_courses(catalog: Catalog, course_id: str, k: int = 5) -> list[str]:
    """Up to ``k`` course ids like ``course_id``: same cluster first, then by skill overlap.

    Within each group courses rank by Jaccard overlap of taught skills and prerequisites, then by
    closeness of level, then by title. Without clusters (``cluster == -1``) it is skill overlap
    over the whole catalog.
    """
    if course_id not in catalog.courses:
        raise KeyError(f"unknown course {course_id!r}; use an id from courses")
    me = catalog.courses[course_id]
    mine = _skill_set(me)

    def key(c):
        theirs = _skill_set(c)
        jac = len(mine & theirs) / max(len(mine | theirs), 1)
        same = me.cluster >= 0 and c.cluster == me.cluster
        return (not same, -jac, abs(c.level - me.level), c.title)

    others = [c for c in catalog.courses.values() if c.id != course_id]
    return [c.id for c in sorted(others, key=key)[: max(k, 0)]]


def diversify(ranked_ids: list[str], cluster_of: dict[str, int], k: int) -> list[str]:
    """Top ``k`` of ``ranked_ids`` with at most ``ceil(k / n)`` from any one cluster, n clusters present.

    Greedy in rank order: an item is taken while its cluster is under the cap; if that leaves
    fewer than ``k``, the skipped items fill the rest in rank order. Items without a cluster
    (missing or -1) each count as their own cluster. ``n`` is the number of distinct clusters
    among all of ``ranked_ids`` (at most ``k``), so a list from one cluster comes back unchanged.
    """
    if k <= 0:
        return []
    ranked = list(dict.fromkeys(ranked_ids))

    def group(i: str):
        c = cluster_of.get(i, -1)
        return c if c is not None and c >= 0 else ("own", i)

    n = min(k, len({group(i) for i in ranked})) or 1
    cap = math.ceil(k / n)
    taken, skipped, per = [], [], Counter()
    for i in ranked:
        if len(taken) == k:
            break
        g = group(i)
        if per[g] < cap:
            taken.append(i)
            per[g] += 1
        else:
            skipped.append(i)
    return taken + skipped[: k - len(taken)]


# ---------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    from careerpath.cli_common import ArgumentParser, HelpFormatter, add_json_flag

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
    from careerpath.cli_common import require_path, take_overrides

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
        from careerpath.cli_common import print_json

        print_json({"out": str(out), "chosen": res["chosen"], "rows": res["rows"], "catalog": cat_out})
        return 0
    print(markdown_table(res["rows"], res["chosen"]))
    print(f"chosen: {res['chosen']}; report: {out / 'report.md'}")
    if cat_out is not None:
        print(f"catalog with clusters: {cat_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
