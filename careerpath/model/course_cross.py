"""The model's job-by-course interaction: what people in a given job prefer among courses, learned.

The course prior (careerpath/model/prior.py) weighs each course by the person's skill gap and by
the taste their past choices reveal (length and level); it never looks at *who* offers a course or
at how that preference varies with the person's job. The tiny T5 can in principle learn that from
the text, but it has to carry the job from the encoder to the next-course position and map it to
course attributes, from a few thousand rows; it learns a third of it (docs/priors.md). This module
gives the model that interaction directly, as a bilinear term between what the person's job is
and what each course is:

    logit(course) += a(job) . A . b(course)

- a(job) = (1, one-hot family, one-hot level) of the job held now (only the 1 for a job the catalog
  does not know);
- b(course) = (one-hot provider, one-hot cluster, one-hot level) of the course;
- A: one learned matrix, fitted on the training rows by maximum likelihood of their next courses
  with the course prior as an offset (a conditional logit over the courses each person could take,
  L2-penalised, L-BFGS), the penalty chosen on the validation rows' log-loss, and left out when no
  penalty beats the prior alone there (so on data the prior describes, the model is the prior).

It is part of the model, not of the priors: ``careerpath evaluate``'s "priors alone" baseline does
not have it. :class:`CrossedPrior` adds it to the course prior wherever the model's scores meet the
prior (the loss, catalog scoring, generation, pathways), so the T5 is trained as a residual on both.
Saved as ``course_cross.safetensors`` (the matrix, with the feature names in its metadata, so the
interaction binds to a catalog by name).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file

from careerpath.core.catalog import Catalog
from careerpath.model.prior_base import EXCLUDED, CoursePrior, TextMemo, one_thread

log = logging.getLogger(__name__)

CROSS_FILE = "course_cross.safetensors"
PENALTIES = (1e-2, 1e-3, 1e-4)  # L2 strengths tried, chosen on validation log-loss
MAX_ROWS = 8000  # training rows the fit reads (a deterministic spread over the rows)


def job_feature_names(catalog: Catalog) -> list[str]:
    fams = sorted({j.family for j in catalog.jobs.values()})
    levels = sorted({j.level for j in catalog.jobs.values()})
    return ["bias"] + [f"family={f}" for f in fams] + [f"job_level={v}" for v in levels]


def course_feature_names(catalog: Catalog) -> list[str]:
    courses = catalog.courses.values()
    return (
        [f"provider={p}" for p in sorted({c.provider for c in courses})]
        + [f"cluster={k}" for k in sorted({c.cluster for c in courses if c.cluster >= 0})]
        + [f"course_level={v}" for v in sorted({c.level for c in courses})]
    )


class CourseCross:
    """The learned interaction ``a(job) . A . b(course)`` over one catalog (see the module docstring)."""

    def __init__(self, catalog: Catalog, job_names: list[str], course_names: list[str], matrix: np.ndarray):
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.shape != (len(job_names), len(course_names)) or not np.isfinite(matrix).all():
            raise ValueError(
                f"a course interaction needs a finite {len(job_names)} x {len(course_names)} matrix, "
                f"got shape {matrix.shape}"
            )
        self.catalog, self.job_names, self.course_names = catalog, list(job_names), list(course_names)
        self.matrix = matrix
        col = {n: i for i, n in enumerate(self.course_names)}
        # b(course) for every catalog course; names the matrix was not fitted on stay 0
        b = np.zeros((len(catalog.courses), len(self.course_names)))
        for r, c in enumerate(catalog.courses.values()):
            for name in (f"provider={c.provider}", f"cluster={c.cluster}", f"course_level={c.level}"):
                if name in col:
                    b[r, col[name]] = 1.0
        self._course_feats = b
        self._row = {n: i for i, n in enumerate(self.job_names)}
        self._by_job: dict[str, np.ndarray] = {}

    def job_features(self, job: str) -> np.ndarray:
        a = np.zeros(len(self.job_names))
        j = self.catalog.jobs.get(job)
        names = ["bias"] + ([f"family={j.family}", f"job_level={j.level}"] if j is not None else [])
        for name in names:
            if name in self._row:
                a[self._row[name]] = 1.0
        return a

    def logits(self, job: str) -> np.ndarray:
        """float64 [n_courses]: the interaction's logit of every catalog course for someone in ``job``."""
        hit = self._by_job.get(job)
        if hit is None:
            hit = self._course_feats @ (self.job_features(job) @ self.matrix)
            self._by_job[job] = hit
        return hit

    def save(self, folder: str | Path) -> None:
        meta = {"job_features": json.dumps(self.job_names), "course_features": json.dumps(self.course_names)}
        save_file({"matrix": self.matrix.astype(np.float32)}, str(Path(folder) / CROSS_FILE), metadata=meta)

    @classmethod
    def load(cls, folder: str | Path, catalog: Catalog) -> CourseCross | None:
        path = Path(folder) / CROSS_FILE
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
            matrix = load_file(str(path))["matrix"]
            return cls(catalog, json.loads(meta["job_features"]), json.loads(meta["course_features"]), matrix)
        except (KeyError, ValueError, TypeError, OSError, SafetensorError) as err:
            raise ValueError(
                f"{path}: not a valid course interaction file ({err}); retrain the model"
            ) from err

    # -- fitting ----------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls, prior: CoursePrior, train_rows: list[dict], val_rows: list[dict]
    ) -> tuple[CourseCross | None, dict]:
        """The interaction fitted on ``train_rows`` with ``prior`` as the offset, at the penalty of
        :data:`PENALTIES` with the lowest validation log-loss; None when none beats the prior alone
        on ``val_rows`` (or there are too few rows). Returns (interaction or None, report)."""
        catalog = prior.catalog
        job_names, course_names = job_feature_names(catalog), course_feature_names(catalog)
        probe = cls(catalog, job_names, course_names, np.zeros((len(job_names), len(course_names))))
        train = _design(prior, probe, _spread(train_rows, MAX_ROWS))
        val = _design(prior, probe, _spread(val_rows, MAX_ROWS))
        report: dict = {"rows": {"train": len(train[2]), "validation": len(val[2])}}
        if len(train[2]) < 50 or len(val[2]) < 20:
            report["chosen"] = None
            report["why"] = "too few rows with a next course the prior allows"
            return None, report
        base = _loss(val, torch.zeros(len(job_names), len(course_names), dtype=torch.float64))
        report["validation_log_loss"] = {"prior": round(base, 5)}
        best, best_loss = None, base
        with one_thread():
            for lam in PENALTIES:
                a = _fit_matrix(train, lam)
                loss = _loss(val, a)
                report["validation_log_loss"][str(lam)] = round(loss, 5)
                if loss < best_loss - 1e-4:
                    best, best_loss = (lam, a), loss
        if best is None:
            report["chosen"] = None
            report["why"] = "no penalty beat the prior alone on validation"
            return None, report
        report["chosen"] = best[0]
        return cls(catalog, job_names, course_names, best[1].numpy()), report


def _spread(rows: list[dict], n: int) -> list[dict]:
    if len(rows) <= n:
        return rows
    step = len(rows) / n
    return [rows[int(i * step)] for i in range(n)]


def _design(prior: CoursePrior, probe: CourseCross, rows: list[dict]):
    """(prior offsets [n, courses] with ineligible courses very negative, a(job) [n, job features],
    gold course index [n], b(course) [courses, course features]) of the rows whose next course the
    prior allows."""
    pos = {c: i for i, c in enumerate(prior.course_ids)}
    offs, jobs, gold = [], [], []
    for r in rows:
        g = pos.get(r.get("next_course_id") or "")
        if g is None:
            continue
        v = np.asarray(prior.for_row(r), dtype=np.float64)
        if v[g] <= EXCLUDED / 2:
            continue
        offs.append(np.where(v <= EXCLUDED / 2, -1e4, v))
        jobs.append(probe.job_features(r.get("job_id") or ""))
        gold.append(g)
    n_c = len(prior.course_ids)
    return (
        torch.tensor(np.array(offs).reshape(-1, n_c)),
        torch.tensor(np.array(jobs).reshape(-1, len(probe.job_names))),
        torch.tensor(gold, dtype=torch.long),
        torch.tensor(probe._course_feats),
    )


def _logits(design, a: torch.Tensor) -> torch.Tensor:
    offs, jobs, _, feats = design
    return offs + (jobs @ a) @ feats.T


def _loss(design, a: torch.Tensor) -> float:
    return float(torch.nn.functional.cross_entropy(_logits(design, a), design[2]))


def _fit_matrix(design, lam: float) -> torch.Tensor:
    a = torch.zeros(design[1].shape[1], design[3].shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([a], max_iter=300, tolerance_grad=1e-7, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(_logits(design, a), design[2]) + lam * (a**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    out = a.detach()
    if not torch.isfinite(out).all():
        raise ValueError("the course interaction fit diverged (non-finite weights)")
    return out


class CrossedPrior:
    """The course prior with the model's :class:`CourseCross` added (what the model's scores meet:
    the loss, catalog scoring, generation). Everything else is the prior's own; :attr:`base` is the
    prior alone (what ``careerpath evaluate`` reports as the priors' baseline)."""

    def __init__(self, base: CoursePrior, cross: CourseCross):
        self.base, self.cross = base, cross
        self._memo = TextMemo()

    def __getattr__(self, name):  # catalog, retriever, course_ids, course_tokens, eligible, ...
        if name.startswith("__") or name in ("base", "cross"):  # copy/pickle probes, half-built objects
            raise AttributeError(name)
        return getattr(self.base, name)

    @property
    def model_scale(self) -> float:
        return self.base.model_scale

    @model_scale.setter
    def model_scale(self, value: float) -> None:
        self.base.model_scale = value

    def vector(self, job: str, goal: str, skills, taken=(), history=()) -> np.ndarray:
        v = self.base.vector(job, goal, skills, taken, history).astype(np.float64)
        ok = v > EXCLUDED / 2
        v[ok] += self.cross.logits(job)[ok]
        return v.astype(np.float32)

    # the prior's own row, text and generation paths, each reading this object's vector and memo
    for_row = CoursePrior.for_row
    note = CoursePrior.note
    for_text = CoursePrior.for_text
    for_texts = CoursePrior.for_texts
    processor = CoursePrior.processor

    def save(self, folder: str | Path) -> None:
        self.base.save(folder)
        self.cross.save(folder)


def prior_alone(prior):
    """The course prior without the model's interaction (itself when it has none)."""
    return prior.base if isinstance(prior, CrossedPrior) else prior


def with_cross(prior: CoursePrior | None, folder: str | Path):
    """``prior`` with the interaction saved in ``folder`` (``prior`` itself when there is none)."""
    if prior is None:
        return None
    cross = CourseCross.load(folder, prior.catalog)
    return prior if cross is None else CrossedPrior(prior, cross)
