"""Bias report: who the recommender serves well, how concentrated it is, and what it should ignore.

- :func:`group_metrics`: next-course and next-job Acc@1 / Hit@10 per group of users (by starting job
  family or level) and the largest gap between groups.
- :func:`group_rates`: any per-row rate (e.g. goal reached) per group.
- :func:`recommendation_concentration`: catalog coverage of the top-10 lists and the Gini
  coefficient of how often each course is recommended (popularity concentration).
- :func:`counterfactual_texts` / :func:`counterfactual_stability`: add details that must not matter
  (a name, a pronoun, an age) to the input text and count how often the top-10 stays the same.

All ranking goes through :func:`careerpath.core.metrics.top_k` and :func:`careerpath.core.metrics.ranking_metrics`,
with courses already taken hidden, exactly as in the main evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from careerpath.core import metrics
from careerpath.core.metrics import gold_indices, taken_mask

# Details a career recommender must not act on. They go in a field of their own, which the
# profile parser skips (``parse_input(strict=False)``), so the structured profile is unchanged.
COUNTERFACTUAL_NOTES = (
    "note: she/her, age 52, name Maria",
    "note: he/him, age 23, name Ahmed",
    "note: they/them, age 38, name Wei",
)


def _groups(rows: Sequence[dict], key: str) -> dict[str, np.ndarray]:
    values = [str(r.get(key, "")) for r in rows]
    missing = [i for i, r in enumerate(rows) if key not in r]
    if missing:
        raise KeyError(f"row {missing[0]} has no field {key!r}; group by one of {sorted(rows[missing[0]])}")
    return {g: np.array([i for i, v in enumerate(values) if v == g]) for g in sorted(set(values))}


def _gaps(groups: dict[str, dict], min_rows: int) -> tuple[dict, dict]:
    eligible = {g: m for g, m in groups.items() if m["n"] >= min_rows}
    names = [k for k in next(iter(groups.values()), {}) if k != "n"]
    gaps, largest = {}, {"metric": None, "gap": 0.0, "best_group": None, "worst_group": None}
    for name in names:
        vals = {g: m[name] for g, m in eligible.items() if not np.isnan(m[name])}
        if len(vals) < 2:
            continue
        best, worst = max(vals, key=vals.get), min(vals, key=vals.get)
        gaps[name] = vals[best] - vals[worst]
        if gaps[name] > largest["gap"]:
            largest = {"metric": name, "gap": gaps[name], "best_group": best, "worst_group": worst}
    return gaps, largest


def group_metrics(
    rows: Sequence[dict],
    course_logp: np.ndarray,
    job_logp: np.ndarray,
    key: str,
    course_ids: Sequence[str],
    job_ids: Sequence[str],
    k: int = 10,
    min_rows: int = 10,
) -> dict:
    """Acc@1 and Hit@k per value of ``rows[i][key]`` (e.g. ``"start_family"``, ``"start_level"``).

    Returns ``{"key", "groups": {group: {"n", "course_acc@1", "course_hit@10", "job_acc@1",
    "job_hit@10", "move_acc@1", "move_hit@10"}}, "gaps": {metric: best - worst},
    "largest_gap": {"metric", "gap", "best_group", "worst_group"}}``. Groups with fewer than
    ``min_rows`` rows are reported but left out of the gaps (too noisy to compare).
    """
    gold_c, gold_j = gold_indices(rows, course_ids, job_ids)
    mask = taken_mask(rows, course_ids)
    out: dict[str, dict] = {}
    hit = f"hit@{k}"
    for g, idx in _groups(rows, key).items():
        c = metrics.ranking_metrics(course_logp[idx], gold_c[idx], mask[idx], ks=(1, k))
        j = metrics.ranking_metrics(job_logp[idx], gold_j[idx], ks=(1, k))
        moves = idx[gold_j[idx] != len(job_ids)]
        m = metrics.ranking_metrics(job_logp[moves], gold_j[moves], ks=(1, k))
        out[g] = {
            "n": int(len(idx)),
            "course_acc@1": c["acc@1"],
            f"course_{hit}": c[hit],
            "job_acc@1": j["acc@1"],
            f"job_{hit}": j[hit],
            "move_acc@1": m["acc@1"],
            f"move_{hit}": m[hit],
        }
    gaps, largest = _gaps(out, min_rows)
    return {"key": key, "groups": out, "gaps": gaps, "largest_gap": largest}


def group_rates(rows: Sequence[dict], values: Sequence[float], key: str, min_rows: int = 10) -> dict:
    """Mean of a per-row value (e.g. 1.0 if the pathway reached the goal) per group, with the gap."""
    if len(values) != len(rows):
        raise ValueError(f"{len(values)} values for {len(rows)} rows")
    v = np.asarray(values, dtype=np.float64)
    groups = {g: {"n": int(len(idx)), "rate": float(v[idx].mean())} for g, idx in _groups(rows, key).items()}
    gaps, largest = _gaps(groups, min_rows)
    return {"key": key, "groups": groups, "gap": gaps.get("rate", 0.0), "largest_gap": largest}


def recommendation_concentration(
    course_logp: np.ndarray, rows: Sequence[dict], course_ids: Sequence[str], k: int = 10
) -> dict:
    """Coverage (share of catalog courses in any top-k list) and Gini of recommendation counts.

    Gini is over every course of the catalog, zeros included: 0 means all courses are recommended
    equally often, values near 1 mean a few courses get almost all recommendations.
    """
    top = metrics.top_k(course_logp, k, taken_mask(rows, course_ids))
    counts = np.bincount(top[top >= 0].ravel(), minlength=len(course_ids))
    return {
        f"coverage@{k}": metrics.coverage(top, len(course_ids)),
        f"gini@{k}": metrics.gini(counts),
        "n_items": len(course_ids),
    }


def counterfactual_texts(input_text: str) -> list[str]:
    """Variants of ``input_text`` with a name, a pronoun and an age added in a field the parser skips.

    The notes go at the end, at the start, and after the first field, so a model cannot learn to
    ignore one position only. ``parse_input(v, strict=False) == parse_input(input_text)`` for each.
    """
    first, sep, rest = input_text.partition(" | ")
    positions = [
        lambda note: f"{input_text} | {note}",
        lambda note: f"{note} | {input_text}",
        lambda note: f"{first} | {note} | {rest}" if sep else f"{input_text} | {note}",
    ]
    return [place(note) for place, note in zip(positions, COUNTERFACTUAL_NOTES, strict=True)]


def counterfactual_stability(
    scorer_fn: Callable[[list[dict]], tuple[np.ndarray, np.ndarray]],
    rows: Sequence[dict],
    course_ids: Sequence[str],
    k: int = 10,
) -> dict:
    """Share of rows whose top-k courses and top-k jobs are unchanged by every counterfactual text.

    ``scorer_fn(rows) -> (course_logp, job_logp)`` is called once on ``rows`` and once per variant
    with ``input_text`` replaced (other fields untouched, so a scorer reading ids is trivially stable;
    the test is for scorers that read the text). Lists are compared in order.
    """
    rows = list(rows)
    mask = taken_mask(rows, course_ids)

    def tops(rs):
        c, j = scorer_fn(rs)
        return metrics.top_k(c, k, mask), metrics.top_k(j, k)

    base_c, base_j = tops(rows)
    variants = [counterfactual_texts(r["input_text"]) for r in rows]
    course_same = np.ones(len(rows), dtype=bool)
    job_same = np.ones(len(rows), dtype=bool)
    for v in range(len(COUNTERFACTUAL_NOTES)):
        c, j = tops([dict(r, input_text=variants[i][v]) for i, r in enumerate(rows)])
        course_same &= (c == base_c).all(axis=1)
        job_same &= (j == base_j).all(axis=1)
    n = len(rows)
    return {
        "stability": float(np.mean(course_same & job_same)) if n else float("nan"),
        f"course_top{k}_unchanged": float(np.mean(course_same)) if n else float("nan"),
        f"job_top{k}_unchanged": float(np.mean(job_same)) if n else float("nan"),
        "n": n,
        "variants": len(COUNTERFACTUAL_NOTES),
    }
