"""Scorers that are not trained: the generator's own probabilities (the oracle ceiling) and the
catalog's skill-gap rule, scored by the same code as the model and the baselines.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from careerpath.core.catalog import Catalog, load_catalog
from careerpath.core.context import CourseEligibility
from careerpath.core.progression import ready_to_move
from careerpath.core.textformat import STAY
from careerpath.eval.baselines_models import _log_normalise


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
    folder = Path(data_dir) / "catalog"
    return load_catalog(folder) if folder.is_dir() else None


class GapRuleScorer:
    """The skill-gap rule as a scorer, no learning: the catalog context's retriever
    (``careerpath/core/context.py``) ranks eligible courses by how much of the gap to the next step and
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
