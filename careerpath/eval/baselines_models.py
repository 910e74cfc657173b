"""The count baselines: popularity, the stay rule and a first-order Markov chain.

Each has ``fit(train_rows, course_ids, job_ids)`` and ``score(rows) -> (course_logp, job_logp)``
over the whole catalog ("stay" last), and saves as ``baseline.json`` + ``arrays.safetensors``
(:class:`_Baseline`); the helpers here are shared by the GRU and the oracle scorers too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from careerpath.core import metrics
from careerpath.core.metrics import gold_indices, taken_mask
from careerpath.core.textformat import STAY


# -- helpers -----------------------------------------------------------------------------------
def _log_normalise(x: np.ndarray) -> np.ndarray:
    """log(x / sum(x)) along the last axis, for non-negative x."""
    with np.errstate(divide="ignore"):
        return np.log(x) - np.log(x.sum(axis=-1, keepdims=True))


def _write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=1) + "\n", encoding="utf-8")


class _Baseline:
    """Shared catalog bookkeeping and JSON + safetensors persistence for the count baselines."""

    name = "baseline"

    def __init__(self) -> None:
        self.course_ids: list[str] = []
        self.job_ids: list[str] = []

    def _set_catalog(self, course_ids: Sequence[str], job_ids: Sequence[str]) -> None:
        if STAY in job_ids:
            raise ValueError("a job id is 'stay', which is reserved for 'no move'; rename that job")
        self.course_ids, self.job_ids = list(course_ids), list(job_ids)

    def _params(self) -> dict:
        return {}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _restore(self, params: dict, arrays: dict[str, np.ndarray]) -> None:
        pass

    def save(self, out_dir: str | Path) -> None:
        """Write ``baseline.json`` (kind, catalog ids, parameters) and ``arrays.safetensors``."""
        from safetensors.numpy import save_file

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "kind": self.name,
            "course_ids": self.course_ids,
            "job_ids": self.job_ids,
            "params": self._params(),
        }
        _write_json(out / "baseline.json", meta)
        save_file(
            {k: np.ascontiguousarray(v) for k, v in self._arrays().items()}, str(out / "arrays.safetensors")
        )

    @classmethod
    def load(cls, out_dir: str | Path):
        """Inverse of :meth:`save`."""
        from safetensors.numpy import load_file

        out = Path(out_dir)
        meta = json.loads((out / "baseline.json").read_text(encoding="utf-8"))
        if meta.get("kind") != cls.name:
            raise ValueError(f"{out}/baseline.json: kind {meta.get('kind')!r}, expected {cls.name!r}")
        obj = cls()
        obj._set_catalog(meta["course_ids"], meta["job_ids"])
        obj._restore(meta.get("params", {}), load_file(str(out / "arrays.safetensors")))
        return obj


# -- popularity and the stay rule -------------------------------------------------------------
class PopularityBaseline(_Baseline):
    """P(next course) and P(next job) = training frequency with add-one smoothing; same for everyone."""

    name = "popularity"

    def fit(self, train_rows: Sequence[dict], course_ids: Sequence[str], job_ids: Sequence[str]):
        self._set_catalog(course_ids, job_ids)
        gold_c, gold_j = gold_indices(train_rows, course_ids, job_ids)
        self.course_counts = (
            np.bincount(gold_c[gold_c >= 0], minlength=len(course_ids)).astype(np.float64) + 1.0
        )
        self.job_counts = (
            np.bincount(gold_j[gold_j >= 0], minlength=len(job_ids) + 1).astype(np.float64) + 1.0
        )
        return self

    def _job_logp(self) -> np.ndarray:
        return _log_normalise(self.job_counts)

    def score(self, rows: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
        n = len(rows)
        course = np.broadcast_to(_log_normalise(self.course_counts), (n, len(self.course_ids))).copy()
        job = np.broadcast_to(self._job_logp(), (n, len(self.job_ids) + 1)).copy()
        return course, job

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"course_counts": self.course_counts, "job_counts": self.job_counts}

    def _restore(self, params: dict, arrays: dict[str, np.ndarray]) -> None:
        self.course_counts, self.job_counts = arrays["course_counts"], arrays["job_counts"]


class StayRuleBaseline(PopularityBaseline):
    """Jobs: always "stay". Courses: popularity.

    P(stay) is the training share of "stay" (at least 0.5, so stay is always the top answer) and the
    rest is spread evenly over the jobs. Every move is therefore tied last, and with pessimistic ties
    the rule scores nothing on job moves: the floor a model has to clear there.
    """

    name = "stay_rule"

    def _job_logp(self) -> np.ndarray:
        n_jobs = len(self.job_ids)
        p_stay = max(self.job_counts[-1] / self.job_counts.sum(), 0.5) if n_jobs else 1.0
        p = np.full(n_jobs + 1, (1.0 - p_stay) / max(n_jobs, 1))
        p[-1] = p_stay
        return np.log(p)


# -- first-order Markov with backoff ----------------------------------------------------------
class _Counts:
    """Sparse counts: context key -> counts over items, stored as CSR arrays for safetensors."""

    def __init__(self, n_items: int) -> None:
        self.n_items = n_items
        self.table: dict[str, dict[int, float]] = {}

    def add(self, key: str, item: int) -> None:
        row = self.table.setdefault(key, {})
        row[item] = row.get(item, 0.0) + 1.0

    def dense(self, key: str) -> np.ndarray | None:
        row = self.table.get(key)
        if row is None:
            return None
        out = np.zeros(self.n_items)
        out[list(row)] = list(row.values())
        return out

    def to_arrays(self, prefix: str) -> tuple[list[str], dict[str, np.ndarray]]:
        keys = sorted(self.table)
        ptr, idx, val = [0], [], []
        for k in keys:
            items = sorted(self.table[k].items())
            idx += [i for i, _ in items]
            val += [v for _, v in items]
            ptr.append(len(idx))
        arrays = {
            f"{prefix}.ptr": np.array(ptr, dtype=np.int64),
            f"{prefix}.idx": np.array(idx, dtype=np.int64),
            f"{prefix}.val": np.array(val, dtype=np.float64),
        }
        return keys, arrays

    @classmethod
    def from_arrays(
        cls, n_items: int, keys: list[str], arrays: dict[str, np.ndarray], prefix: str
    ) -> _Counts:
        obj = cls(n_items)
        ptr, idx, val = (arrays[f"{prefix}.{s}"] for s in ("ptr", "idx", "val"))
        for i, k in enumerate(keys):
            a, b = int(ptr[i]), int(ptr[i + 1])
            obj.table[k] = {int(j): float(v) for j, v in zip(idx[a:b], val[a:b], strict=True)}
        return obj


class MarkovBaseline(_Baseline):
    """First-order Markov model with interpolated (hierarchical Dirichlet) backoff.

    For a target x (next course, or next job incl. "stay"), with n(.) training counts::

        P0(x)       = (n(x) + 1) / (N + V)                              add-one popularity
        P1(x | j)   = (n(j, x) + alpha * P0(x)) / (n(j) + alpha)        current job j
        P2(x | j,c) = (n(j, c, x) + alpha * P1(x | j)) / (n(j, c) + alpha)  last course c ("" if none)

    A context never seen in training falls back to the level below exactly (n = 0). Every level
    is interpolated with the one below, so rare contexts lean on the backoff and frequent ones on
    their own counts. ``alpha`` is the prior strength; ``careerpath baselines train`` picks it on
    validation log-loss (:meth:`tune_alpha`).
    """

    name = "markov"

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)

    @staticmethod
    def _keys(row: dict) -> tuple[str, str]:
        job = row.get("job_id", "")
        courses = row.get("course_ids") or []
        return job, f"{job}|{courses[-1] if courses else ''}"

    def fit(self, train_rows: Sequence[dict], course_ids: Sequence[str], job_ids: Sequence[str]):
        self._set_catalog(course_ids, job_ids)
        self.pop = PopularityBaseline().fit(train_rows, course_ids, job_ids)
        nc, nj = len(course_ids), len(job_ids) + 1
        self.c1, self.c2, self.j1, self.j2 = _Counts(nc), _Counts(nc), _Counts(nj), _Counts(nj)
        gold_c, gold_j = gold_indices(train_rows, course_ids, job_ids)
        for row, gc, gj in zip(train_rows, gold_c, gold_j, strict=True):
            k1, k2 = self._keys(row)
            if gc >= 0:
                self.c1.add(k1, int(gc))
                self.c2.add(k2, int(gc))
            if gj >= 0:
                self.j1.add(k1, int(gj))
                self.j2.add(k2, int(gj))
        return self

    def _interpolate(self, counts: np.ndarray | None, lower: np.ndarray) -> np.ndarray:
        if counts is None:
            return lower
        return (counts + self.alpha * lower) / (counts.sum() + self.alpha)

    def _probs(self, rows: Sequence[dict], p0: np.ndarray, l1: _Counts, l2: _Counts) -> np.ndarray:
        cache: dict[str, np.ndarray] = {}
        out = np.empty((len(rows), len(p0)))
        for i, row in enumerate(rows):
            k1, k2 = self._keys(row)
            if k1 not in cache:
                cache[k1] = self._interpolate(l1.dense(k1), p0)
            out[i] = self._interpolate(l2.dense(k2), cache[k1])
        return out

    def score(self, rows: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
        p0c = self.pop.course_counts / self.pop.course_counts.sum()
        p0j = self.pop.job_counts / self.pop.job_counts.sum()
        course = self._probs(rows, p0c, self.c1, self.c2)
        job = self._probs(rows, p0j, self.j1, self.j2)
        return np.log(course), np.log(job)

    def tune_alpha(
        self, rows: Sequence[dict], grid: Sequence[float] = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
    ) -> dict[float, float]:
        """Set ``alpha`` to the grid value with the lowest course + job log-loss on ``rows``."""
        gold_c, gold_j = gold_indices(rows, self.course_ids, self.job_ids)
        mask = taken_mask(rows, self.course_ids)
        losses = {}
        for a in grid:
            self.alpha = float(a)
            c, j = self.score(rows)
            losses[float(a)] = metrics.log_loss(c, gold_c, mask) + metrics.log_loss(j, gold_j)
        self.alpha = min(losses, key=losses.get)
        return losses

    def _params(self) -> dict:
        keys = {}
        for name in ("c1", "c2", "j1", "j2"):
            keys[name], _ = getattr(self, name).to_arrays(name)
        return {"alpha": self.alpha, "keys": keys}

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = self.pop._arrays()
        for name in ("c1", "c2", "j1", "j2"):
            arrays.update(getattr(self, name).to_arrays(name)[1])
        return arrays

    def _restore(self, params: dict, arrays: dict[str, np.ndarray]) -> None:
        self.alpha = float(params["alpha"])
        self.pop = PopularityBaseline()
        self.pop._set_catalog(self.course_ids, self.job_ids)
        self.pop._restore({}, arrays)
        sizes = {"c1": len(self.course_ids), "c2": len(self.course_ids)}
        sizes.update({"j1": len(self.job_ids) + 1, "j2": len(self.job_ids) + 1})
        for name, n in sizes.items():
            setattr(self, name, _Counts.from_arrays(n, params["keys"][name], arrays, name))


# -- GRU sequence model ------------------------------------------------------------------------
