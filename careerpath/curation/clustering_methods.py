"""Course clustering: its config, the course feature rows and the three methods.

:class:`ClusteringConfig` (configs/data/clustering.yaml), :func:`course_features` (skills, text,
level; PCA-reduced), :func:`run_kmeans`, :func:`run_hierarchical` and :func:`run_dbscan` (each
picking its own k or eps), :func:`cluster_courses` running them and :func:`choose` picking one.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from careerpath.core.catalog_model import Catalog
from careerpath.core.config import bundled_config, dataclass_from_yaml
from careerpath.curation.tagging import Encoder, HashingEncoder

DEFAULT_CONFIG = "data/clustering.yaml"  # bundled: careerpath.core.config.bundled_config
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
    """The text encoder ``cfg.encoder`` names (None for ``none``)."""
    if cfg.encoder == "none":
        return None
    if cfg.encoder == "hashing":
        return HashingEncoder()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from careerpath.core.embeddings import Embedder  # imports torch (and the Hub, offline): only for minilm

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
