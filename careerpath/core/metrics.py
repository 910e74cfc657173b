"""Evaluation arithmetic for careerpath, in one place.

Every scorer (the fine-tuned model or a baseline) produces a score for *every* item of the
catalog; nothing here samples negatives. Items the person already has (courses taken) are hidden
with an ``exclude_mask`` before ranking, and :func:`top_k` is the one ranking helper that both
evaluation and the recommendation engine use, so "what is recommended" and "what is scored" never
drift apart.

Ties: :func:`rank_of_gold` is *pessimistic* by default: the gold item is ranked below every other
item with the same score, so a scorer can never look better by giving many items the same score (a
constant scorer gets the worst rank, not the best). ``ties="average"`` gives the expected rank under
random tie-breaking instead. :func:`top_k` breaks ties by catalog order (lower index first), which
is deterministic for display but is not what the metrics use.

The Hugging Face ``evaluate`` modules in ``careerpath/eval/metric_modules`` call into this file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

from careerpath.core.textformat import STAY

__all__ = [
    "top_k",
    "rank_of_gold",
    "ranking_metrics",
    "hit_at_k_curve",
    "log_loss",
    "set_prf",
    "corpus_bleu",
    "exact_match",
    "validity",
    "gini",
    "coverage",
]


def _masked(scores: np.ndarray, exclude_mask: np.ndarray | None) -> np.ndarray:
    """Float copy of ``scores`` (2-D) with excluded items set to ``-inf``."""
    out = np.array(scores, dtype=np.float64, copy=True)
    if out.ndim != 2:
        raise ValueError(f"scores must be 2-D [n_rows, n_items], got shape {out.shape}")
    if exclude_mask is not None:
        mask = np.asarray(exclude_mask, dtype=bool)
        if mask.shape != out.shape:
            raise ValueError(f"exclude_mask shape {mask.shape} does not match scores shape {out.shape}")
        out[mask] = -np.inf
    return out


def top_k(scores: np.ndarray, k: int, exclude_mask: np.ndarray | None = None) -> np.ndarray:
    """Indices of the ``k`` best items per row, best first, never an excluded item.

    ``scores`` is [n_rows, n_items] (a 1-D vector is treated as one row and a 1-D result is
    returned). Ties are broken by catalog order. When fewer than ``k`` items are allowed, the
    remaining slots are ``-1``.
    """
    single = np.ndim(scores) == 1
    s = _masked(np.atleast_2d(scores), None if exclude_mask is None else np.atleast_2d(exclude_mask))
    k = min(int(k), s.shape[1])
    # -inf for excluded items; NaN scores are treated as excluded too
    s[np.isnan(s)] = -np.inf
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    allowed = np.take_along_axis(s, order, axis=1) > -np.inf
    order = np.where(allowed, order, -1)
    return order[0] if single else order


def rank_of_gold(
    scores: np.ndarray,
    gold_idx: Sequence[int] | np.ndarray,
    exclude_mask: np.ndarray | None = None,
    ties: str = "pessimistic",
) -> np.ndarray:
    """1-based rank of the gold item in each row among the non-excluded items.

    The gold item itself is never excluded (a mask that hides it would make it unrankable).
    ``ties="pessimistic"`` (default) counts every other item with an equal score as ranked above
    the gold; ``ties="average"`` counts half of them (expected rank under random tie-breaking).
    Rows whose ``gold_idx`` is negative (no gold label) get rank ``inf``.
    """
    if ties not in ("pessimistic", "average"):
        raise ValueError(f"ties must be 'pessimistic' or 'average', got {ties!r}")
    gold = np.asarray(gold_idx, dtype=np.int64)
    s = _masked(scores, exclude_mask)
    if gold.shape != (s.shape[0],):
        raise ValueError(f"gold_idx has shape {gold.shape}, expected ({s.shape[0]},)")
    if np.any(gold >= s.shape[1]):
        raise ValueError(f"gold index out of range for {s.shape[1]} items")
    has_gold = gold >= 0
    rows = np.arange(s.shape[0])
    safe_gold = np.where(has_gold, gold, 0)
    raw = np.asarray(scores, dtype=np.float64)
    raw = np.where(np.isnan(raw), -np.inf, raw)
    allowed = np.ones(s.shape, dtype=bool) if exclude_mask is None else ~np.asarray(exclude_mask, dtype=bool)
    allowed[rows, safe_gold] = True  # the gold is never excluded
    gold_score = raw[rows, safe_gold][:, None]
    greater = ((raw > gold_score) & allowed).sum(axis=1)
    equal = ((raw == gold_score) & allowed).sum(axis=1) - 1  # minus the gold itself
    rank = 1.0 + greater + (equal if ties == "pessimistic" else equal / 2.0)
    return np.where(has_gold, rank, np.inf)


def _metric_name(k: int) -> str:
    return "acc@1" if k == 1 else f"hit@{k}"


def ranking_metrics(
    scores: np.ndarray,
    gold_idx: Sequence[int] | np.ndarray,
    exclude_mask: np.ndarray | None = None,
    ks: Iterable[int] = (1, 5, 10),
    ties: str = "pessimistic",
) -> dict[str, float]:
    """Acc@1, Hit@k and MRR over the rows that have a gold label (``gold_idx >= 0``).

    Returns ``{"acc@1", "hit@5", "hit@10", "mrr", "n"}`` for the default ``ks``; ``n`` is the number
    of rows scored. With no scorable row every metric is NaN.
    """
    ranks = rank_of_gold(scores, gold_idx, exclude_mask, ties=ties)
    ranks = ranks[np.isfinite(ranks)]
    out: dict[str, float] = {}
    for k in ks:
        out[_metric_name(int(k))] = float(np.mean(ranks <= k)) if len(ranks) else float("nan")
    out["mrr"] = float(np.mean(1.0 / ranks)) if len(ranks) else float("nan")
    out["n"] = int(len(ranks))
    return out


def hit_at_k_curve(
    scores: np.ndarray,
    gold_idx: Sequence[int] | np.ndarray,
    exclude_mask: np.ndarray | None = None,
    max_k: int = 20,
    ties: str = "pessimistic",
) -> np.ndarray:
    """Hit@k for k = 1..max_k (array of length ``max_k``; element ``i`` is Hit@(i+1))."""
    ranks = rank_of_gold(scores, gold_idx, exclude_mask, ties=ties)
    ranks = ranks[np.isfinite(ranks)]
    ks = np.arange(1, max_k + 1)
    if not len(ranks):
        return np.full(max_k, np.nan)
    return (ranks[None, :] <= ks[:, None]).mean(axis=1)


def log_loss(
    logp: np.ndarray,
    gold_idx: Sequence[int] | np.ndarray,
    exclude_mask: np.ndarray | None = None,
    eps: float = 1e-12,
) -> float:
    """Mean negative log-likelihood (nats) of the gold item over the whole catalog.

    ``logp`` are log-probabilities (any real scores work: they are treated as logits). Excluded items
    are removed and the rest renormalised (the gold is never excluded), so a scorer is not punished
    for mass it put on courses the person already took. Probabilities are clipped to ``eps`` so one
    zero-probability gold gives a large but finite loss (``-log(eps)``). Rows with ``gold_idx < 0``
    are skipped; NaN when none is left.
    """
    gold = np.asarray(gold_idx, dtype=np.int64)
    s = _masked(logp, exclude_mask)
    keep = gold >= 0
    if not keep.any():
        return float("nan")
    s, gold = s[keep], gold[keep]
    raw = np.asarray(logp, dtype=np.float64)[keep]
    rows = np.arange(len(gold))
    s[rows, gold] = raw[rows, gold]
    top = np.max(s, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    log_z = np.log(np.sum(np.exp(s - top), axis=1)) + top[:, 0]
    gold_logp = s[rows, gold] - log_z
    gold_logp = np.maximum(np.where(np.isnan(gold_logp), -np.inf, gold_logp), np.log(eps))
    return float(-np.mean(gold_logp))


def set_prf(pred_sets: Iterable[Iterable[str]], gold_sets: Iterable[Iterable[str]]) -> dict[str, float]:
    """Micro-averaged precision, recall and F1 of predicted sets against gold sets.

    Used for skills gained. Duplicates inside one set count once. When there are no predictions
    (or no gold items) at all, precision (recall) is 1.0 if the other side is empty too, else 0.0.
    """
    tp = n_pred = n_gold = 0
    pred_list, gold_list = list(pred_sets), list(gold_sets)
    if len(pred_list) != len(gold_list):
        raise ValueError(f"{len(pred_list)} predicted sets but {len(gold_list)} gold sets")
    for p, g in zip(pred_list, gold_list, strict=True):
        p, g = set(p), set(g)
        tp += len(p & g)
        n_pred += len(p)
        n_gold += len(g)
    precision = tp / n_pred if n_pred else float(n_gold == 0)
    recall = tp / n_gold if n_gold else float(n_pred == 0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def corpus_bleu(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Corpus BLEU (0-100) with one reference per hypothesis, computed by ``sacrebleu`` locally."""
    import sacrebleu

    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references")
    return float(sacrebleu.corpus_bleu(list(hyps), [list(refs)]).score)


def exact_match(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Share of hypotheses equal to their reference after stripping outer whitespace."""
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references")
    if not len(hyps):
        return float("nan")
    return float(np.mean([h.strip() == r.strip() for h, r in zip(hyps, refs, strict=True)]))


def _norm(name: str) -> str:
    return " ".join(name.split()).casefold()


def validity(generated_names: Sequence[str], catalog_names: Iterable[str], allow_stay: bool = False) -> float:
    """Share of generated names that are real catalog items (case- and whitespace-insensitive).

    Pass ``allow_stay=True`` for next-job outputs, where ``"stay"`` is a valid answer. NaN for an
    empty list.
    """
    valid = {_norm(n) for n in catalog_names}
    if allow_stay:
        valid.add("stay")
    if not len(generated_names):
        return float("nan")
    return float(np.mean([_norm(n) in valid for n in generated_names]))


def gini(counts: Sequence[float] | np.ndarray) -> float:
    """Gini coefficient of non-negative counts: 0 for equal counts, (n-1)/n when one item has all.

    Pass a count for *every* catalog item (zeros included) to measure popularity concentration of
    recommendations over the catalog. NaN when all counts are zero.
    """
    x = np.sort(np.asarray(counts, dtype=np.float64))
    if np.any(x < 0):
        raise ValueError("gini needs non-negative counts")
    n, total = len(x), x.sum()
    if n == 0 or total == 0:
        return float("nan")
    i = np.arange(1, n + 1)
    return float(2.0 * np.sum(i * x) / (n * total) - (n + 1) / n)


def coverage(topk_lists: Iterable[Iterable[int]], n_items: int) -> float:
    """Share of the ``n_items`` catalog items that appear in at least one top-k list (``-1`` ignored)."""
    seen = {int(i) for lst in topk_lists for i in lst if int(i) >= 0}
    return len(seen) / n_items if n_items else float("nan")


def auc(scores: Sequence[float] | np.ndarray, labels: Sequence[bool] | np.ndarray) -> float:
    """Area under the ROC curve (the chance a positive scores above a negative; ties count half),
    by the rank-sum formula. NaN unless both classes occur."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def binary_log_loss(
    p: Sequence[float] | np.ndarray, labels: Sequence[bool] | np.ndarray, eps: float = 1e-12
) -> float:
    """Mean negative log-likelihood (nats) of binary ``labels`` under probabilities ``p``."""
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    y = np.asarray(labels, dtype=bool)
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p)))) if len(y) else float("nan")


def clustered_bootstrap_ci(
    diff: np.ndarray, clusters: Sequence[str], n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> dict[str, float]:
    """Mean of the per-row paired differences ``diff`` and its bootstrap confidence interval,
    resampling whole clusters (users: one person's rows are not independent)."""
    diff = np.asarray(diff, dtype=np.float64)
    keys, inv = np.unique(np.asarray(clusters), return_inverse=True)
    sums = np.bincount(inv, weights=diff, minlength=len(keys))
    counts = np.bincount(inv, minlength=len(keys)).astype(np.float64)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(keys), size=(n_boot, len(keys)))
    boot = sums[pick].sum(1) / counts[pick].sum(1)
    lo, hi = np.quantile(boot, [(1 - level) / 2, 1 - (1 - level) / 2])
    return {"mean": float(diff.mean()), "lo": float(lo), "hi": float(hi), "clusters": int(len(keys))}


# -- a scorer on rows: the numbers of the report (model, baselines and oracle alike) ----------
def gold_indices(
    rows: Sequence[dict], course_ids: Sequence[str], job_ids: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Gold column per row: next course index (-1 if missing or unknown) and next job index ("stay" = n_jobs)."""
    c_index = {c: i for i, c in enumerate(course_ids)}
    j_index = {j: i for i, j in enumerate(job_ids)}
    j_index[STAY] = len(job_ids)
    course = np.array([c_index.get(r.get("next_course_id") or "", -1) for r in rows], dtype=np.int64)
    job = np.array([j_index.get(r.get("next_job_id") or STAY, -1) for r in rows], dtype=np.int64)
    return course, job


def taken_mask(rows: Sequence[dict], course_ids: Sequence[str]) -> np.ndarray:
    """Boolean [n_rows, n_courses]: True where the person already took the course (hidden from ranking)."""
    c_index = {c: i for i, c in enumerate(course_ids)}
    mask = np.zeros((len(rows), len(course_ids)), dtype=bool)
    for i, r in enumerate(rows):
        cols = [c_index[c] for c in r.get("course_ids", []) if c in c_index]
        mask[i, cols] = True
    return mask


class Scorer(Protocol):
    """Anything :func:`evaluate_scorer` can measure."""

    def score(self, rows: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]: ...


def evaluate_scorer(
    scorer: Scorer, rows: Sequence[dict], course_ids: Sequence[str], job_ids: Sequence[str], max_k: int = 20
) -> dict:
    """Next-course and next-job ranking metrics of ``scorer`` on ``rows``, all against the full catalog.

    Returns ``{"next_course": {...}, "next_job": {...}, "next_job_moves": {...}, "curves": {...}}``
    where each section has acc@1, hit@5, hit@10, mrr, n and log_loss, and ``curves`` holds Hit@k for
    k = 1..max_k (for plots). Courses already taken are masked before ranking; next-job metrics are
    given on all rows and on job moves only (rows whose next job is not "stay").
    """
    course_logp, job_logp = scorer.score(rows)
    n_c, n_j = len(course_ids), len(job_ids) + 1
    if course_logp.shape != (len(rows), n_c) or job_logp.shape != (len(rows), n_j):
        raise ValueError(
            f"scorer returned shapes {course_logp.shape} and {job_logp.shape}; expected "
            f"({len(rows)}, {n_c}) and ({len(rows)}, {n_j}) (all jobs plus 'stay' last)"
        )
    gold_c, gold_j = gold_indices(rows, course_ids, job_ids)
    mask = taken_mask(rows, course_ids)
    moves = gold_j != len(job_ids)
    sections = {
        "next_course": (course_logp, gold_c, mask),
        "next_job": (job_logp, gold_j, None),
        "next_job_moves": (job_logp[moves], gold_j[moves], None),
    }
    out: dict = {"curves": {}}
    for name, (scores, gold, m) in sections.items():
        out[name] = ranking_metrics(scores, gold, m)
        out[name]["log_loss"] = log_loss(scores, gold, m)
        out["curves"][name] = hit_at_k_curve(scores, gold, m, max_k=max_k).tolist()
    out.update(move_metrics(job_logp, gold_j, len(job_ids)))
    return out


def move_metrics(job_logp: np.ndarray, gold_j: np.ndarray, stay: int) -> dict:
    """The next-job decision in its two parts. ``move_timing``: whether the person moves at all,
    P(move) = 1 - P(stay) against what happened, over every row (AUC, log-loss).
    ``move_destination``: where to, on the rows with a move, ranked among the jobs with stay left
    out and the rest renormalised (as sequential recommenders such as SASRec are scored)."""
    p = np.exp(job_logp - job_logp.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    moved = gold_j != stay
    p_move = 1.0 - p[:, stay]
    timing = {"auc": auc(p_move, moved), "log_loss": binary_log_loss(p_move, moved)}
    timing["n"], timing["moves"] = int(len(moved)), int(moved.sum())
    dest_scores = job_logp[moved][:, :stay]
    dest = ranking_metrics(dest_scores, gold_j[moved])
    dest["log_loss"] = log_loss(dest_scores, gold_j[moved])
    return {"move_timing": timing, "move_destination": dest}
