"""Describing course clusters: labels from top skills, the 2-D projection plot, the report table.

What ``careerpath data cluster`` writes about each method's clusters: :func:`describe` (size, label,
top skills, members), :func:`plot_projection`, :func:`markdown_table` and :func:`write_report`.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np

from careerpath.core.catalog_model import Catalog
from careerpath.curation.clustering_methods import Result

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
