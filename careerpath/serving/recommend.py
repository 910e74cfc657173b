"""The recommendation engine: ranked next courses and jobs, and goal-directed pathways, explained.

Only real catalog items come out: rankings are exact over the whole catalog (every course and job
scored by :class:`careerpath.model.scoring.CatalogScorer`), and the person's exclusions and caps are
applied as masks before ranking. Pathways come from :mod:`careerpath.serving.planner`: the shortest plan
in hours (exact), and by default a plan that takes the model's most likely worthwhile course at
each step while it can still reach the goal within 1.2x the shortest plan's hours; no step cap
unless the person sets a budget. Unreachable goals are said to be so, with what is missing.
Every explanation is computed from the catalog, never generated (docs/pathways.md).

This module is the Recommender API (loading, profiles, masks, ``recommend``); the pathway half
lives in :mod:`careerpath.serving.recommend_pathway` and the dataclasses in :mod:`careerpath.serving.recommend_types`,
both re-exported here.
"""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np

from careerpath.core.catalog import Catalog, Course
from careerpath.core.context import ContextConfig, GapRetriever
from careerpath.core.metrics import top_k as shared_top_k
from careerpath.core.profile import ProfileResolver, ResolvedProfile
from careerpath.core.progression import Progression, coverage, skill_gap
from careerpath.core.textformat import STAY
from careerpath.curation.clustering import diversify as spread
from careerpath.model.bundle import ModelBundle, find_catalog
from careerpath.model.reranker import Reranker
from careerpath.model.scoring import CatalogScorer
from careerpath.serving.planner import Planner
from careerpath.serving.recommend_pathway import PathwayPlanning
from careerpath.serving.recommend_types import (
    Constraints,
    PathStep,
    Pathway,
    Recommendation,
    _as_dict,
    _Beam,
)

# the public API lives here; the dataclasses and the pathway half are defined next door
__all__ = [
    "Constraints",
    "PathStep",
    "Pathway",
    "Recommendation",
    "Recommender",
    "_Beam",
    "find_catalog",
    "settle_heap",
]


def settle_heap() -> int:
    """For a serving process, once it has loaded everything (``careerpath serve``, the Space):
    collect, then ``gc.freeze()`` what is left, so that the collector's full passes skip the
    objects of start-up (about 500,000: torch, gradio, the model, the catalog). A full pass holds
    the interpreter lock, so no request runs meanwhile: while `benchmarks/demo_load.py` served its
    200 messages one came and took 340-360 ms, and 70-85 ms with the start-up frozen
    (docs/performance.md). Returns how many objects are frozen. Not for library code or tests:
    frozen objects are not collected as cycles."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class Recommender(PathwayPlanning):
    """Loads a trained model with its catalog and answers ``recommend`` and ``pathway``."""

    def __init__(
        self,
        model,
        tokenizer,
        kind: str,
        catalog: Catalog,
        move_threshold: float | None = None,
        use_embeddings: bool = True,
        model_version: str = "",
        context: ContextConfig | None = None,
        progression: Progression | None = None,
        assume_job_skills: bool = True,
        retriever: GapRetriever | None = None,
    ):
        """``context``: the catalog context the model's training inputs had (``context.json`` of
        the model folder; None for a model trained without it). ``progression``: the transition
        graph the dataset was built with (default settings when None). ``assume_job_skills``: a
        profile with a job but no skills is taken to hold the job's required skills
        (:meth:`ResolvedProfile.with_job_skills`). ``retriever``: the context's gap rule, already
        built (a model folder's, shared with its priors), instead of building it here."""
        self.catalog = catalog
        self.assume_job_skills = assume_job_skills
        self.scorer = CatalogScorer(model, tokenizer, catalog, kind=kind)
        self.resolver = ProfileResolver(catalog, use_embeddings=use_embeddings)
        self.progression = progression or Progression(catalog)
        if retriever is not None:
            self.context = retriever
        else:
            self.context = (
                GapRetriever(catalog, self.progression, context) if context and context.enabled else None
            )
        # the one move rule: the context's threshold (ready_after), unless told otherwise
        if move_threshold is None:
            move_threshold = (context or ContextConfig()).move_threshold
        self.move_threshold = move_threshold
        self.planner = Planner(catalog, self.progression, move_threshold)
        self.model_version = model_version
        # where a catalog move comes from (e.g. the observed share of leavers, US CPS), for job reasons
        self._move_why = {(t.from_job, t.to_job): t.why for t in catalog.transitions if t.why}
        self._course_pos = {c: i for i, c in enumerate(catalog.courses)}
        self._job_pos = {j: i for i, j in enumerate(list(catalog.jobs) + [STAY])}
        self._skill_pos = {s: i for i, s in enumerate(catalog.skills)}
        self._prereq_m = np.zeros((len(catalog.courses), len(catalog.skills)), dtype=np.float32)
        for i, c in enumerate(catalog.courses.values()):
            for s in c.prerequisites:
                self._prereq_m[i, self._skill_pos[s]] = 1.0
        self._cons_cache: dict[tuple, np.ndarray] = {}
        # for the skill-gap fallback: the courses teaching each skill, and those with prerequisites
        self._course_list = list(catalog.courses.values())
        self._course_skill = np.zeros((len(self._course_list), len(catalog.skills)))
        for i, c in enumerate(self._course_list):
            for s in c.skills:
                self._course_skill[i, self._skill_pos[s]] = 1.0
        self.reranker = None  # careerpath.model.reranker.Reranker, learned from feedback, when present
        self._texts: dict[tuple, str] = {}  # model inputs of planning states (_text_of)
        self._priors: dict[tuple, np.ndarray] = {}  # course priors of planning states (_prior_of)

    @classmethod
    def from_pretrained(
        cls, model_dir: str | Path, catalog_dir: str | Path | None = None, **kwargs
    ) -> Recommender:
        """A training output folder (full model or LoRA adapter) or a Hub model id (``user/name``,
        downloaded or found in the local Hub cache); the catalog travels with the model."""
        return cls.from_bundle(ModelBundle.load(model_dir, catalog_dir=catalog_dir), **kwargs)

    @classmethod
    def from_bundle(cls, bundle: ModelBundle, **kwargs) -> Recommender:
        """The recommender of a loaded model folder (:class:`~careerpath.model.bundle.ModelBundle`):
        its catalog, catalog context, progression graph, priors and learned re-ranker."""
        if bundle.progression is not None:
            kwargs.setdefault("progression", bundle.progression)
        kwargs.setdefault("context", bundle.context)
        kwargs.setdefault("model_version", bundle.version)
        if kwargs["context"] is bundle.context and kwargs.get("progression") is bundle.progression:
            kwargs.setdefault("retriever", bundle.retriever)  # one gap rule for inputs and priors, built once
        rec = cls(bundle.model, bundle.tokenizer, bundle.kind, bundle.catalog, **kwargs)
        # a model trained as a residual on its priors needs them (None: none)
        rec.scorer.prior, rec.scorer.job_prior = bundle.prior, bundle.job_prior
        rec.reranker = Reranker.load(bundle.folder)
        return rec

    # -- profiles ------------------------------------------------------------------------
    def resolve(
        self, profile=None, *, text: str | None = None, goal: str | None = None, **fields
    ) -> ResolvedProfile:
        """``profile`` may be a ResolvedProfile, free text, or a dict of fields (job, skills, courses, history)."""
        if isinstance(profile, ResolvedProfile):
            prof = profile
        elif isinstance(profile, str) or text:
            prof = self.resolver.from_text(text or profile)
        else:
            prof = self.resolver.from_fields(**{**(profile or {}), **fields})
        if goal:
            self.resolver.from_fields(goal=goal, prof=prof)
        # courses taken imply their skills, however the profile was built
        for c in prof.courses:
            prof.skills.extend(s for s in self.catalog.courses[c].skills if s not in prof.skills)
        # a copy: the caller's profile (the demo's conversation state) keeps what the person said
        return prof.with_job_skills(self.catalog) if self.assume_job_skills else prof

    # -- masks -----------------------------------------------------------------------------
    def _course_allowed(self, c: Course, taken: set[str], cons: Constraints) -> bool:
        excluded = {x.lower() for x in cons.exclude_courses}
        if c.id in taken or c.id.lower() in excluded or c.title.lower() in excluded:
            return False
        if c.provider.lower() in {p.lower() for p in cons.exclude_providers}:
            return False
        if cons.max_hours is not None and c.hours > cons.max_hours:
            return False
        return cons.max_level is None or c.level <= cons.max_level

    def _constraint_mask(self, cons: Constraints) -> np.ndarray:
        """True where a course is ruled out by the person's constraints (cached per constraints)."""
        key = (tuple(cons.exclude_courses), tuple(cons.exclude_providers), cons.max_hours, cons.max_level)
        if key not in self._cons_cache:
            self._cons_cache[key] = np.array(
                [not self._course_allowed(c, set(), cons) for c in self.catalog.courses.values()]
            )
        return self._cons_cache[key]

    def _course_mask(self, taken: set[str], cons: Constraints, skills: set[str] | None = None) -> np.ndarray:
        """True where a course may NOT be recommended (``skills`` given: prerequisites must be met)."""
        mask = self._constraint_mask(cons).copy()
        for c in taken:
            mask[self._course_pos[c]] = True
        if skills is not None:
            lacking = np.ones(len(self._skill_pos), dtype=np.float32)
            for s in skills:
                lacking[self._skill_pos[s]] = 0.0
            mask |= (self._prereq_m @ lacking) > 0
        return mask

    # -- explanations ------------------------------------------------------------------------
    def _course_reason(self, c: Course, skills: set[str], target: str | None, goal: str | None) -> str:
        new = [s for s in c.skills if s not in skills]
        names = self.catalog.skill_names
        for job_id, label in ((target, "your next move to"), (goal, "your goal")):
            if job_id:
                covers = [s for s in new if s in self.catalog.jobs[job_id].skills]
                if covers:
                    return f"covers {', '.join(names(covers))}, needed for {label} {self.catalog.jobs[job_id].title}"
        if new:
            return f"adds {', '.join(names(new))}"
        return "revises skills you already have"

    # -- recommend ---------------------------------------------------------------------------
    def recommend(
        self,
        profile=None,
        goal: str | None = None,
        top_k: int = 10,
        constraints: Constraints | None = None,
        diversify: bool = False,
        rerank: bool = True,
        demand_weight: float = 0.0,
        **fields,
    ) -> dict:
        """Top courses and next jobs for one profile, each with probability, skills added and a reason.

        ``diversify``: spread the top courses over the catalog's course clusters (``careerpath data
        cluster --write-catalog``): at most ceil(k / clusters) from one cluster, filled in rank order.
        ``rerank``: apply the re-ranker learned from feedback, when the model has one.
        ``demand_weight``: adjust to the job market (catalogs with demand weights, e.g. O*NET's Hot
        Technology / In Demand flags): ranking scores become log p + w x demand, where a job's demand
        is its own and a course's the highest demand among the skills it would add."""
        prof = self.resolve(profile, goal=goal, **fields)
        return self._answers([prof], top_k, constraints, diversify, rerank, demand_weight)[0]

    def recommend_many(
        self,
        profiles: list,
        top_k: int = 10,
        constraints: Constraints | None = None,
        diversify: bool = False,
        rerank: bool = True,
        demand_weight: float = 0.0,
        batch_size: int = 32,
    ) -> list[dict]:
        """:meth:`recommend` for many profiles (each a ResolvedProfile, free text or a dict of
        fields), scored ``batch_size`` at a time: one model call per batch instead of one per
        profile; the same answers as one :meth:`recommend` call each (tests/test_latency.py)."""
        if batch_size < 1:
            raise ValueError(f"batch_size {batch_size}: must be at least 1")
        profs = [self.resolve(p) for p in profiles]
        out: list[dict] = []
        for i in range(0, len(profs), batch_size):
            out += self._answers(
                profs[i : i + batch_size], top_k, constraints, diversify, rerank, demand_weight
            )
        return out

    def _answers(
        self,
        profs: list[ResolvedProfile],
        top_k: int,
        constraints: Constraints | None,
        diversify: bool,
        rerank: bool,
        demand_weight: float,
    ) -> list[dict]:
        """The answers of :meth:`recommend` for resolved profiles, their inputs scored together."""
        texts = [p.input_text(self.catalog, self.context) for p in profs]
        if self.scorer.prior is not None:
            for prof, text in zip(profs, texts):
                self.scorer.prior.note(text, prof.job, prof.goal, prof.skills, prof.courses, prof.history)
        course_lp, job_lp = self.scorer.score(texts, [sorted(set(p.skills)) for p in profs])
        return [
            self._answer(
                prof,
                text,
                course_lp[r : r + 1],
                job_lp[r : r + 1],
                top_k,
                constraints,
                diversify,
                rerank,
                demand_weight,
            )
            for r, (prof, text) in enumerate(zip(profs, texts))
        ]

    def _answer(
        self,
        prof: ResolvedProfile,
        text: str,
        course_lp: np.ndarray,
        job_lp: np.ndarray,
        top_k: int,
        constraints: Constraints | None,
        diversify: bool,
        rerank: bool,
        demand_weight: float,
    ) -> dict:
        """One profile's answer from its scores (``[1, n]`` rows)."""
        cons = constraints or Constraints()
        skills, taken = set(prof.skills), set(prof.courses)
        raw_course_lp, raw_job_lp = course_lp, job_lp  # probabilities shown stay the model's
        if demand_weight:
            course_lp, job_lp = self._demand_adjusted(course_lp, job_lp, skills, demand_weight)
        mask = self._course_mask(taken, cons)
        picked = self._pick_courses(prof, course_lp, mask, top_k, diversify, rerank)
        courses = self._course_items(prof, picked[:top_k], np.exp(raw_course_lp[0]), skills)
        jprobs = np.exp(raw_job_lp[0])
        jobs = self._job_items(prof, job_lp, jprobs, top_k, skills)
        return {
            "profile": prof.as_dict(self.catalog),
            "input_text": text,
            "warnings": list(prof.warnings),
            "next_courses": [_as_dict(r) for r in courses],
            "next_jobs": [_as_dict(r) for r in jobs],
            "p_stay": round(float(jprobs[-1]), 4),
        }

    def _pick_courses(
        self,
        prof: ResolvedProfile,
        course_lp: np.ndarray,
        mask: np.ndarray,
        top_k: int,
        diversify: bool,
        rerank: bool,
    ) -> list[int]:
        """Course indices in the order shown: the top of the ranking, re-ranked by feedback and
        spread over clusters when asked (the caller keeps the first ``top_k``)."""
        depth = max(top_k * (3 if diversify else 1), self.reranker.top_n if rerank and self.reranker else 0)
        picked = [i for i in shared_top_k(course_lp, depth, mask)[0] if i >= 0]
        if rerank and self.reranker is not None:  # re-order the model's top_n by what people liked
            n = self.reranker.top_n
            objs = [self.catalog.courses[self.scorer.course_ids[i]] for i in picked[:n]]
            family = self.catalog.jobs[prof.job].family if prof.job else None
            order = self.reranker.rerank(family, objs, course_lp[0][picked[:n]])
            picked = [picked[:n][j] for j in order] + picked[n:]
        if diversify:
            ids = [self.scorer.course_ids[i] for i in picked]
            cluster_of = {c: self.catalog.courses[c].cluster for c in ids}
            keep = set(spread(ids, cluster_of, top_k))
            picked = [i for i in picked if self.scorer.course_ids[i] in keep]
        return picked

    def _course_items(
        self, prof: ResolvedProfile, picked: list[int], probs: np.ndarray, skills: set[str]
    ) -> list[Recommendation]:
        """The picked courses with the model's probability, the skills they add and a reason."""
        hop = self.progression.next_hop(prof.job, prof.goal) if prof.job and prof.goal else prof.goal
        courses = []
        for i in picked:
            c = self.catalog.courses[self.scorer.course_ids[i]]
            reason = self._course_reason(c, skills, hop, prof.goal)
            missing = [p for p in c.prerequisites if p not in skills]
            if missing:
                reason += f"; first learn {', '.join(self.catalog.skill_names(missing))}"
            courses.append(
                Recommendation(
                    "course",
                    c.id,
                    c.title,
                    round(float(probs[i]), 4),
                    self.catalog.skill_names([s for s in c.skills if s not in skills]),
                    reason,
                    c.hours,
                    c.provider,
                    c.level,
                )
            )
        return courses

    def _job_items(
        self, prof: ResolvedProfile, job_lp: np.ndarray, jprobs: np.ndarray, top_k: int, skills: set[str]
    ) -> list[Recommendation]:
        """The top next jobs (not the current one, not "stay"), with the skills missing and a reason."""
        job_mask = np.array([j == prof.job or j == STAY for j in self.scorer.job_ids])
        jobs = []
        for i in (i for i in shared_top_k(job_lp, top_k, job_mask)[0] if i >= 0):
            job = self.catalog.jobs[self.scorer.job_ids[i]]
            cov = coverage(skills, job)
            gap = [s for s, _ in skill_gap(skills, job)]
            reason = f"you hold {cov:.0%} of its required skills"
            reason += f"; missing {', '.join(self.catalog.skill_names(gap[:4]))}" if gap else "; ready now"
            if (prof.job, job.id) in self._move_why:
                reason = f"{self._move_why[prof.job, job.id]}; {reason}"
            jobs.append(
                Recommendation(
                    "job",
                    job.id,
                    job.title,
                    round(float(jprobs[i]), 4),
                    self.catalog.skill_names(gap),
                    reason,
                    level=job.level,
                )
            )
        return jobs

    def _demand_adjusted(self, course_lp, job_lp, skills: set[str], weight: float):
        """Scores plus ``weight`` x market demand (ranking only; probabilities shown stay the model's)."""
        if not hasattr(self, "_job_demand"):
            self._job_demand = np.array(
                [self.catalog.jobs[j].demand for j in self.scorer.job_ids[:-1]] + [0.0]
            )
            self._skill_demand = {s.id: s.demand for s in self.catalog.skills.values()}
        course_bonus = np.array(
            [
                max(
                    (self._skill_demand[s] for s in self.catalog.courses[c].skills if s not in skills),
                    default=0.0,
                )
                for c in self.scorer.course_ids
            ]
        )
        return course_lp + weight * course_bonus, job_lp + weight * self._job_demand

    # -- pathway -----------------------------------------------------------------------------
