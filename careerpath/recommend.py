"""The recommendation engine: ranked next courses and jobs, and goal-directed pathways, explained.

Only real catalog items come out: rankings are exact over the whole catalog (every course and job
scored by :class:`careerpath.scoring.CatalogScorer`), and the person's exclusions and caps are
applied as masks before ranking. Pathways are a beam search over steps (take a course, then move
job when the move is realistic) driven by the model's goal-conditioned probabilities; when the
model cannot reach the goal in ``max_steps`` the engine says so and falls back to skill-gap
planning, marked as such. Every explanation is computed from the catalog, never generated.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from careerpath.job_prior import load_job_prior
from careerpath.metrics import top_k as shared_top_k
from careerpath.prior import load_prior
from careerpath.profile import ProfileResolver, ResolvedProfile
from careerpath.scoring import CatalogScorer
from data_prep.catalog import Catalog, Course, load_catalog
from data_prep.context import ContextConfig, GapRetriever, add_context, load_context_file, progression_for
from data_prep.progression import Progression, coverage, skill_gap
from data_prep.textformat import STAY, Profile, serialise_input

MIN_CONFIDENCE = 0.05  # a planned course below this probability marks the pathway as unsure
# Courses tried from each beam state: the model's top few, from the same forward pass, so a wider
# look costs no extra model call; the beam keeps those that make most progress to the goal.
EXPAND_K = 8


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
    source: str  # "model" or "skill-gap fallback"


@dataclass
class Pathway:
    goal: dict | None
    steps: list[PathStep]
    reached: bool
    total_hours: float
    confident: bool
    fallback: bool
    note: str

    def as_dict(self) -> dict:
        return asdict(self)


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
        move_threshold: float = 0.8,
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
        self.move_threshold = move_threshold
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

    @classmethod
    def from_pretrained(
        cls, model_dir: str | Path, catalog_dir: str | Path | None = None, **kwargs
    ) -> Recommender:
        """A training output folder (full model or LoRA adapter); the catalog travels with it."""
        from careerpath.modeling import load_for_inference

        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise FileNotFoundError(
                f"{model_dir}: no such model folder; train one with `careerpath quickstart`"
            )
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
        cons = constraints or Constraints()
        skills, taken = set(prof.skills), set(prof.courses)
        text = prof.input_text(self.catalog, self.context)
        if self.scorer.prior is not None:
            self.scorer.prior.note(text, prof.job, prof.goal, prof.skills, prof.courses)
        course_lp, job_lp = self.scorer.score([text], [sorted(skills)])
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

    def _may_reach(self, beam: _Beam, goal: str, steps_left: int) -> bool:
        """False only when ``beam`` cannot reach ``goal`` in ``steps_left`` more course steps, whatever
        courses it takes: a necessary condition, so stopping on it never changes a pathway.

        Each course step allows one job move, and the move into the goal needs goal coverage of at
        least ``move_threshold``; no ``steps_left`` courses can add more goal-skill weight than the
        ``steps_left`` courses adding the most weight each."""
        if beam.job == goal:
            return True
        dist = self.progression.distances_to(goal)
        moves = dist.get(beam.job, 1) if beam.job else 1
        # a direct move to the goal (see _direct_ok): one move from here, else two at least
        moves = min(moves, 1 if self._direct_ok(beam.job, goal) else 2)
        if moves > steps_left:
            return False
        job = self.catalog.jobs[goal]
        total = sum(job.skills.values())
        if total <= 0 or any(s not in self._skill_pos for s in job.skills):
            return True
        weight = np.zeros(len(self._skill_pos))
        for s, w in job.skills.items():
            if s not in beam.skills:
                weight[self._skill_pos[s]] = max(w, 0.0)
        gains = self._course_skill @ weight
        k = min(steps_left, len(gains))
        best = float(np.sum(np.partition(gains, len(gains) - k)[len(gains) - k :])) if k else 0.0
        return coverage(beam.skills, job) + best / total >= self.move_threshold - 1e-9

    def _text_of(self, beam: _Beam, goal: str) -> str:
        """``ResolvedProfile(job, goal, history, skills, courses).input_text(catalog)`` of the beam
        (the same text, built without re-indexing the catalog's skills on every call)."""
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

    def _direct_ok(self, job: str | None, goal: str) -> bool:
        """Whether a move straight to ``goal`` is realistic once its skills are held, off the
        transition graph's route: the goal is at most one level above the current job. (The graph
        lists typical moves, not the only ones: O*NET routes a registered nurse to health-services
        manager through two more senior nursing and informatics jobs; a nurse who holds most of
        the manager's skills can apply directly.)"""
        if not job:
            return True
        return self.catalog.jobs[goal].level <= self.catalog.jobs[job].level + 1

    def _maybe_move(self, beam: _Beam, goal: str, source: str) -> None:
        # no route in the transition graph: a direct move once the goal's skills are there
        hop = (self.progression.next_hop(beam.job, goal) or goal) if beam.job else goal
        if hop != goal and self._direct_ok(beam.job, goal):
            if coverage(beam.skills, self.catalog.jobs[goal]) >= self.move_threshold:
                hop = goal
        if hop == beam.job:
            return
        if coverage(beam.skills, self.catalog.jobs[hop]) >= self.move_threshold:
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

    def _expand(self, beams: list[_Beam], goal: str, width: int, cons: Constraints) -> list[_Beam]:
        texts = [self._text_of(b, goal) for b in beams]
        if self.scorer.prior is not None:
            for t, b in zip(texts, beams, strict=True):
                self.scorer.prior.note(t, b.job, goal, b.skills, b.courses)
        scores = self.scorer.score_courses(texts)
        out = []
        for b, lp in zip(beams, scores):
            mask = self._course_mask(set(b.courses), cons, b.skills)
            hop = self.progression.next_hop(b.job, goal) if b.job else goal
            for i in shared_top_k(lp[None], width, mask)[0]:
                if i < 0 or mask[i]:
                    continue
                c = self.catalog.courses[self.scorer.course_ids[i]]
                nb = _Beam(
                    b.job,
                    set(b.skills) | set(c.skills),
                    b.courses + [c.id],
                    list(b.history),
                    b.logp + float(lp[i]),
                    list(b.steps),
                    b.unsure or float(np.exp(lp[i])) < MIN_CONFIDENCE,
                )
                gained = self.catalog.skill_names([s for s in c.skills if s not in b.skills])
                gap, cov = self._goal_state(nb, goal)
                nb.steps.append(
                    PathStep(
                        "course",
                        c.id,
                        c.title,
                        gained,
                        gap,
                        round(cov, 3),
                        c.hours,
                        round(float(np.exp(lp[i])), 4),
                        self._course_reason(c, b.skills, hop, goal),
                        "model",
                    )
                )
                self._maybe_move(nb, goal, "model")
                out.append(nb)
        return out

    def pathway(
        self,
        profile=None,
        goal: str | None = None,
        max_steps: int = 8,
        beam_width: int = 3,
        constraints: Constraints | None = None,
        **fields,
    ) -> Pathway:
        """Ordered steps from the profile to ``goal``; steps are courses and job moves."""
        prof = self.resolve(profile, goal=goal, **fields)
        cons = constraints or Constraints()
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
        self._maybe_move(start, goal_id, "model")
        beams, done = [start], [start] if start.reached(goal_id) else []
        goal_job = self.catalog.jobs[goal_id]
        for step in range(max_steps):
            live = [
                b
                for b in beams
                if not b.reached(goal_id) and sum(s.kind == "course" for s in b.steps) < max_steps
            ]
            if not live or done:
                break
            # when no live beam can reach the goal in the steps left, neither can any beam the
            # search would go on to make: its result would be the skill-gap fallback anyway
            left = max_steps - step
            if not any(self._may_reach(b, goal_id, left) for b in live):
                break
            cands = self._expand(live, goal_id, max(beam_width, EXPAND_K), cons)
            done += [b for b in cands if b.reached(goal_id)]
            cands.sort(key=lambda b: (-coverage(b.skills, goal_job), -b.logp))
            beams = cands[:beam_width]
        goal_info = {"id": goal_id, "title": self.catalog.jobs[goal_id].title}
        if done:
            best = max(done, key=lambda b: (b.logp / max(len(b.courses), 1), -len(b.steps)))
            note = "goal reached" + (" (the model was unsure of some steps)" if best.unsure else "")
            return self._finish(goal_info, best, True, not best.unsure, False, note)
        fallback = self._skill_gap_plan(start, goal_id, max_steps, cons)
        if not fallback.reached(goal_id) and start.job != goal_id and self._direct_ok(start.job, goal_id):
            # the route through the graph is too long: aim at the goal's own skills, to move there directly
            direct = self._skill_gap_plan(start, goal_id, max_steps, cons, direct=True)
            if (
                direct.reached(goal_id)
                or self._goal_state(direct, goal_id)[1] > self._goal_state(fallback, goal_id)[1]
            ):
                fallback = direct
        note = (
            f"the model's pathway did not reach {goal_info['title']} in {max_steps} course steps; "
            "showing a skill-gap plan instead"
        )
        if not fallback.reached(goal_id):
            note += f", which does not reach it in {max_steps} steps either"
        return self._finish(goal_info, fallback, fallback.reached(goal_id), False, True, note)

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

    def _finish(self, goal_info, beam: _Beam, reached, confident, fallback, note) -> Pathway:
        hours = sum(s.hours for s in beam.steps)
        return Pathway(goal_info, beam.steps, reached, round(hours, 1), confident, fallback, note)


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
