"""Report figures as PNG files (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_hit_at_k(
    curves: Mapping[str, Sequence[float]],
    path: str | Path,
    title: str = "Next course: Hit@k over the full catalog",
    ceiling: Sequence[float] | None = None,
) -> Path:
    """One line per method: Hit@k for k = 1..len(curve) (e.g. ``evaluate_scorer(...)["curves"]``).

    ``ceiling`` (the oracle's curve) is drawn dashed, so the gap to the best possible is visible.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for name, curve in curves.items():
        ks = np.arange(1, len(curve) + 1)
        ax.plot(ks, curve, marker="o", markersize=3, label=name)
    if ceiling is not None:
        ax.plot(np.arange(1, len(ceiling) + 1), ceiling, "k--", label="oracle ceiling")
    ax.set_xlabel("k")
    ax.set_ylabel("Hit@k")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_group_bars(
    values: Mapping[str, Mapping[str, float]],
    path: str | Path,
    metric: str = "Hit@10",
    title: str = "Next course by starting job family",
    counts: Mapping[str, int] | None = None,
) -> Path:
    """Grouped bars: ``values[method][group]`` (e.g. each method's Hit@10 per starting job family).

    ``counts`` (rows per group) are added to the group labels so small groups are read with care.
    """
    methods = list(values)
    groups = sorted({g for v in values.values() for g in v})
    width = 0.8 / max(len(methods), 1)
    x = np.arange(len(groups))
    fig, ax = plt.subplots(figsize=(max(6.4, 1.1 * len(groups) + 2), 4.2), dpi=120)
    for i, m in enumerate(methods):
        ax.bar(x + i * width - 0.4 + width / 2, [values[m].get(g, np.nan) for g in groups], width, label=m)
    labels = [f"{g}\n(n={counts[g]})" if counts and g in counts else g for g in groups]
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
