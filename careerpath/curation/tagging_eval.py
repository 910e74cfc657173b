"""How well tagging finds the catalog's own tags: hide-existing evaluation (precision, recall, F1
per kind and threshold), the tuning split of the jobs, and the fit of the neighbour model's
logistic weights and cut on it."""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from careerpath.core.catalog import Catalog
from careerpath.curation.tagging_config import (
    NEIGHBOUR_FEATURES,
    TaggingConfig,
)
from careerpath.curation.tagging_match import (
    Proposal,
    _items,
    propose,
)
from careerpath.curation.tagging_neighbours import (
    _neighbour_probability,
    _neighbour_texts,
    neighbour_features,
)
from careerpath.curation.tagging_text import (
    Encoder,
    HashingEncoder,
)


def gold_tags(catalog: Catalog, kinds: Iterable[str] = ("course", "job")) -> set[tuple[str, str, str]]:
    """The catalog's own tags as ``(kind, item_id, skill_id)``: the answers an evaluation hides."""
    out = set()
    for kind, item in _items(catalog, kinds):
        out |= {(kind, item.id, sid) for sid in item.skills}
    return out


def evaluate(
    proposals: list[Proposal], gold: set[tuple[str, str, str]], threshold: float
) -> dict[str, float]:
    """Micro precision, recall and F1 of the proposals at or above ``threshold`` against ``gold``."""
    pred = {(p.kind, p.item_id, p.skill_id) for p in proposals if p.confidence >= threshold - 1e-9}
    tp = len(pred & gold)
    precision = tp / len(pred) if pred else 0.0
    recall = tp / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "proposed": len(pred),
        "gold": len(gold),
        "correct": tp,
    }


def evaluate_tagging(
    catalog: Catalog,
    cfg: TaggingConfig,
    encoder: Encoder | None = None,
    kinds: Iterable[str] = ("course", "job"),
    thresholds: Iterable[float] = (),
    job_tags: dict[str, Iterable[str]] | None = None,
    job_groups: dict[str, Iterable[str]] | None = None,
) -> dict:
    """Hide-existing evaluation: propose without looking at the tags, then score against them.

    Course tags are hidden from the courses. Jobs: with ``cfg.neighbours`` each job sees the other
    jobs' tags (``job_tags``, default the catalog's; leave-one-out) and the course tags, never its
    own; ``cfg.neighbours=False`` or ``job_tags={}`` is text only. Returns ``{group: {threshold:
    metrics}}`` for each kind, ``"all"`` and each named subset of jobs in ``job_groups``, at
    ``cfg.threshold`` and each of ``thresholds``, plus the proposing time in seconds.
    """
    kinds = tuple(kinds)
    ts = sorted({cfg.threshold, *thresholds})
    start = time.perf_counter()
    floor = min(ts + [cfg.review_floor])
    proposals = propose(catalog, cfg, encoder, kinds, floor=floor, job_tags=job_tags)
    seconds = time.perf_counter() - start
    result: dict = {"seconds": seconds, "threshold": cfg.threshold}
    for group in (*kinds, "all"):
        gk = kinds if group == "all" else (group,)
        gold = gold_tags(catalog, gk)
        props = [p for p in proposals if p.kind in gk]
        result[group] = {t: evaluate(props, gold, t) for t in ts}
    gold_jobs = gold_tags(catalog, ("job",))
    for name, ids in (job_groups or {}).items():
        ids = set(ids)
        gold = {g for g in gold_jobs if g[1] in ids}
        props = [p for p in proposals if p.kind == "job" and p.item_id in ids]
        result[name] = {t: evaluate(props, gold, t) for t in ts}
    return result


def tuning_split(catalog: Catalog) -> tuple[list[str], list[str]]:
    """Jobs split in two by a stable hash of the id: (tuning half A, held-out half B)."""
    a = [jid for jid in catalog.jobs if zlib.crc32(jid.encode("utf-8")) % 2 == 0]
    return a, [jid for jid in catalog.jobs if jid not in set(a)]


# ---------------------------------------------------------------- review file


def fit_neighbour_model(
    catalog: Catalog, cfg: TaggingConfig, encoder: Encoder | None, job_ids: Iterable[str], c: float = 1.0
) -> tuple[dict[str, float], float]:
    """Fit the logistic weights on ``job_ids`` (each scored leave-one-out) and the F1-best cut.

    Returns ``(neighbour_model, neighbour_cut)`` for a tagging YAML. Only these jobs' tags are the
    targets; their features use every other job's tags, as :func:`propose` does.
    """
    from sklearn.linear_model import LogisticRegression

    job_ids = list(job_ids)
    # text confidences of every candidate (floor 0) for the chosen jobs, without the neighbour step
    text_cfg = replace(cfg, neighbours=False)
    props = propose(catalog, text_cfg, encoder, ("job",), floor=0.0)
    text_of_job: dict[str, dict] = {jid: {} for jid in job_ids}
    for p in props:
        if p.item_id in text_of_job:
            text_of_job[p.item_id][p.skill_id] = (p.confidence, p.method, p.evidence)
    texts = list(dict.fromkeys(_neighbour_texts(catalog)))
    enc = encoder if encoder is not None else HashingEncoder()
    vec = dict(zip(texts, np.asarray(enc.embed(texts), np.float32)))
    tags = {j.id: set(j.skills) for j in catalog.jobs.values()}
    feats = neighbour_features(catalog, cfg, vec, text_of_job, tags)
    col = {sid: i for i, sid in enumerate(catalog.skills)}
    X, y = [], []
    for jid, nf in feats.items():
        X.append(nf.matrix)
        t = np.zeros(len(col), np.float32)
        t[[col[s] for s in catalog.jobs[jid].skills]] = 1.0
        y.append(t)
    X, y = np.concatenate(X), np.concatenate(y)
    lr = LogisticRegression(C=c, max_iter=5000).fit(X, y)
    model = {"intercept": round(float(lr.intercept_[0]), 3)}
    model.update({f: round(float(v), 3) for f, v in zip(NEIGHBOUR_FEATURES, lr.coef_[0])})
    p = _neighbour_probability(X, replace(cfg, neighbour_model=model))
    best_cut, best_f1 = 0.5, -1.0
    for cut in np.arange(0.05, 0.951, 0.025):
        pred = p >= cut
        tp = float((pred & (y > 0)).sum())
        f1 = 2 * tp / max(float(pred.sum()) + float(y.sum()), 1.0)
        if f1 > best_f1 + 1e-12:
            best_cut, best_f1 = round(float(cut), 3), f1
    return model, best_cut
