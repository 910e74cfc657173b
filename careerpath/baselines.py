"""Baselines on the same split and the same full-catalog scoring as the model.

Every scorer here has ``score(rows) -> (course_logp, job_logp)``: log-probabilities over *all*
courses ([n_rows, n_courses]) and over all jobs plus "stay" ([n_rows, n_jobs + 1], "stay" last),
in catalog order. :func:`careerpath.metrics.evaluate_scorer` turns any such scorer into the report's numbers, so the
model, the baselines and the oracle ceiling are measured by the same code.

- :class:`PopularityBaseline`: how often each course / job was the next one in training.
- :class:`StayRuleBaseline`: always answers "stay" for jobs (courses by popularity); the floor a
  model must clear on job moves, since most next-job labels are "stay".
- :class:`MarkovBaseline`: first order, P(next | current job, last course) backed off to
  P(next | current job) and to popularity.
- :class:`GRUBaseline`: a GRU over the goal, the job history and the courses taken.
- :class:`OracleScorer`: the generator's own probabilities (the ceiling; not trainable).

Saved with JSON + safetensors (never pickle): ``OUT/<name>/baseline.json`` (+ ``arrays.safetensors``
or ``model.safetensors``); :func:`load_baseline` reads any of them back.

    careerpath baselines train --data outputs/data --out outputs/baselines [--only popularity,markov,gru]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from careerpath import metrics

# measuring a scorer lives in metrics (training uses it too); bl.evaluate_scorer & co stay for callers
from careerpath.metrics import Scorer, evaluate_scorer, gold_indices, move_metrics, taken_mask  # noqa: F401
from careerpath.splits import SPLITS, load_split  # noqa: F401  (the one split reader; callers use bl.load_split)
from data_prep.catalog import Catalog
from data_prep.context import CourseEligibility
from data_prep.progression import ready_to_move
from data_prep.textformat import STAY


# -- rows, catalog ids and gold indices --------------------------------------------------------
def read_catalog_ids(data_dir: str | Path) -> tuple[list[str], list[str]]:
    """Course ids and job ids in catalog order, from ``DATA/catalog/courses.csv`` and ``jobs.csv``."""
    out = []
    for name in ("courses", "jobs"):
        path = Path(data_dir) / "catalog" / f"{name}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; pass the folder written by `careerpath data build`")
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if "id" not in (reader.fieldnames or []):
                raise ValueError(f"{path}: no 'id' column in the header {reader.fieldnames}")
            out.append([r["id"] for r in reader])
    return out[0], out[1]


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
class GRUBaseline:
    """GRU over ``[goal job, history jobs (oldest first)..., courses in the order taken...]``.

    Tokens come from the catalog (goal / job / course ids have separate embeddings), the state at
    the last real position feeds two softmax heads: next course (all courses) and next job (all
    jobs + "stay"). Trained with Adam on the sum of both cross-entropies, seeded, with early
    stopping on validation loss (the best epoch's weights are kept). Training runs on
    ``num_threads`` torch threads (restored afterwards): a model this small gets nothing from
    intra-op parallelism, and on a busy 2-core machine two threads were 10x slower than one.
    """

    name = "gru"

    def __init__(
        self,
        emb_dim: int = 64,
        hidden: int = 128,
        epochs: int = 12,
        batch_size: int = 256,
        lr: float = 5e-3,
        patience: int = 2,
        max_len: int = 64,
        seed: int = 0,
        num_threads: int = 1,
    ) -> None:
        self.cfg = {
            "emb_dim": emb_dim,
            "hidden": hidden,
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "patience": patience,
            "max_len": max_len,
            "seed": seed,
            "num_threads": num_threads,
        }
        self.course_ids: list[str] = []
        self.job_ids: list[str] = []
        self.history: list[dict] = []

    # vocabulary: 0 = padding, 1 = unknown, then goal:, job:, course: tokens in catalog order
    def _build_vocab(self) -> None:
        tokens = [f"goal:{j}" for j in self.job_ids] + [f"job:{j}" for j in self.job_ids]
        tokens += [f"course:{c}" for c in self.course_ids]
        self.vocab = {t: i + 2 for i, t in enumerate(tokens)}

    def _encode(self, rows: Sequence[dict]):
        import torch

        seqs = []
        for r in rows:
            body = [f"job:{j}" for j in r.get("history_ids") or [r.get("job_id", "")]]
            body += [f"course:{c}" for c in r.get("course_ids") or []]
            toks = [f"goal:{r.get('goal_id', '')}"] + body[-(self.cfg["max_len"] - 1) :]
            seqs.append([self.vocab.get(t, 1) for t in toks])
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        ids = torch.zeros((len(seqs), int(lengths.max()) if seqs else 1), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
        return ids, lengths

    def _build_model(self):
        import torch
        from torch import nn

        cfg, n_c, n_j = self.cfg, len(self.course_ids), len(self.job_ids) + 1

        class Net(nn.Module):
            def __init__(self, vocab_size: int) -> None:
                super().__init__()
                self.emb = nn.Embedding(vocab_size, cfg["emb_dim"], padding_idx=0)
                self.gru = nn.GRU(cfg["emb_dim"], cfg["hidden"], batch_first=True)
                self.drop = nn.Dropout(0.1)
                self.course_head = nn.Linear(cfg["hidden"], n_c)
                self.job_head = nn.Linear(cfg["hidden"], n_j)

            def forward(self, ids, lengths):
                states, _ = self.gru(self.emb(ids))
                # the state after the last real token of each sequence (padding is at the end)
                last = states[torch.arange(len(ids)), lengths - 1]
                last = self.drop(last)
                return self.course_head(last), self.job_head(last)

        return Net(len(self.vocab) + 2)

    def _loss(self, ids, lengths, gold_c, gold_j):
        from torch.nn import functional as F

        c, j = self.model(ids, lengths)
        loss = F.cross_entropy(j, gold_j, ignore_index=-1)
        if (gold_c >= 0).any():
            loss = loss + F.cross_entropy(c, gold_c, ignore_index=-1)
        return loss

    def _eval_loss(self, data) -> float:
        import torch

        self.model.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            for b in range(0, len(data[0]), 512):
                part = [t[b : b + 512] for t in data]
                total += float(self._loss(*part)) * len(part[0])
                n += len(part[0])
        return total / max(n, 1)

    def fit(
        self,
        train_rows: Sequence[dict],
        course_ids: Sequence[str],
        job_ids: Sequence[str],
        val_rows: Sequence[dict] | None = None,
        log=print,
    ):
        """Train; without ``val_rows`` a tenth of the training users is held out for early stopping."""
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(self.cfg["num_threads"])
        try:
            return self._fit(train_rows, course_ids, job_ids, val_rows, log)
        finally:
            torch.set_num_threads(threads)

    def _fit(self, train_rows, course_ids, job_ids, val_rows, log):
        import torch

        self.course_ids, self.job_ids = list(course_ids), list(job_ids)
        self._build_vocab()
        if not val_rows:
            users = sorted({r["user_id"] for r in train_rows})
            held = set(users[::10]) if len(users) > 1 else set()
            val_rows = [r for r in train_rows if r["user_id"] in held]
            train_rows = [r for r in train_rows if r["user_id"] not in held]
        torch.manual_seed(self.cfg["seed"])
        self.model = self._build_model()
        opt = torch.optim.Adam(self.model.parameters(), lr=self.cfg["lr"])

        def tensors(rows):
            ids, lengths = self._encode(rows)
            gc, gj = gold_indices(rows, self.course_ids, self.job_ids)
            return ids, lengths, torch.from_numpy(gc), torch.from_numpy(gj)

        train, val = tensors(train_rows), tensors(val_rows)
        gen = torch.Generator().manual_seed(self.cfg["seed"])
        best, best_state, bad = math.inf, None, 0
        self.history = []
        for epoch in range(self.cfg["epochs"]):
            self.model.train()
            order = torch.randperm(len(train[0]), generator=gen)
            for b in range(0, len(order), self.cfg["batch_size"]):
                idx = order[b : b + self.cfg["batch_size"]]
                loss = self._loss(*(t[idx] for t in train))
                opt.zero_grad()
                loss.backward()
                opt.step()
            val_loss = self._eval_loss(val) if len(val[0]) else self._eval_loss(train)
            self.history.append({"epoch": epoch + 1, "val_loss": round(val_loss, 5)})
            if log:
                log(f"gru epoch {epoch + 1}: validation loss {val_loss:.4f}")
            if val_loss < best - 1e-4:
                best, bad = val_loss, 0
                best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            else:
                bad += 1
                if bad >= self.cfg["patience"]:
                    break
        if best_state is not None:
            self.model.load_state_dict(best_state)
        self.model.eval()
        return self

    def score(self, rows: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        n_c, n_j = len(self.course_ids), len(self.job_ids) + 1
        if not rows:
            return np.zeros((0, n_c)), np.zeros((0, n_j))
        self.model.eval()
        ids, lengths = self._encode(rows)
        cs, js = [], []
        with torch.no_grad():
            for b in range(0, len(ids), 512):
                c, j = self.model(ids[b : b + 512], lengths[b : b + 512])
                cs.append(torch.log_softmax(c.double(), -1).numpy())
                js.append(torch.log_softmax(j.double(), -1).numpy())
        return np.concatenate(cs), np.concatenate(js)

    def save(self, out_dir: str | Path) -> None:
        """``baseline.json`` (kind, config, catalog ids, training history) + ``model.safetensors``."""
        from safetensors.torch import save_file

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "kind": self.name,
            "course_ids": self.course_ids,
            "job_ids": self.job_ids,
            "params": self.cfg,
            "history": self.history,
        }
        _write_json(out / "baseline.json", meta)
        save_file(
            {k: v.contiguous() for k, v in self.model.state_dict().items()}, str(out / "model.safetensors")
        )

    @classmethod
    def load(cls, out_dir: str | Path) -> GRUBaseline:
        from safetensors.torch import load_file

        out = Path(out_dir)
        meta = json.loads((out / "baseline.json").read_text(encoding="utf-8"))
        if meta.get("kind") != cls.name:
            raise ValueError(f"{out}/baseline.json: kind {meta.get('kind')!r}, expected {cls.name!r}")
        obj = cls(**meta["params"])
        obj.course_ids, obj.job_ids, obj.history = (
            meta["course_ids"],
            meta["job_ids"],
            meta.get("history", []),
        )
        obj._build_vocab()
        obj.model = obj._build_model()
        obj.model.load_state_dict(load_file(str(out / "model.safetensors")))
        obj.model.eval()
        return obj


# -- the oracle ceiling ------------------------------------------------------------------------
def _id_rank(ids: Sequence[str]) -> np.ndarray:
    """0 for the lexicographically smallest id, 1 for the next, ..., in catalog order."""
    order = np.argsort(np.array(ids, dtype=object), kind="stable")
    rank = np.empty(len(ids))
    rank[order] = np.arange(len(ids))
    return rank


class OracleScorer:
    """The generator's probabilities as a scorer: the ceiling, scored by the same code as the rest.

    ``which="probs_visible"`` is Bayes-optimal given the input text (the ceiling to approach);
    ``which="probs"`` also knows the hidden traits. Items the generator gives no mass get log 0 = -inf.
    """

    def __init__(
        self,
        course_ids: Sequence[str],
        job_ids: Sequence[str],
        which: str = "probs_visible",
        catalog: Catalog | None = None,
    ) -> None:
        if which not in ("probs", "probs_visible"):
            raise ValueError(f"which must be 'probs' or 'probs_visible', got {which!r}")
        self.course_ids, self.job_ids, self.which = list(course_ids), list(job_ids), which
        # with the catalog, the generator's small course probabilities (one sum in the rows) are
        # spread over the courses the person could take, as the generator gave them; without it
        # over every course the row does not list (a lower, wrong ceiling on log-loss)
        self._eligible = None
        if catalog is not None and list(catalog.courses) == self.course_ids:
            self._eligible = CourseEligibility(catalog)
        self.name = "oracle" if which == "probs_visible" else "oracle_traits_known"

    def score(self, rows: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
        c_index = {c: i for i, c in enumerate(self.course_ids)}
        j_index = {j: i for i, j in enumerate(self.job_ids)}
        j_index[STAY] = len(self.job_ids)
        course = np.zeros((len(rows), len(self.course_ids)))
        job = np.zeros((len(rows), len(self.job_ids) + 1))
        for i, r in enumerate(rows):
            probs = r.get(self.which) or {}
            for k, p in (probs.get("course") or {}).items():
                if k in c_index:
                    course[i, c_index[k]] = p
            # the build stores small course probabilities as one sum: spread it over the others
            rest = course[i] == 0
            if self._eligible is not None and r.get("skill_ids") is not None:
                ok = rest & self._eligible(r["skill_ids"], r.get("course_ids", ()))
                rest = ok if ok.any() else rest
            if probs.get("course_other") and rest.any():
                course[i, rest] = probs["course_other"] / rest.sum()
            for k, p in (probs.get("job") or {}).items():
                if k in j_index:
                    job[i, j_index[k]] = p
        # Equal probabilities are real (two courses alike in skills, hours and level); break them
        # by id as the dataset build does, so the ceiling is the accuracy of an actual predictor
        # rather than of one that loses every tie.
        course = course * (1 - 1e-9 * _id_rank(self.course_ids))
        job = job * (1 - 1e-9 * _id_rank(self.job_ids + [STAY]))
        return _log_normalise(course), _log_normalise(job)


def _data_catalog(data_dir: Path) -> Catalog | None:
    """The catalog a dataset was built from (its ``catalog/`` folder), or None."""
    from data_prep.catalog import load_catalog

    folder = Path(data_dir) / "catalog"
    return load_catalog(folder) if folder.is_dir() else None


class GapRuleScorer:
    """The skill-gap rule as a scorer, no learning: the catalog context's retriever
    (``data_prep/context.py``) ranks eligible courses by how much of the gap to the next step and
    the goal they close; the person moves to the next step when the top course would bring its
    required skills to ``move_threshold`` coverage, and stays otherwise.

    It is what a content-based recommender knows from the catalog alone, and what the model's
    ``best``/``options`` input fields are made from, so the model has to beat it to add anything.
    Probabilities: a softmax over the gap scores (ineligible courses share ``floor`` of the mass);
    for jobs, ``rule_prob`` on the rule's choice, the rest spread over the others.
    """

    name = "gap_rule"

    def __init__(
        self,
        retriever,
        job_ids: Sequence[str],
        move_threshold: float | None = None,
        floor: float = 0.01,
        rule_prob: float = 0.8,
    ) -> None:
        self.retriever = retriever
        self.course_ids = list(retriever.course_ids)
        self.job_ids = list(job_ids)
        # the context's own readiness threshold (ready_after) unless told otherwise
        self.move_threshold = retriever.cfg.move_threshold if move_threshold is None else move_threshold
        self.floor, self.rule_prob = floor, rule_prob

    def score(self, rows: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
        cat = self.retriever.catalog
        j_index = {j: i for i, j in enumerate(self.job_ids)}
        course = np.zeros((len(rows), len(self.course_ids)))
        job = np.full((len(rows), len(self.job_ids) + 1), (1 - self.rule_prob) / len(self.job_ids))
        for i, r in enumerate(rows):
            skills = list(r.get("skill_ids") or [])
            hop, gain = self.retriever.scores(
                r.get("job_id"), r.get("goal_id"), skills, r.get("course_ids") or []
            )
            ok = np.isfinite(gain)
            if ok.any():
                z = np.exp(gain[ok] - gain[ok].max())
                course[i, ok] = (1 - self.floor) * z / z.sum()
            rest = ~ok
            if rest.any():
                course[i, rest] = (self.floor if ok.any() else 1.0) / rest.sum()
            choice = len(self.job_ids)  # stay
            if hop and ok.any():
                top = cat.courses[self.course_ids[int(np.argmax(np.where(ok, gain, -np.inf)))]]
                if ready_to_move(set(skills) | set(top.skills), cat.jobs[hop], self.move_threshold):
                    choice = j_index.get(hop, choice)
            job[i, choice] = self.rule_prob
        # ties in catalog order, as the retriever lists them
        course = course * (1 - 1e-9 * np.arange(len(self.course_ids)) / len(self.course_ids))
        return _log_normalise(course), _log_normalise(job)


# -- loading and the command -------------------------------------------------------------------
BASELINES = {
    "popularity": PopularityBaseline,
    "stay_rule": StayRuleBaseline,
    "markov": MarkovBaseline,
    "gru": GRUBaseline,
}


def load_baseline(path: str | Path):
    """Load any saved baseline from its folder (the kind is read from ``baseline.json``)."""
    meta_path = Path(path) / "baseline.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path}: missing; train with `careerpath baselines train`")
    kind = json.loads(meta_path.read_text(encoding="utf-8")).get("kind")
    if kind not in BASELINES:
        raise ValueError(f"{meta_path}: unknown kind {kind!r}; expected one of {', '.join(BASELINES)}")
    return BASELINES[kind].load(path)


def train_baselines(
    data_dir: str | Path,
    out_dir: str | Path,
    only: Sequence[str] = tuple(BASELINES),
    seed: int = 0,
    log=print,
) -> dict[str, dict]:
    """Fit, save (``OUT/<name>/``) and score on validation each baseline in ``only``; returns the metrics."""
    unknown = [n for n in only if n not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; choose from {', '.join(BASELINES)}")
    course_ids, job_ids = read_catalog_ids(data_dir)
    train, val = load_split(data_dir, "train"), load_split(data_dir, "validation")
    results = {}
    for name in only:
        started = time.time()
        if name == "gru":
            model = GRUBaseline(seed=seed).fit(train, course_ids, job_ids, val_rows=val, log=log)
        else:
            model = BASELINES[name]().fit(train, course_ids, job_ids)
            if name == "markov" and val:
                model.tune_alpha(val)
                log(f"markov: alpha = {model.alpha} (validation log-loss)")
        model.save(Path(out_dir) / name)
        res = evaluate_scorer(model, val, course_ids, job_ids)
        res["seconds"] = round(time.time() - started, 2)
        _write_json(Path(out_dir) / name / "validation_metrics.json", res)
        results[name] = res
    return results


def format_results(results: dict[str, dict]) -> str:
    """A small fixed-width table: course / job / job-move Acc@1 and MRR per method."""
    head = f"{'method':<22}{'course acc@1':>13}{'course mrr':>11}{'job acc@1':>10}{'job mrr':>9}{'move acc@1':>11}{'move mrr':>9}"
    lines = [head]
    for name, r in results.items():
        c, j, m = r["next_course"], r["next_job"], r["next_job_moves"]
        lines.append(
            f"{name:<22}{c['acc@1']:>13.3f}{c['mrr']:>11.3f}{j['acc@1']:>10.3f}{j['mrr']:>9.3f}"
            f"{m['acc@1']:>11.3f}{m['mrr']:>9.3f}"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from careerpath.cli_common import ArgumentParser, HelpFormatter, add_json_flag

    parser = ArgumentParser(
        prog="careerpath baselines", description="fit and save the baselines", formatter_class=HelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    train = sub.add_parser(
        "train",
        help="fit each baseline on train, save it, print validation metrics",
        description="fit each baseline on train, save it, print validation metrics",
        formatter_class=HelpFormatter,
    )
    train.add_argument("--data", required=True, help="dataset folder from `careerpath data build`")
    train.add_argument("--out", required=True, help="output folder; each baseline goes to OUT/<name>/")
    train.add_argument(
        "--only", default=",".join(BASELINES), help=f"comma-separated subset of {','.join(BASELINES)}"
    )
    train.add_argument("--seed", type=int, default=0, help="seed for the GRU")
    add_json_flag(train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``careerpath baselines train --data DIR --out DIR [--only popularity,markov,gru] [--seed N] [--json]``."""
    from careerpath.cli_common import print_json, require_path

    args = build_parser().parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(BASELINES))
    if unknown:
        raise ValueError(
            f"--only: unknown baseline(s) {', '.join(unknown)}; choose from {', '.join(BASELINES)}"
        )
    require_path(args.data, "--data", "dir", hint="build one with `careerpath data build`")
    for split in ("train", "validation"):
        require_path(
            Path(args.data) / f"{split}.jsonl",
            "--data",
            "file",
            hint="a dataset from `careerpath data build`",
        )
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print  # stdout: the JSON alone
    results = train_baselines(args.data, args.out, only, seed=args.seed, log=log)
    course_ids, job_ids = read_catalog_ids(args.data)
    val = load_split(args.data, "validation")
    if val and val[0].get("probs_visible"):
        results["oracle (ceiling)"] = evaluate_scorer(
            OracleScorer(course_ids, job_ids, catalog=_data_catalog(args.data)), val, course_ids, job_ids
        )
    if args.json:
        print_json({"out": str(args.out), "validation_rows": len(val), "validation": results})
        return 0
    print(
        f"validation ({len(val)} rows, full catalog: {len(course_ids)} courses, {len(job_ids)} jobs + stay)"
    )
    print(format_results(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
