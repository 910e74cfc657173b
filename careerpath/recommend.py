"""The recommendation engine: ranked next courses and jobs, and goal-directed pathways, explained.

Only real catalog items come out: rankings are exact over the whole catalog (every course and job
scored by :class:`careerpath.scoring.CatalogScorer`), and the person's exclusions and caps are
applied as masks before ranking. Pathways come from :mod:`careerpath.planner`: the shortest plan
in hours (exact), and by default a plan that takes the model's most likely worthwhile course at
each step while it can still reach the goal within 1.2x the shortest plan's hours; no step cap
unless the person sets a budget. Unreachable goals are said to be so, with what is missing.
Every explanation is computed from the catalog, never generated (docs/pathways.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from careerpath.job_prior import load_job_prior
from careerpath.metrics import top_k as shared_top_k
from careerpath.planner import PLACEHOLDER_PROVIDER, Budget, Plan, Planner, State
from careerpath.prior import load_prior
from careerpath.profile import ProfileResolver, ResolvedProfile
from careerpath.scoring import CatalogScorer
from data_prep.catalog import Catalog, Course, load_catalog
from data_prep.context import ContextConfig, GapRetriever, add_context, load_context_file, progression_for
from data_prep.progression import Progression, coverage, skill_gap
from data_prep.textformat import STAY, Profile, serialise_input

MIN_CONFIDENCE = 0.05  # a planned course below this probability marks the pathway as unsure
RATIO_BOUND = 1.2  # the default plan's hours stay within this factor of the shortest plan's
SKILL_GAP_MAX_STEPS = 1000  # the skill-gap rule stops when no course adds a wanted skill, long before


@dataclass
class Constraints:
    """What the person rules out."""

    exclude_courses: list[str] = field(default_factory=list)
    exclude_providers: list[str] = field(default_factory=list)
    max_hours: float | None = None
    max_level: int | None = None


@dataclass
class Recommendation:
    kind: str  # "course" or "job"
    id: str
    title: str
    probability: float
    skills_added: list[str]
    reason: str
    hours: float | None = None
    provider: str | None = None
    level: int | None = None


def _as_dict(r: Recommendation) -> dict:
    """``dataclasses.asdict`` for a Recommendation (flat fields; its one list is copied), faster."""
    d = dict(r.__dict__)
    d["skills_added"] = list(r.skills_added)
    return d


@dataclass
class PathStep:
    kind: str  # "course" or "job"
    id: str
    title: str
    skills_gained: list[str]
    gap_left: list[str]
    goal_coverage: float
    hours: float
    probability: float | None
    reason: str
    source: str  # "model", "shortest plan", "fewest steps", "skill-gap fallback" or "as far as possible"
    provider: str | None = None
    important: list[str] = field(
        default_factory=list
    )  # skills it adds that the next job or goal rates important
    placeholder: bool = False  # a generated stand-in: no real course in the catalog teaches its skill


@dataclass
class Pathway:
    goal: dict | None
    steps: list[PathStep]
    reached: bool
    total_hours: float
    confident: bool
    fallback: bool
    note: str
    shortest_hours: float | None = None  # hours of the shortest plan reaching the goal (None: none does)
    hours_ratio: float | None = None  # total_hours / shortest_hours, for a plan that reaches the goal
    course_steps: int = 0
    milestones: list[dict] = field(default_factory=list)  # one per job move, with the courses before it
    missing: list[str] = field(default_factory=list)  # what stops an unreachable goal
    placeholders: list[str] = field(default_factory=list)  # placeholder courses in the plan

    def as_dict(self) -> dict:
        return asdict(self)


def milestones(steps: list[PathStep]) -> list[dict]:
    """Steps grouped by job move: each milestone is the courses taken, then the move they allow
    (the last one has no move when the plan ends before a move)."""
    out, courses, hours = [], [], 0.0
    for s in steps:
        if s.kind == "course":
            courses.append(s.title)
            hours += s.hours
            continue
        out.append({"move_to": s.title, "job_id": s.id, "courses": courses, "hours": round(hours, 1)})
        courses, hours = [], 0.0
    if courses:
        out.append({"move_to": None, "job_id": None, "courses": courses, "hours": round(hours, 1)})
    return out


@dataclass
class _Beam:
    job: str | None
    skills: set[str]
    courses: list[str]
    history: list[str]
    logp: float = 0.0
    steps: list[PathStep] = field(default_factory=list)
    unsure: bool = False

    def reached(self, goal: str) -> bool:
        return self.job == goal


class Recommender:
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
    ):
        """``context``: the catalog context the model's training inputs had (``context.json`` of
        the model folder; None for a model trained without it). ``progression``: the transition
        graph the dataset was built with (default settings when None). ``assume_job_skills``: a
        profile with a job but no skills is taken to hold the job's required skills
        (:meth:`ResolvedProfile.with_job_skills`)."""
        self.catalog = catalog
        self.assume_job_skills = assume_job_skills
        self.scorer = CatalogScorer(model, tokenizer, catalog, kind=kind)
        self.resolver = ProfileResolver(catalog, use_embeddings=use_embeddings)
        self.progression = progression or Progression(catalog)
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
        self._teaches: dict[str, list[int]] = {}
        for i, c in enumerate(self._course_list):
            for s in c.skills:
                self._teaches.setdefault(s, []).append(i)
        self._with_prereqs = [c for c in self._course_list if c.prerequisites]
        self._course_skill = np.zeros((len(self._course_list), len(catalog.skills)))
        for i, c in enumerate(self._course_list):
            for s in c.skills:
                self._course_skill[i, self._skill_pos[s]] = 1.0
        self._negative_hours = [i for i, c in enumerate(self._course_list) if c.hours < 0]
        self.reranker = None  # careerpath.reranker.Reranker, learned from feedback, when present
        self._texts: dict[tuple, str] = {}  # model inputs of planning states (_text_of)

    @classmethod
    def from_pretrained(
        cls, model_dir: str | Path, catalog_dir: str | Path | None = None, **kwargs
    ) -> Recommender:
        """A training output folder (full model or LoRA adapter) or a Hub model id (``user/name``,
        downloaded or found in the local Hub cache); the catalog travels with the model."""
        from careerpath.hub import resolve_model_dir
        from careerpath.modeling import load_for_inference

        model_dir = resolve_model_dir(model_dir)
        catalog = load_catalog(catalog_dir or find_catalog(model_dir))
        model, tokenizer, kind = load_for_inference(model_dir)
        version = ""
        if (model_dir / "metrics.json").exists():
            version = json.loads((model_dir / "metrics.json").read_text()).get("model_version", "")
        info = load_context_file(model_dir)
        if info is not None and "progression" not in kwargs:
            kwargs["progression"] = progression_for(catalog, info)
        kwargs.setdefault("context", info["context"] if info else None)
        rec = cls(model, tokenizer, kind, catalog, model_version=version or model_dir.name, **kwargs)
        # a model trained as a residual on the skill-gap rule needs its course prior (None: none)
        rec.scorer.prior = load_prior(model_dir, catalog, rec.context)
        rec.scorer.job_prior = load_job_prior(model_dir, catalog, rec.context)
        from careerpath.reranker import Reranker

        rec.reranker = Reranker.load(model_dir)
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
        hop = self.progression.next_hop(prof.job, prof.goal) if prof.job and prof.goal else prof.goal
        courses = []
        probs = np.exp(raw_course_lp[0])
        depth = max(top_k * (3 if diversify else 1), self.reranker.top_n if rerank and self.reranker else 0)
        picked = [i for i in shared_top_k(course_lp, depth, mask)[0] if i >= 0]
        if rerank and self.reranker is not None:  # re-order the model's top_n by what people liked
            n = self.reranker.top_n
            objs = [self.catalog.courses[self.scorer.course_ids[i]] for i in picked[:n]]
            family = self.catalog.jobs[prof.job].family if prof.job else None
            order = self.reranker.rerank(family, objs, course_lp[0][picked[:n]])
            picked = [picked[:n][j] for j in order] + picked[n:]
        if diversify:
            from data_prep.clustering import diversify as spread

            ids = [self.scorer.course_ids[i] for i in picked]
            cluster_of = {c: self.catalog.courses[c].cluster for c in ids}
            keep = set(spread(ids, cluster_of, top_k))
            picked = [i for i in picked if self.scorer.course_ids[i] in keep]
        for i in picked[:top_k]:
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
        job_mask = np.array([j == prof.job or j == STAY for j in self.scorer.job_ids])
        jobs = []
        jprobs = np.exp(raw_job_lp[0])
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
        return {
            "profile": prof.as_dict(self.catalog),
            "input_text": text,
            "warnings": list(prof.warnings),
            "next_courses": [_as_dict(r) for r in courses],
            "next_jobs": [_as_dict(r) for r in jobs],
            "p_stay": round(float(jprobs[-1]), 4),
        }

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
    def _goal_state(self, beam: _Beam, goal: str) -> tuple[list[str], float]:
        job = self.catalog.jobs[goal]
        return self.catalog.skill_names([s for s, _ in skill_gap(beam.skills, job)]), coverage(
            beam.skills, job
        )

    def _state_after(self, start: _Beam, seq: list[str], goal: str) -> _Beam:
        """The job, skills, courses and history of :meth:`_replay`'s beam, without its steps and
        their explanations (what the model is asked about at each planning step)."""
        b = _Beam(start.job, set(start.skills), list(start.courses), list(start.history))
        for k in range(len(seq) + 1):
            if k:
                b.skills |= set(self.catalog.courses[seq[k - 1]].skills)
                b.courses.append(seq[k - 1])
            _, moves = self.planner.settle(State(b.job, frozenset(b.skills)), goal)
            if moves:
                b.job = moves[-1]
                b.history += moves
        return b

    def _text_of(self, beam: _Beam, goal: str) -> str:
        """``ResolvedProfile(job, goal, history, skills, courses).input_text(catalog)`` of the beam
        (the same text, built without re-indexing the catalog's skills on every call; remembered:
        planning asks for the same states again, for the plan's probabilities and the demo's
        relaxed plans)."""
        key = (beam.job, goal, frozenset(beam.skills), tuple(beam.courses), tuple(beam.history))
        text = self._texts.get(key)
        if text is None:
            text = self._make_text(beam, goal)
            if len(self._texts) > 20_000:
                self._texts.clear()
            self._texts[key] = text
        return text

    def _make_text(self, beam: _Beam, goal: str) -> str:
        cat = self.catalog
        history = list(beam.history)
        if beam.job and (not history or history[-1] != beam.job):
            history.append(beam.job)
        profile = Profile(
            goal=cat.jobs[goal].title if goal else "",
            job=cat.jobs[beam.job].title if beam.job else "",
            history=[cat.jobs[j].title for j in history],
            skills=[cat.skills[s].name for s in sorted(beam.skills, key=self._skill_pos.__getitem__)],
            courses=[cat.courses[c].title for c in beam.courses],
        )
        if self.context is not None:
            add_context(profile, self.context.context(beam.job, goal, beam.skills, beam.courses), cat)
        return serialise_input(profile)

    def _maybe_move(self, beam: _Beam, goal: str, source: str) -> None:
        """Every job move the catalog's move rule allows now (:meth:`Planner.settle`), as steps."""
        state, moves = self.planner.settle(State(beam.job, frozenset(beam.skills)), goal)
        for hop in moves:
            job = self.catalog.jobs[hop]
            came_from, beam.job = beam.job, hop
            beam.history.append(hop)
            gap, cov = self._goal_state(beam, goal)
            what = "your goal" if hop == goal else f"a step towards {self.catalog.jobs[goal].title}"
            reason = f"you now hold {coverage(beam.skills, job):.0%} of its required skills; {what}"
            if (came_from, hop) in self._move_why:
                reason += f"; {self._move_why[came_from, hop]}"
            beam.steps.append(
                PathStep("job", hop, job.title, [], gap, round(cov, 3), 0.0, None, reason, source)
            )

    def _allowed(self, taken: set[str], cons: Constraints) -> bytes:
        """1 where a course may be planned (constraints, not taken): a hashable mask."""
        ruled_out = self._constraint_mask(cons)
        return bytes(int(not ruled_out[i] and c not in taken) for i, c in enumerate(self.catalog.courses))

    def _guide(self, start: _Beam, goal: str) -> Callable[[State, list[str]], np.ndarray]:
        """The model's course log-probabilities (with its priors) for a planning state."""

        def scores(state: State, seq: list[str]) -> np.ndarray:
            beam = self._state_after(start, seq, goal)
            text = self._text_of(beam, goal)
            if self.scorer.prior is not None:
                self.scorer.prior.note(text, beam.job, goal, beam.skills, beam.courses, beam.history)
            return self.scorer.score_courses([text])[0]

        return scores

    def _replay(
        self, start: _Beam, seq: list[str], goal: str, sources: list[str], probs: list[float | None]
    ) -> _Beam:
        """The steps of a course sequence from ``start``: each course, then the moves it allows."""
        b = _Beam(
            start.job, set(start.skills), list(start.courses), list(start.history), 0.0, list(start.steps)
        )
        self._maybe_move(b, goal, sources[0] if sources else "model")
        for k, cid in enumerate(seq):
            c = self.catalog.courses[cid]
            src = sources[k] if k < len(sources) else "model"
            gained = [s for s in c.skills if s not in b.skills]
            before = State(b.job, frozenset(b.skills))
            b.skills |= set(c.skills)
            b.courses.append(cid)
            gap, cov = self._goal_state(b, goal)
            important, reason = self._worth(before, c, goal, seq[k + 1 :])
            p = probs[k] if k < len(probs) else None
            b.unsure = b.unsure or (p is not None and p < MIN_CONFIDENCE)
            b.steps.append(
                PathStep(
                    "course",
                    cid,
                    c.title,
                    self.catalog.skill_names(gained),
                    gap,
                    round(cov, 3),
                    c.hours,
                    None if p is None else round(p, 4),
                    reason,
                    src,
                    c.provider,
                    self.catalog.skill_names(important),
                    c.provider == PLACEHOLDER_PROVIDER,
                )
            )
            self._maybe_move(b, goal, src)
        return b

    def _worth(self, state: State, c: Course, goal: str, later: list[str]) -> tuple[list[str], str]:
        """The skills ``c`` adds that the goal or the next job rates important, and why it is taken
        (a course adding none is a prerequisite of a later one, or not worth taking)."""
        names, jobs = self.catalog.skill_names, self.catalog.jobs
        new = [s for s in c.skills if s not in state.skills]
        by_job: dict[str, list[str]] = {}
        for s in new:
            for job_id in dict.fromkeys((goal, *self.planner.targets(state.job, goal))):
                if s in self.planner.important(job_id):
                    by_job.setdefault(job_id, []).append(s)
                    break
        if by_job:
            parts = []
            for job_id, hit in by_job.items():
                label = "your goal" if job_id == goal else "your next move,"
                weights = ", ".join(f"{jobs[job_id].skills[s]:.2f}" for s in hit)
                parts.append(
                    f"{', '.join(names(hit))}, which {label} {jobs[job_id].title} rates important "
                    f"(weight {weights})"
                )
            hits = [s for s in new if any(s in v for v in by_job.values())]
            return hits, "adds " + "; and ".join(parts)
        for cid in later:
            need = [s for s in new if s in self.catalog.courses[cid].prerequisites]
            if need:
                return (
                    [],
                    f"adds {', '.join(names(need))}, a prerequisite of {self.catalog.courses[cid].title}",
                )
        return [], f"adds {', '.join(names(new))}" if new else "revises skills you already have"

    def pathway(
        self,
        profile=None,
        goal: str | None = None,
        max_steps: int | None = None,
        constraints: Constraints | None = None,
        budget: Budget | None = None,
        planner: str = "model",
        ratio_bound: float = RATIO_BOUND,
        **fields,
    ) -> Pathway:
        """Ordered steps from the profile to ``goal`` (courses and job moves), grouped in milestones.

        ``planner``: "model" (default: the model's most likely worthwhile course at each step, as
        long as the plan stays within ``ratio_bound`` x the shortest plan's hours), "shortest" (the
        shortest plan in hours) or "skill-gap" (the greedy skill-gap rule, for comparison).
        ``max_steps`` / ``budget``: the most course steps, hours or months the person will spend."""
        prof = self.resolve(profile, goal=goal, **fields)
        cons = constraints or Constraints()
        budget = budget or Budget()
        if max_steps is not None:
            budget.steps = max_steps if budget.steps is None else min(budget.steps, max_steps)
        if not prof.goal:
            return Pathway(
                None, [], False, 0.0, False, False, "no goal given: say which job you want to reach"
            )
        goal_id = prof.goal
        start = _Beam(
            prof.job,
            set(prof.skills),
            list(prof.courses),
            list(prof.history) or ([prof.job] if prof.job else []),
        )
        allowed = self._allowed(set(prof.courses), cons)
        s0 = State(prof.job, frozenset(prof.skills))
        best = self.planner.shortest(s0, goal_id, allowed)
        if best is None:
            return self._unreachable(start, s0, goal_id, allowed)
        seq, sources, probs, note = self._choose(
            start, s0, goal_id, cons, allowed, best, budget, planner, ratio_bound
        )
        beam = self._replay(start, seq, goal_id, sources, probs)
        return self._finish(goal_id, beam, best, note, planner)

    def _choose(
        self,
        start,
        s0,
        goal,
        cons,
        allowed: bytes,
        best: Plan,
        budget: Budget,
        planner: str,
        ratio_bound: float,
    ):
        """(course ids, sources, model probabilities, note) of the plan to show."""
        if planner == "skill-gap":
            seq = self._skill_gap_courses(start, goal, cons)
            return seq, ["skill-gap fallback"] * len(seq), [], "skill-gap plan"
        seq, sources = list(best.courses), ["shortest plan"] * len(best.courses)
        if planner == "model":
            out = self.planner.guided(s0, goal, allowed, self._guide(start, goal), ratio_bound * best.hours)
            if out is not None:
                seq, sources = out[0].courses, out[1]
        cap = budget.hours_cap()
        note = ""
        if budget.steps is not None and len(seq) > budget.steps:
            fewest = self.planner.shortest(s0, goal, allowed, mode="steps")
            if fewest is not None and len(fewest.courses) <= budget.steps:
                seq, sources = fewest.courses, ["fewest steps"] * len(fewest.courses)
            else:
                need = len(fewest.courses) if fewest else len(seq)
                note = f"the goal needs at least {need} course steps, more than your budget of {budget.steps}"
                seq, sources = seq[: budget.steps], sources[: budget.steps]
        if cap is not None and sum(self.catalog.courses[c].hours for c in seq) > cap + 1e-9:
            if best.hours > cap + 1e-9:
                note = f"the shortest plan needs {best.hours:g} hours, more than your budget of {cap:g}"
                seq, sources = best.courses, ["shortest plan"] * len(best.courses)
            else:
                seq, sources = best.courses, ["shortest plan"] * len(best.courses)
            keep, total = 0, 0.0
            for c in seq:
                if total + self.catalog.courses[c].hours > cap + 1e-9:
                    break
                total += self.catalog.courses[c].hours
                keep += 1
            seq, sources = seq[:keep], sources[:keep]
        probs = self._probabilities(start, goal, seq) if planner == "model" else []
        return seq, sources, probs, note

    def _skill_gap_courses(self, start: _Beam, goal: str, cons: Constraints) -> list[str]:
        """The greedy skill-gap rule's courses, with no step cap (via the route, else straight at the
        goal's own skills when that gets further)."""
        b0 = _Beam(start.job, set(start.skills), list(start.courses), list(start.history))
        self._maybe_move(b0, goal, "skill-gap fallback")
        plan = self._skill_gap_plan(b0, goal, SKILL_GAP_MAX_STEPS, cons)
        if not plan.reached(goal) and self.planner.direct_ok(b0.job, goal):
            direct = self._skill_gap_plan(b0, goal, SKILL_GAP_MAX_STEPS, cons, direct=True)
            if direct.reached(goal) or self._goal_state(direct, goal)[1] > self._goal_state(plan, goal)[1]:
                plan = direct
        return plan.courses[len(b0.courses) :]

    def _probabilities(self, start: _Beam, goal: str, seq: list[str]) -> list[float]:
        """The model's probability of each planned course at its step (one batched model call)."""
        if not seq:
            return []
        texts, b = [], _Beam(start.job, set(start.skills), list(start.courses), list(start.history))
        self._maybe_move(b, goal, "model")
        for cid in seq:
            texts.append(self._text_of(b, goal))
            b.skills |= set(self.catalog.courses[cid].skills)
            b.courses.append(cid)
            self._maybe_move(b, goal, "model")
        lp = self.scorer.score_courses(texts)
        return [float(np.exp(lp[k][self._course_pos[c]])) for k, c in enumerate(seq)]

    def _unreachable(self, start: _Beam, s0: State, goal: str, allowed) -> Pathway:
        """No plan reaches the goal: say what is missing and plan as far as possible."""
        diag = self.planner.diagnose(s0, goal, allowed)
        plan = self.planner.as_far_as_possible(s0, goal, allowed)
        beam = self._replay(start, plan.courses, goal, ["as far as possible"] * len(plan.courses), [])
        missing = list(diag.missing_moves)
        if diag.unteachable:
            missing.append(
                "no course in this catalog (within your constraints) teaches "
                + ", ".join(self.catalog.skill_names(diag.unteachable))
            )
        if not missing:
            missing.append(
                "no sequence of worthwhile courses brings the required skills to the move threshold"
            )
        title = self.catalog.jobs[goal].title
        cov = coverage(beam.skills, self.catalog.jobs[goal])
        note = f"{title} cannot be reached from this catalog: {'; '.join(missing)}; planned as far as possible ({cov:.0%} of its skills)"
        return self._finish(goal, beam, None, note, "as far as possible", missing=missing)

    def _skill_gap_plan(
        self, start: _Beam, goal: str, max_steps: int, cons: Constraints, direct: bool = False
    ) -> _Beam:
        """Greedy: each step takes the allowed course covering most of the remaining gap importance
        (to the next job on the route, and half of the goal's; ``direct``: the goal's alone)."""
        b = _Beam(
            start.job, set(start.skills), list(start.courses), list(start.history), 0.0, list(start.steps)
        )
        ruled_out = self._constraint_mask(cons)
        for _ in range(max_steps):
            if b.reached(goal):
                break
            hop = (self.progression.next_hop(b.job, goal) or goal) if b.job and not direct else goal
            want = dict(skill_gap(b.skills, self.catalog.jobs[hop]))
            for s, w in skill_gap(b.skills, self.catalog.jobs[goal]):
                want[s] = want.get(s, 0.0) + (0.0 if direct else 0.5 * w)
            # prerequisites of courses that teach a wanted skill are worth half of that skill
            for c in self._with_prereqs:
                missing = [p for p in c.prerequisites if p not in b.skills]
                if not missing:
                    continue
                value = max((want.get(s, 0.0) for s in c.skills if s not in b.skills), default=0.0)
                if value > 0:
                    for p in missing:
                        want.setdefault(p, 0.5 * value)
            # only a course adding a wanted skill can gain more than nothing: look at those alone,
            # in catalog order, as a scan of the whole catalog would
            cands = set(self._negative_hours)
            for s in want:
                if s not in b.skills:
                    cands.update(self._teaches.get(s, ()))
            best, best_gain = None, 0.0
            taken = set(b.courses)
            for i in sorted(cands):
                c = self._course_list[i]
                if ruled_out[i] or c.id in taken or not set(c.prerequisites) <= b.skills:
                    continue
                gain = sum(want.get(s, 0.0) for s in c.skills if s not in b.skills) - 0.001 * c.hours
                if gain > best_gain:
                    best, best_gain = c, gain
            if best is None:
                break
            gained = self.catalog.skill_names([s for s in best.skills if s not in b.skills])
            b.skills |= set(best.skills)
            b.courses.append(best.id)
            gap, cov = self._goal_state(b, goal)
            b.steps.append(
                PathStep(
                    "course",
                    best.id,
                    best.title,
                    gained,
                    gap,
                    round(cov, 3),
                    best.hours,
                    None,
                    self._course_reason(best, b.skills - set(best.skills), hop, goal),
                    "skill-gap fallback",
                )
            )
            self._maybe_move(b, goal, "skill-gap fallback")
        return b

    def _finish(
        self,
        goal: str,
        beam: _Beam,
        best: Plan | None,
        note: str,
        planner: str,
        missing: list[str] | None = None,
    ) -> Pathway:
        steps = beam.steps
        hours = round(sum(s.hours for s in steps), 1)
        reached = beam.job == goal
        n = sum(s.kind == "course" for s in steps)
        ratio = (
            round(hours / best.hours, 3)
            if best is not None and reached and best.hours > 0
            else (1.0 if best is not None and reached else None)
        )
        placeholders = [s.title for s in steps if s.kind == "course" and s.placeholder]
        head = (
            f"goal reached in {n} course step(s), {hours:g} hours"
            + (f" ({ratio:g}x the shortest plan, {best.hours:g} hours)" if ratio is not None else "")
            if reached
            else ""
        )
        if placeholders:
            taught = sorted(
                {x for s in steps if s.kind == "course" and s.placeholder for x in s.skills_gained}
            )
            head += ("; " if head else "") + (
                f"no course in this catalog teaches {', '.join(taught)}: {len(placeholders)} placeholder "
                "course(s) stand in"
            )
        note = "; ".join(x for x in (head, note) if x)
        confident = (
            reached
            and planner == "model"
            and not beam.unsure
            and all(s.source == "model" for s in steps if s.kind == "course")
        )
        return Pathway(
            {"id": goal, "title": self.catalog.jobs[goal].title},
            steps,
            reached,
            hours,
            confident,
            planner != "model" or any(s.source != "model" for s in steps if s.kind == "course"),
            note,
            None if best is None else round(best.hours, 1),
            ratio,
            n,
            milestones(steps),
            missing or [],
            placeholders,
        )


def find_catalog(model_dir: Path) -> Path:
    """The catalog a model was trained with: ``<model>/catalog`` or the training data's copy."""
    if (model_dir / "catalog").is_dir():
        return model_dir / "catalog"
    cfg = model_dir / "config.yaml"
    if cfg.exists():
        import yaml

        data = yaml.safe_load(cfg.read_text()) or {}
        data_dir = (data.get("data") or {}).get("data_dir")
        if data_dir and (Path(data_dir) / "catalog").is_dir():
            return Path(data_dir) / "catalog"
    raise FileNotFoundError(f"{model_dir}: no catalog found next to the model; pass --catalog DIR")
