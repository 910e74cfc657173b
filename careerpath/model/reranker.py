"""A learned re-ranker on top of the model: what people of a kind like among what the model proposes.

Dislikes carry less information than a label: they say "not this, for me", not what is right. We
fold them in here rather than into the model's weights. A logistic model predicts
``p(like | kind of profile, course)`` from crossed features (the job family of the profile x
the course's provider, length band, level and cluster), trained on every rating in the store
(likes 1, dislikes 0) with the same per-person caps and collapsing as the model's feedback
examples. At recommendation time it re-orders only the model's top ``top_n`` courses by

    model log-probability + strength * log p(like)

so a course people like it dislike leaves the few shown but stays in the model's top ``top_n``;
the model's own ranking, and any Hit@k with k >= top_n, is unchanged by construction. The
weights are a small JSON file (``reranker.json``) next to the model: no pickle.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

FILE = "reranker.json"
HOURS_BANDS = (10.0, 20.0, 40.0)


class Reranker:
    def __init__(self, families: list[str], providers: list[str], clusters: list[int], weights=None, **kw):
        self.families, self.providers, self.clusters = list(families), list(providers), list(clusters)
        self.levels = [1, 2, 3, 4, 5]
        self.item_dim = 1 + len(self.providers) + len(HOURS_BANDS) + len(self.levels) + len(self.clusters)
        self.dim = self.item_dim * (1 + len(self.families))  # shared part + one block per family
        self.weights = np.zeros(self.dim) if weights is None else np.asarray(weights, dtype=np.float64)
        self.bias = float(kw.get("bias", 0.0))
        self.strength = float(kw.get("strength", 1.0))
        self.top_n = int(kw.get("top_n", 10))
        self.report = kw.get("report", {})

    @classmethod
    def for_catalog(cls, catalog, **kw) -> Reranker:
        return cls(
            sorted({j.family for j in catalog.jobs.values()}),
            sorted({c.provider for c in catalog.courses.values()}),
            sorted({c.cluster for c in catalog.courses.values() if c.cluster >= 0}),
            **kw,
        )

    # -- features --------------------------------------------------------------------------
    def _item(self, course) -> np.ndarray:
        x = [1.0]
        x += [float(course.provider == p) for p in self.providers]
        x += [float(course.hours > h) for h in HOURS_BANDS]
        x += [float(course.level == lv) for lv in self.levels]
        x += [float(course.cluster == c) for c in self.clusters]
        return np.array(x)

    def features(self, family: str | None, course) -> np.ndarray:
        item = self._item(course)
        out = np.zeros(self.dim)
        out[: self.item_dim] = item
        if family in self.families:
            k = 1 + self.families.index(family)
            out[k * self.item_dim : (k + 1) * self.item_dim] = item
        return out

    # -- fit / apply -------------------------------------------------------------------------
    def fit(
        self, X: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1e-2, iters: int = 300
    ) -> Reranker:
        """Weighted L2-regularised logistic regression (full-batch Newton steps: small and exact)."""
        Xb = np.hstack([X, np.ones((len(X), 1))])
        theta = np.zeros(Xb.shape[1])
        reg = np.full(Xb.shape[1], l2 * max(w.sum(), 1.0))
        reg[-1] = 0.0
        for _ in range(min(iters, 50)):
            p = 1 / (1 + np.exp(-(Xb @ theta)))
            grad = Xb.T @ (w * (p - y)) + reg * theta
            hess = (Xb * (w * p * (1 - p))[:, None]).T @ Xb + np.diag(reg + 1e-9)
            step = np.linalg.solve(hess, grad)
            theta -= step
            if np.abs(step).max() < 1e-6:
                break
        self.weights, self.bias = theta[:-1], float(theta[-1])
        return self

    def log_p_like(self, family: str | None, courses) -> np.ndarray:
        X = np.stack([self.features(family, c) for c in courses])
        z = X @ self.weights + self.bias
        return -np.logaddexp(0.0, -z)  # log sigmoid

    def rerank(self, family: str | None, course_objs: list, model_logp: np.ndarray) -> list[int]:
        """Order (indices into ``course_objs``) of the model's candidates after re-ranking."""
        score = np.asarray(model_logp, dtype=np.float64) + self.strength * self.log_p_like(
            family, course_objs
        )
        return sorted(range(len(course_objs)), key=lambda i: (-score[i], i))

    # -- persistence -------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / FILE
        data = {
            "families": self.families,
            "providers": self.providers,
            "clusters": self.clusters,
            "weights": [round(float(x), 6) for x in self.weights],
            "bias": self.bias,
            "strength": self.strength,
            "top_n": self.top_n,
            "report": self.report,
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, folder: str | Path) -> Reranker | None:
        path = Path(folder) / FILE
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            extra = {k: data[k] for k in ("bias", "strength", "top_n", "report") if k in data}
            r = cls(data["families"], data["providers"], data["clusters"], data["weights"], **extra)
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: not a valid re-ranker file ({e}); delete it or retrain") from None
        if len(r.weights) != r.dim or not all(math.isfinite(x) for x in r.weights):
            raise ValueError(f"{path}: weights do not match its feature layout; delete it or retrain")
        return r


def fit_from_feedback(items: list, catalog, top_n: int = 10, strength: float = 1.0) -> Reranker:
    """``items`` are :func:`careerpath.training.feedback_train.collect`'s ``(profile, course_id, sign, weight)``."""
    r = Reranker.for_catalog(catalog, top_n=top_n, strength=strength)
    X = np.stack([r.features(_family(catalog, prof), catalog.courses[cid]) for prof, cid, _, _ in items])
    y = np.array([1.0 if sign > 0 else 0.0 for _, _, sign, _ in items])
    w = np.array([float(weight) for *_, weight in items])
    r.fit(X, y, w)
    r.report = {"events": len(items), "likes": int(y.sum()), "dislikes": int(len(y) - y.sum())}
    return r


def _family(catalog, prof) -> str | None:
    return catalog.jobs[prof.job].family if prof.job in catalog.jobs else None
