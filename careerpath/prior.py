"""The course prior: the skill-gap rule as a fixed expert that the model's next-course scores add to.

A product of experts (log-linear): the next-course distribution is

    p(course | profile) ∝ exp(model logit(course) + prior(course))

where ``prior(course)`` is ``weight x gap score`` (the :class:`~data_prep.context.GapRetriever`'s
importance-weighted share of the gap to the next step and the goal the course closes) for a course
that closes part of the gap, 0 for any other eligible course, and a large negative number for a
course the person cannot take (taken already, a prerequisite missing, nothing new to learn).

The prior is in the loss during training, so the model learns what the rule misses (a residual:
which courses this person prefers, from the courses they chose before) instead of re-learning the
gap arithmetic over the whole catalog, and it is in every path that turns the model's scores into
a course: catalog scoring (:class:`~careerpath.scoring.CatalogScorer`), generation
(:class:`CoursePriorProcessor`) and so recommendations, pathways and evaluation. ``weight`` is fitted
once, by maximum likelihood of the training rows' next courses under the prior alone, and saved
with the model (``course_prior.json``). Only for models whose course names are single tokens (the
tiny T5's catalog tokens): the prior then adds to one logit per course at one decoder position.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from scipy import sparse
from transformers import LogitsProcessor

from data_prep.catalog import Catalog
from data_prep.context import GapRetriever
from data_prep.textformat import parse_input

PRIOR_FILE = "course_prior.json"
# a course the person cannot take: finite, so that sums and gradients stay finite
EXCLUDED = -1.0e4


class CoursePrior:
    """``weight`` x gap score per catalog course, in catalog order; see the module docstring."""

    def __init__(self, retriever: GapRetriever, weight: float):
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"course prior weight must be a finite number >= 0, got {weight!r}")
        self.retriever, self.weight = retriever, float(weight)
        cat = retriever.catalog
        self.catalog = cat
        self.course_ids = list(cat.courses)
        skill_pos = {s: i for i, s in enumerate(cat.skills)}
        self._skill_pos = skill_pos
        shape = (len(self.course_ids), len(skill_pos))
        mats = []
        for attr in ("skills", "prerequisites"):
            rows = [i for i, c in enumerate(cat.courses.values()) for _ in getattr(c, attr)]
            cols = [skill_pos[s] for c in cat.courses.values() for s in getattr(c, attr)]
            m = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
            m.sum_duplicates()
            m.data[:] = 1.0
            mats.append(m)
        self._teach, self._require = mats
        self._n_teach = np.asarray(self._teach.sum(axis=1)).ravel()
        self._n_require = np.asarray(self._require.sum(axis=1)).ravel()
        self._course_pos = {c: i for i, c in enumerate(self.course_ids)}
        self._job_by_title = {j.title: j.id for j in cat.jobs.values()}
        self._skill_by_name = {s.name: s.id for s in cat.skills.values()}
        self._course_by_title = {c.title: c.id for c in cat.courses.values()}
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()

    # -- the prior of one profile ------------------------------------------------------------
    def eligible(self, skills, taken=()) -> np.ndarray:
        """Which courses the person can take: not taken, every prerequisite held, something new."""
        held = np.zeros(len(self._skill_pos))
        held[[self._skill_pos[s] for s in skills if s in self._skill_pos]] = 1.0
        ok = (self._require @ held >= self._n_require - 0.5) & (self._teach @ held < self._n_teach - 0.5)
        ok[[self._course_pos[c] for c in taken if c in self._course_pos]] = False
        return ok

    def vector(self, job: str, goal: str, skills, taken=()) -> np.ndarray:
        """float32 [n_courses]: ``weight`` x gap score, 0 for other eligible courses, EXCLUDED for
        courses the person cannot take."""
        _, score = self.retriever.scores(job, goal, skills, taken)
        out = np.where(np.isfinite(score), self.weight * np.where(np.isfinite(score), score, 0.0), 0.0)
        out[~self.eligible(skills, taken)] = EXCLUDED
        return out.astype(np.float32)

    def for_row(self, row: dict) -> np.ndarray:
        """The prior of a dataset row (its ``*_id`` fields)."""
        return self.vector(row["job_id"], row["goal_id"], row["skill_ids"], row["course_ids"])

    def for_text(self, text: str) -> np.ndarray:
        """The prior of a model input text (names read back to catalog ids; remembered)."""
        hit = self._memo.get(text)
        if hit is not None:
            self._memo.move_to_end(text)
            return hit
        p = parse_input(text, strict=False)
        vec = self.vector(
            self._job_by_title.get(p.job, ""),
            self._job_by_title.get(p.goal, ""),
            [self._skill_by_name[s] for s in p.skills if s in self._skill_by_name],
            [self._course_by_title[c] for c in p.courses if c in self._course_by_title],
        )
        self._memo[text] = vec
        while len(self._memo) > 4096:
            self._memo.popitem(last=False)
        return vec

    def for_texts(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.for_text(t) for t in texts]) if texts else np.zeros((0, len(self.course_ids)))

    def course_tokens(self, tokenizer) -> tuple[list[int], list[int]]:
        """(the token of each course, catalog order; the ids of ``next_course:``) for ``tokenizer``."""
        from careerpath.scoring import single_token_ids

        key = id(tokenizer)
        if getattr(self, "_tokens_for", None) != key:
            heads = [f"next_course: {self.catalog.courses[c].title}" for c in self.course_ids]
            tokens = single_token_ids(tokenizer, "next_course:", heads)
            if tokens is None:
                raise ValueError(
                    "the course prior needs one token per course name (the tiny T5's catalog tokens); "
                    "this tokenizer splits some course names"
                )
            prefix = tokenizer("next_course:", add_special_tokens=False)["input_ids"]
            self._tokens, self._tokens_for = (tokens, prefix), key
        return self._tokens

    def processor(self, tokenizer, texts: list[str], num_beams: int = 1) -> CoursePriorProcessor:
        """The logits processor adding this prior to ``generate`` over ``texts``."""
        tokens, prefix = self.course_tokens(tokenizer)
        return CoursePriorProcessor(self.for_texts(texts), tokens, prefix, num_beams)

    # -- fitting, saving, loading -----------------------------------------------------------------
    @classmethod
    def fit(cls, retriever: GapRetriever, rows: list[dict], max_rows: int = 3000) -> CoursePrior:
        """``weight`` maximising the mean log-likelihood of the rows' next courses under the prior
        alone (a softmax over the eligible courses): one concave parameter, golden-section search."""
        unit = cls(retriever, 1.0)
        scores, targets = [], []
        for row in rows[:max_rows]:
            c = unit._course_pos.get(row.get("next_course_id", ""))
            if c is None:
                continue
            vec = unit.for_row(row)
            if vec[c] <= EXCLUDED / 2:  # a choice the rule calls impossible cannot inform the weight
                continue
            keep = np.flatnonzero(vec > EXCLUDED / 2)
            scores.append(vec[keep].astype(np.float64))
            targets.append(int(np.searchsorted(keep, c)))
        if not scores:
            raise ValueError("no row to fit the course prior on (rows need next_course_id and *_id fields)")

        def nll(w: float) -> float:
            total = 0.0
            for s, t in zip(scores, targets, strict=True):
                z = w * s
                m = z.max()
                total += m + math.log(np.exp(z - m).sum()) - z[t]
            return total / len(scores)

        lo, hi = 0.0, 64.0
        g = (math.sqrt(5) - 1) / 2
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
        fa, fb = nll(a), nll(b)
        for _ in range(40):
            if fa < fb:
                hi, b, fb = b, a, fa
                a = hi - g * (hi - lo)
                fa = nll(a)
            else:
                lo, a, fa = a, b, fb
                b = lo + g * (hi - lo)
                fb = nll(b)
        return cls(retriever, round((lo + hi) / 2, 4))

    def save(self, folder: str | Path) -> None:
        data = {"weight": self.weight, "form": "weight x gap score; 0 other eligible; excluded ineligible"}
        (Path(folder) / PRIOR_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path, retriever: GapRetriever | None) -> CoursePrior | None:
        """The prior saved with a model (None when it has none). A model trained with a prior
        is only right with it: a prior file without the catalog context it needs is an error."""
        path = Path(folder) / PRIOR_FILE
        if not path.is_file():
            return None
        try:
            weight = float(json.loads(path.read_text(encoding="utf-8"))["weight"])
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: not a valid course prior file ({err}); retrain the model") from err
        if retriever is None:
            raise ValueError(
                f"{path}: the model was trained with a course prior, which needs the catalog context "
                f"(context.json) beside it; copy the training output folder whole"
            )
        return cls(retriever, weight)


class CoursePriorProcessor(LogitsProcessor):
    """Adds the prior to the next-course logits during ``generate``: at the decoder step after
    ``next_course:`` (the course is one token), each row's prior goes to the course tokens, then
    the row is renormalised (so beam scores stay log-probabilities)."""

    def __init__(self, bias: np.ndarray, course_tokens: list[int], prefix: list[int], num_beams: int = 1):
        self.bias = torch.as_tensor(bias, dtype=torch.float32)
        self.tokens = torch.tensor(course_tokens, dtype=torch.long)
        self.prefix = torch.tensor(prefix, dtype=torch.long)
        self.num_beams = num_beams

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        n = len(self.prefix)
        if input_ids.shape[1] != n + 1:  # decoder start token + the prefix
            return scores
        at = (input_ids[:, 1:] == self.prefix.to(input_ids.device)).all(dim=1)
        if not bool(at.any()):
            return scores
        rows = torch.arange(input_ids.shape[0], device=scores.device) // self.num_beams
        bias = self.bias.to(scores.device)[rows] * at.unsqueeze(1).to(scores.dtype)
        tokens = self.tokens.to(scores.device)
        scores = scores.clone()
        scores[:, tokens] = scores[:, tokens] + bias.to(scores.dtype)
        return torch.where(
            at.unsqueeze(1), torch.log_softmax(scores.float(), dim=-1).to(scores.dtype), scores
        )


def load_prior(
    model_dir: str | Path, catalog: Catalog, retriever: GapRetriever | None = None
) -> CoursePrior | None:
    """The course prior saved in a model folder, with the retriever of its ``context.json``
    (or ``retriever``), or None when the model has none."""
    if not (Path(model_dir) / PRIOR_FILE).is_file():
        return None
    if retriever is None:
        from data_prep.context import retriever_for

        retriever = retriever_for(model_dir, catalog)
    return CoursePrior.load(model_dir, retriever)
