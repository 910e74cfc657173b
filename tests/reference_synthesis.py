"""The per-user generator the build used before issue 26 (careerpath/data/synthesis.py at that time,
unchanged), kept as the reference the batched generator is compared with: the same distribution
(tests/test_build.py, tests/distribution.py), not the same bytes.

Synthetic users and their trajectories (seed steps 3 and 7), with the generator's probabilities.

No one has real learner histories, so careerpath simulates them from the progression logic. Each
user has a starting job and skills, a goal (a job reachable in a few moves) and a hidden
preference type. At each step the user takes a course (gaining its skills) and then either stays
or moves job when the gap to the next job on the way to the goal is small enough.

What happens next depends on the goal, on all skills gathered so far and on the hidden type, not
only on the current job and the last course, so a model reading the whole history can beat a
first-order Markov chain. Because the generator knows the exact probability of every next event it
records them; the dataset build turns them into the oracle ceiling. The hidden type is a few
discrete values, so the posterior over types given the visible history is exact and the build can
state the Bayes-optimal accuracy given the text as well as the (higher) one with the type known.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from careerpath.core.catalog import Catalog
from careerpath.core.context import GapRetriever, add_context
from careerpath.core.progression import Progression, coverage
from careerpath.core.textformat import (
    STAY,
    Profile,
    Step,
    _escape,
    check_value,
    serialise_input,
    serialise_target,
)

PROB_FLOOR = 1e-3
DENSE_MAX_CELLS = 4_000_000  # courses x skills above which the course matrices are sparse  # course probabilities below this are summed into probs["course_other"]


@dataclass(frozen=True)
class PreferenceType:
    """A hidden learner type: how course length and level shift the choice of course."""

    name: str
    prior: float
    long_course_penalty: float  # per 10 hours above ``long_hours``
    level_bonus: float  # per course level above 1
    long_hours: float = 30.0


DEFAULT_TYPES = (
    PreferenceType("balanced", 0.4, 0.15, 0.0),
    PreferenceType("quick", 0.3, 1.2, -0.3),
    PreferenceType("deep", 0.3, -0.3, 0.8),
)


@dataclass
class SynthesisConfig:
    """How synthetic users behave. Defaults give about 10,000 training examples."""

    users: int = 1400
    """Number of synthetic users."""
    seed: int = 13
    """Seed; the same config and seed give byte-identical output."""
    max_steps: int = 12
    """Longest trajectory (steps of one course plus an optional job move)."""
    max_goal_hops: int = 3
    """The goal is a job reachable in 1..max_goal_hops moves from the starting job."""
    temperature: float = 0.35
    """Softmax temperature over course scores; lower is more predictable."""
    detour_prob: float = 0.08
    """Probability that the next course is a detour: any other eligible course, uniformly."""
    abandon_prob: float = 0.04
    """Probability that a course is abandoned: it gives no skills and does not count as taken."""
    move_threshold: float = 0.8
    """Coverage of the next job's required skills at which a move becomes realistic."""
    move_prob: float = 0.8
    """Probability of moving once ready (the rest are plateaus)."""
    lateral_prob: float = 0.03
    """Probability of a lateral move to another neighbouring job when ready for it."""
    start_skill_prob: float = 0.8
    """Probability of holding each required skill of the starting job."""
    previous_job_prob: float = 0.5
    """Probability that the user had a job before the current one."""
    gain_weight: float = 3.0
    """Weight of the (importance-weighted) skill gap a course closes."""
    hop_weight: float = 1.0
    """How much the gap to the next job on the way to the goal drives the choice of course."""
    goal_weight: float = 0.5
    """How much the gap to the goal itself drives the choice of course."""
    types: tuple[PreferenceType, ...] = DEFAULT_TYPES
    provider_bonus: float = 0.0
    """Generator variant (0: off): each job family's people prefer one course provider (the
    family's n-th provider in name order, n its position among the families), by this much on the
    course score's scale (gain_weight x gap + taste). The course prior does not know it."""
    no_goal_share: float = 0.0
    """Share of users who state no goal. They head where their job most often leads
    (:meth:`Progression.default_next`, after a lateral move from the new job), and their rows'
    texts have an empty goal: the questions a person asks without a goal are in distribution."""
    job_only_share: float = 0.0
    """Share of users whose profile is only a job: no goal stated (as above), no previous job, and
    exactly the job's required skills (what the recommender assumes of a job-only profile)."""
    family_move_prob: dict = field(default_factory=dict)
    """Generator variant ({}: off): ``move_prob`` per job family of the person's current job
    (e.g. ``{healthcare: 0.3}``); other families keep ``move_prob``. The job prior has one."""


@dataclass
class Event:
    """One step of a trajectory, with everything the dataset row needs."""

    user_id: str
    step: int
    goal: str
    job: str
    history: list[str]
    skills: list[str]  # skill ids, catalog order
    courses: list[str]  # course ids, order taken
    next_course: str
    skills_gained: list[str]
    next_job: str  # job id or STAY
    probs: dict = field(default_factory=dict)
    probs_visible: dict = field(default_factory=dict)
    user_type: str = ""
    start_job: str = ""
    goal_stated: bool = True  # False: the text shows no goal (the goal is the job's default next)
    # P(next job | the course taken and whether it taught anything): what the decoder has seen
    # when it writes next_job (the job does not depend on the hidden type)
    job_given_course: dict = field(default_factory=dict)


class Synthesiser:
    """Generates users one at a time (streaming, so memory stays flat at any size).

    The output is exactly that of the plain formulation (course x skill matrices multiplied at every
    step, one job distribution per candidate course, probabilities summed course by course); what
    is computed per step is only what can change:

    * eligibility (prerequisites held, something left to learn) is kept per user as two counters
      per course, updated by the few skills each step adds, instead of two matrix products a step;
    * a skill's value depends only on the gaps to the next hop and to the goal, so it is computed
      over the skills of those two jobs and the courses teaching them (tables cached per pair);
    * a course's gain is the sum of the values of the skills it teaches. With one or two non-zero
      terms, or three whose sum is the same in every order, every way of adding them (BLAS, sparse
      product, plain loop) gives the same number, so it is added directly; otherwise the original
      matrix product is made. Either way the result is the same bit for bit;
    * the job distribution after a course only depends on which next jobs it makes reachable (a
      coverage threshold), so distributions are built once per readiness pattern, and only the few
      courses that can change the pattern are looked at;
    * the numbers drawn from (course and job distributions) are computed in the original order of
      operations; ``rng.choice(p=...)`` is done as numpy does it (cumulative sum, ``random()``,
      search), with the cumulative sums of fixed distributions computed once;
    * recorded numbers that are only written rounded to 5 decimals (the job marginal, the course
      mass below PROB_FLOOR) are computed by a shorter sum with a bound on the difference to the
      original sum; when the bound cannot exclude a different rounding (or threshold) the
      original computation is made.
    """

    def __init__(self, catalog: Catalog, progression: Progression, cfg: SynthesisConfig):
        self.catalog, self.prog, self.cfg = catalog, progression, cfg
        self.skill_order = {s: i for i, s in enumerate(catalog.skills)}
        self.skill_list = list(catalog.skills)
        self.course_list = list(catalog.courses)
        self.course_pos = {c: i for i, c in enumerate(self.course_list)}
        shape = (len(self.course_list), len(self.skill_list))
        # imported taxonomies (ESCO: ~13,000 courses x ~14,000 skills) use sparse matrices; small
        # catalogs keep dense arrays (the same numbers either way)
        self.sparse = shape[0] * shape[1] > DENSE_MAX_CELLS
        pairs = {"teach": ([], []), "prereq": ([], [])}
        for i, c in enumerate(catalog.courses.values()):
            for name, ids in (("teach", c.skills), ("prereq", c.prerequisites)):
                for sk in ids:
                    pairs[name][0].append(i)
                    pairs[name][1].append(self.skill_order[sk])
        mats = {}
        for name, (rows, cols) in pairs.items():
            if self.sparse:
                vals = np.ones(len(rows), dtype=np.float32)
                mats[name] = sparse.csr_matrix((vals, (rows, cols)), shape=shape, dtype=np.float32)
                mats[name].sum_duplicates()
                mats[name].data[:] = 1.0
            else:
                mats[name] = np.zeros(shape, dtype=np.float32)
                mats[name][rows, cols] = 1.0
        self.teach_m, self.prereq_m = mats["teach"], mats["prereq"]
        hours = np.array([c.hours for c in catalog.courses.values()])
        levels = np.array([c.level for c in catalog.courses.values()])
        self.type_pref = [
            -t.long_course_penalty * np.maximum(hours - t.long_hours, 0.0) / 10.0
            + t.level_bonus * (levels - 1)
            for t in cfg.types
        ]
        self.start_jobs = [j for j in catalog.jobs if progression.reachable_from(j, cfg.max_goal_hops)]
        families = {j.family for j in catalog.jobs.values()}
        bad = {
            k: v
            for k, v in dict(cfg.family_move_prob or {}).items()
            if k not in families or not isinstance(v, (int, float)) or not 0 <= v <= 1
        }
        if bad or not math.isfinite(float(cfg.provider_bonus)):
            raise ValueError(
                f"synthesis.family_move_prob: families of this catalog ({', '.join(sorted(families))}) "
                f"with probabilities in [0, 1], and a finite provider_bonus; got {bad or cfg.provider_bonus!r}"
            )
        self._family_bonus = _family_provider_bonus(catalog, float(cfg.provider_bonus))
        self.priors = np.array([t.prior for t in cfg.types]) / sum(t.prior for t in cfg.types)
        self._init_tables(pairs, shape)

    def _init_tables(self, pairs, shape) -> None:
        """Per-catalog tables, built once: which course teaches / requires which skill."""
        n_c, n_s = shape
        teach: list[set[int]] = [set() for _ in range(n_c)]
        prereq: list[set[int]] = [set() for _ in range(n_c)]
        for table, (rows, cols) in ((teach, pairs["teach"]), (prereq, pairs["prereq"])):
            for r, c in zip(rows, cols):
                table[r].add(c)
        self._teach_sets = [sorted(t) for t in teach]
        self._prereq_sets = [sorted(p) for p in prereq]
        self._n_teach = [len(t) for t in teach]
        self._n_prereq = [len(p) for p in prereq]
        teach_of: list[list[int]] = [[] for _ in range(n_s)]
        prereq_of: list[list[int]] = [[] for _ in range(n_s)]
        for i, (t, p) in enumerate(zip(self._teach_sets, self._prereq_sets)):
            for s in t:
                teach_of[s].append(i)
            for s in p:
                prereq_of[s].append(i)
        self._teach_of, self._prereq_of = teach_of, prereq_of
        self._elig0 = np.array([not p and bool(t) for t, p in zip(teach, prereq)], dtype=bool)
        self._pref = np.array(self.type_pref, dtype=np.float64).reshape(len(self.cfg.types), n_c)
        self._course_skills = [c.skills for c in self.catalog.courses.values()]
        self._hop_cache: dict[tuple[str, str], str | None] = {}
        self._want_cache: dict[tuple[str, str], _WantInfo] = {}
        self._move_cache: dict[tuple[str, str], _MoveInfo] = {}
        self._start_cache: dict[str, tuple] = {}
        self._cover_cache: dict[str, dict[int, float]] = {}
        self._type_cdf = _cdf(self.priors, normalise=False)
        preds: dict[str, list[str]] = {j: [] for j in self.catalog.jobs}
        for a, moves in self.prog.next_jobs.items():
            for b in dict.fromkeys(b for b, _ in moves):
                preds.setdefault(b, []).append(a)
        self._preds = preds

    # -- users -------------------------------------------------------------------------------
    def users(self, start: int = 0, stop: int | None = None) -> Iterator[list[Event]]:
        """Trajectories of users ``start..stop``; user i depends only on (seed, i)."""
        stop = self.cfg.users if stop is None else stop
        for i in range(start, stop):
            yield self.user(i)

    def user(self, i: int) -> list[Event]:
        """The trajectory of user ``i`` (depends only on the seed and ``i``)."""
        return self.trajectory(f"u{i:07d}", np.random.default_rng([self.cfg.seed, i]))

    def _start_state(self, rng: np.random.Generator):
        cat, cfg = self.catalog, self.cfg
        job = self.start_jobs[rng.integers(len(self.start_jobs))]
        kind = "full"
        if cfg.job_only_share or cfg.no_goal_share:  # no draw when off: default builds stay as they were
            u = rng.random()
            kind = (
                "job_only"
                if u < cfg.job_only_share
                else "no_goal"
                if u < cfg.job_only_share + cfg.no_goal_share
                else kind
            )
        if kind == "job_only":
            utype = bisect_right(self._type_cdf, rng.random())
            return job, self.prog.default_next(job), [job], set(cat.jobs[job].skills), utype, False
        start = self._start_cache.get(job)
        if start is None:
            reach = self.prog.reachable_from(job, cfg.max_goal_hops)
            goals = sorted(reach)
            weights = np.array([1.0 + max(cat.jobs[g].level - cat.jobs[job].level, 0) for g in goals])
            start = self._start_cache[job] = (goals, _cdf(weights / weights.sum(), normalise=False))
        goals, goal_cdf = start
        goal = goals[bisect_right(goal_cdf, rng.random())]
        if kind == "no_goal":  # the draw above is kept, so the rest of the user is drawn alike
            goal = self.prog.default_next(job)
        history = [job]
        # rng.random(k) gives the same k numbers as k calls of rng.random()
        own = list(cat.jobs[job].skills)
        skills = {s for s, u in zip(own, rng.random(len(own)).tolist()) if u < cfg.start_skill_prob}
        preds = [a for a in self._preds.get(job, ()) if a != goal]
        if preds and rng.random() < cfg.previous_job_prob:
            prev = preds[rng.integers(len(preds))]
            history.insert(0, prev)
            theirs = list(cat.jobs[prev].skills)
            skills |= {s for s, u in zip(theirs, rng.random(len(theirs)).tolist()) if u < 0.6}
        utype = bisect_right(self._type_cdf, rng.random())
        return job, goal, history, skills, utype, kind == "full"

    def trajectory(self, user_id: str, rng: np.random.Generator) -> list[Event]:
        cfg = self.cfg
        job, goal, history, skills, utype, stated = self._start_state(rng)
        start_job, courses, events = job, [], []
        posterior = self.priors.copy()
        state = _UserState(self, skills)
        state.bonus = self._family_bonus.get(self.catalog.jobs[start_job].family)
        type_name = cfg.types[utype].name
        for step in range(cfg.max_steps):
            if job == goal:
                break
            hop = self._next_hop(job, goal)
            if hop is None:
                break
            idx = np.flatnonzero(state.elig)
            if idx.size == 0:
                break
            dists = self._course_dists(state, hop, goal, idx)
            pick = dists.pick(utype, rng.random())
            course_i = int(idx[pick])
            course = self.course_list[course_i]
            abandoned = rng.random() < cfg.abandon_prob
            gained = [] if abandoned else [s for s in self._course_skills[course_i] if s not in skills]
            move = self._move_info(job, hop)
            base, changing = self._changing(move, skills, state)
            dist = base if abandoned else changing.get(course_i, base)
            next_job = dist.choices[bisect_right(dist.cdf, rng.random())]
            jobs = _StepJobs(move, state, idx, base, changing)
            probs = self._recorded(dists, dists.row(utype), jobs)
            probs_visible = self._recorded(dists, dists.visible(posterior), jobs, visible=True)
            events.append(
                Event(
                    user_id=user_id,
                    step=step,
                    goal=goal,
                    job=job,
                    history=list(history),
                    skills=sorted(skills, key=self.skill_order.__getitem__),
                    courses=list(courses),
                    next_course=course,
                    skills_gained=gained,
                    next_job=next_job,
                    probs=probs,
                    probs_visible=probs_visible,
                    user_type=type_name,
                    start_job=start_job,
                    goal_stated=stated,
                    job_given_course={k: round(float(v), 6) for k, v in dist.items()},
                )
            )
            # Bayes update of the type posterior from the observed course choice.
            posterior = posterior * dists.column(pick)
            posterior /= posterior.sum()
            if not abandoned:
                courses.append(course)
                state.take(course_i)
                if gained:
                    skills = skills | set(gained)
                    state.add(gained)
            if next_job != STAY:
                job = next_job
                history.append(job)
                if not stated:  # no goal: head where the new job most often leads
                    goal = self.prog.default_next(job) or job
        return events

    # -- the generator's probabilities ------------------------------------------------------
    def _next_hop(self, job: str, goal: str) -> str | None:
        key = (job, goal)
        hop = self._hop_cache.get(key, _MISSING)
        if hop is _MISSING:
            if len(self._hop_cache) > _CACHE_MAX:
                self._hop_cache.clear()
            hop = self._hop_cache[key] = self.prog.next_hop(job, goal)
        return hop

    def _want_info(self, hop: str, goal: str) -> _WantInfo:
        info = self._want_cache.get((hop, goal))
        if info is None:
            if len(self._want_cache) > _CACHE_MAX // 10:
                self._want_cache.clear()
            info = self._want_cache[(hop, goal)] = _WantInfo(self, hop, goal)
        return info

    def _move_info(self, job: str, hop: str) -> _MoveInfo:
        info = self._move_cache.get((job, hop))
        if info is None:
            if len(self._move_cache) > _CACHE_MAX // 10:
                self._move_cache.clear()
            info = self._move_cache[(job, hop)] = _MoveInfo(self, job, hop)
        return info

    def _course_dists(self, state: _UserState, hop: str, goal: str, idx: np.ndarray) -> _CourseDists:
        """P(next course) over the eligible courses ``idx``, one row per preference type.

        A softmax over useful courses plus detours spread evenly over all eligible courses: every
        course that is not useful has the same value, so only the useful ones are stored.
        """
        cfg = self.cfg
        n = idx.size
        info = self._want_info(hop, goal)
        gain = info.gains(state)  # per course of info.C (0 for the rest of the catalog)
        if info.ambiguous(state):
            # some gain depends on the order of its additions: the original product
            gain_all = self.teach_m[idx] @ info.value_vector(len(self.skill_list))
            useful = np.flatnonzero(gain_all > 0)
            gu, uc = gain_all[useful], idx[useful]
        else:
            use = (gain > 0) & state.elig[info.C]
            uc, gu = info.C[use], gain[use]
            useful = np.searchsorted(idx, uc)
        if useful.size == 0:
            return _CourseDists(self, idx, useful, np.empty((len(cfg.types), 0)), 1.0 / n)
        pref = self._pref[:, uc] if state.bonus is None else self._pref[:, uc] + state.bonus[uc]
        z = (cfg.gain_weight * gu + pref) / cfg.temperature
        z = np.exp(z - z.max(axis=1, keepdims=True))
        other = cfg.detour_prob / n
        # probs = full(other); probs[useful] += (1 - detour) * z / z.sum(): the same operations
        values = other + (1.0 - cfg.detour_prob) * z / z.sum(axis=1, keepdims=True)
        return _CourseDists(self, idx, useful, values, other)

    def _coverage(self, job_id: str, mask: int) -> float:
        """``coverage`` of the job by the skills ``mask`` (bit k: the job's k-th skill), cached."""
        cache = self._cover_cache.get(job_id)
        if cache is None:
            cache = self._cover_cache[job_id] = {}
        value = cache.get(mask)
        if value is None:
            if len(cache) > _MASK_CACHE_MAX:
                cache.clear()
            job = self.catalog.jobs[job_id]
            held = {s for k, s in enumerate(job.skills) if mask >> k & 1}
            value = cache[mask] = coverage(held, job)
        return value

    def _changing(self, move: _MoveInfo, skills: set[str], state: _UserState):
        """The job distribution now and the eligible courses after which it differs.

        Returns ``base`` and ``{course index: distribution}`` (ascending) for the courses that
        make another next job reachable (per next job and skills held of it, the courses that
        would are listed once).
        """
        code = 0
        after = []
        for k, (_, bits, _) in enumerate(move.job_bits):
            mask = 0
            for s, bit in bits:
                if s in skills:
                    mask |= bit
            ready, courses = move.job_state(self, k, mask)
            if ready:
                code |= 1 << k
            elif courses:
                after.append((k, courses))
        base = move.pattern(code)
        if not after:
            return base, {}
        codes: dict[int, int] = {}
        elig = state.elig
        for k, courses in after:
            for c in courses:
                if elig[c]:
                    codes[c] = codes.get(c, code) | 1 << k
        if not codes:
            return base, {}
        return base, {c: move.pattern(codes[c]) for c in sorted(codes)}

    def _recorded(self, dists: _CourseDists, values, jobs: _StepJobs, visible: bool = False) -> dict:
        """The rounded probabilities written for one step (``values``: unnormalised P(course))."""
        out = self._recorded_short(dists, values, jobs, visible)
        if out is None:  # too close to a rounding edge or a cut: the original computation
            full = dists.full(values)
            out = self._probs_short(dists.idx, full / full.sum(), jobs)
            if out is None:
                out = self._probs(dists.idx, full / full.sum(), *jobs.groups(self))
        return out

    def _recorded_short(self, dists: _CourseDists, values, jobs: _StepJobs, visible: bool) -> dict | None:
        """:meth:`_probs` without the arrays over all eligible courses, or None near an edge.

        ``values`` are the exact unnormalised probabilities of the useful courses and of every
        other course; only their total is summed in another order than the original (a bounded
        relative difference ``eps``), so each rounded number, and each cut, is checked to be the
        same at both ends of its interval.
        """
        n = dists.idx.size
        useful, other = values
        nu = len(useful)
        total = (n - nu) * other + sum(useful)
        eps = (4 * n + 64) * _ULP
        lo, hi = 1.0 - eps, 1.0 + eps
        p_other = other / total
        p_useful = [v / total for v in useful]
        # which courses are kept (>= PROB_FLOOR) and their rounded probabilities
        if n > nu and (p_other * lo >= PROB_FLOOR or p_other * hi >= PROB_FLOOR):
            return None  # every other course is kept too (or may be): the full computation
        kept: list[tuple[int, float]] = []
        rest = 0.0
        for pos, p in zip(dists.positions, p_useful):
            k = p * lo >= PROB_FLOOR
            if k != (p * hi >= PROB_FLOOR):
                return None
            if k:
                kept.append((pos, p))
            else:
                rest += p
        names, idx = self.course_list, dists.idx
        course = {}
        for pos, p in kept:
            # round(p, 5) is k / 1e5 for the integer k nearest p * 1e5, the same over the interval
            # when p * 1e5 is far enough from a half
            y = p * 100000.0
            k = round(y)
            if 0.5 - abs(y - k) <= y * eps + 1e-9:
                return None
            course[names[int(idx[pos])]] = k / 100000.0
        # the mass of the courses below the cut: the original summed them; the same within bound
        rest += (n - nu) * p_other
        bound = (2 * eps + (4 * n + 64) * _ULP) * (1.0 + rest)
        r = round(rest, 5)
        if rest - bound <= 0.0 or round(rest - bound, 5) != r or round(rest + bound, 5) != r:
            return None
        job = jobs.marginal(self.cfg.abandon_prob, dists, p_useful, p_other, 2 * eps + (4 * n + 64) * _ULP)
        if job is None:
            return None
        return {"course": course, "course_other": r, "job": job}

    def _probs_short(self, idx, p_course, jobs: _StepJobs) -> dict | None:
        """:meth:`_probs` with the job marginal and the mass below the cut by short sums (None
        near a rounding edge)."""
        n = idx.size
        keep = p_course >= PROB_FLOOR
        kept = np.flatnonzero(keep)
        values = p_course[kept].tolist()
        bound = (8 * n + 64) * _ULP
        rest = 1.0 - sum(values)
        r = round(rest, 5)
        if rest - bound <= 0.0 or round(rest - bound, 5) != r or round(rest + bound, 5) != r:
            return None
        job = jobs.marginal_full(self.cfg.abandon_prob, p_course, bound)
        if job is None:
            return None
        names = self.course_list
        return {
            "course": {names[c]: round(v, 5) for c, v in zip(idx[kept].tolist(), values)},
            "course_other": r,
            "job": job,
        }

    def _job_groups(self, move: _MoveInfo, state: _UserState, idx: np.ndarray, base: _JobDist):
        """The eligible courses grouped by job distribution object, as the original grouped them.

        The original gave every eligible course adding a skill relevant to the next jobs (a
        *hit*) a distribution object of its own and all other courses one shared object. Returns
        the group number of every position in ``idx`` (groups numbered in order of first
        occurrence) and the group objects.
        """
        threshold = self.cfg.move_threshold
        masks = [
            sum(bit for s, bit in bits if state.held[self.skill_order[s]]) for _, bits, _ in move.job_bits
        ]
        hit_rows = move.hit_rows(state)
        cand = move.courses[hit_rows]
        pos = np.searchsorted(idx, cand)
        pos[pos == idx.size] = 0
        ok = idx[pos] == cand
        hits, hit_rows = pos[ok], hit_rows[ok]
        n = idx.size
        if hits.size == 0:
            return np.zeros(n, dtype=np.intp), _Objects(move, [base], base)
        patterns = []
        for r in hit_rows.tolist():
            new = list(masks)
            for k, add in move.adds[r]:
                new[k] |= add
            code = 0
            for k, job_id in enumerate(move.jobs):
                if self._coverage(job_id, new[k]) >= threshold:
                    code |= 1 << k
            patterns.append(move.pattern(code))
        is_hit = np.zeros(n, dtype=bool)
        is_hit[hits] = True
        first = int(is_hit.argmin())
        objects = list(patterns)
        if is_hit[first]:  # every eligible course is a hit
            group = np.arange(n)
        else:
            k = int(np.searchsorted(hits, first))
            objects.insert(k, base)
            group = np.full(n, k)
            group[hits] = np.arange(hits.size) + (hits > first)
        return group, _Objects(move, objects, base)

    def _probs(self, idx, p_course, group, objects: _Objects) -> dict:
        """Rounded course and (marginal over the course, abandonment included) job probabilities,
        computed in the original order of operations."""
        ab = self.cfg.abandon_prob
        # the course mass per job-distribution object (bincount adds in input order, like a running
        # sum), then the job mass added object by object in order of first occurrence
        mass = np.bincount(group, weights=p_course)
        totals = np.add.accumulate(((1 - ab) * mass)[:, None] * objects.q, axis=0)[-1]
        jobs: dict[str, float] = dict(zip(objects.keys, totals[objects.order]))
        for j, q in objects.base.items():
            jobs[j] = jobs.get(j, 0.0) + ab * q
        # detours spread a little mass over every eligible course; keep the rows small by storing
        # courses above PROB_FLOOR and the mass of the rest in "course_other"
        keep = p_course >= PROB_FLOOR
        kept = np.flatnonzero(keep)
        names = self.course_list
        return {
            "course": {names[c]: round(p, 5) for c, p in zip(idx[kept].tolist(), p_course[kept].tolist())},
            "course_other": round(float(p_course[~keep].sum()), 5),
            "job": {j: round(q, 5) for j, q in jobs.items() if q >= 1e-5},
        }


_CACHE_MAX = 200_000  # entries per cache keyed by job pairs; the caches are cleared when full
_MASK_CACHE_MAX = 4096  # per job: skills-held patterns (all of them for jobs of <= 12 skills)
_MISSING = object()
_ULP = 2.0**-53  # unit roundoff of float64


def _np_round5(x: float) -> float:
    """``round(np.float64(x), 5)`` (numpy rounds ``x * 1e5`` half to even, then divides)."""
    return round(x * 100000.0) / 100000.0


def _cdf(p: np.ndarray, normalise: bool = True) -> list[float]:
    """The cumulative distribution ``Generator.choice(p=p)`` searches (``p`` normalised first)."""
    p = np.asarray(p, dtype=np.float64)
    if normalise:
        p = p / p.sum()
    cdf = p.cumsum()
    cdf /= cdf[-1]
    return cdf.tolist()


class _CourseDists:
    """P(next course) of one step, unnormalised, one row per preference type: ``values`` at the
    useful courses (positions ``positions`` of ``idx``) and ``other`` at every other eligible
    course; the same numbers, element by element, as the original full rows."""

    __slots__ = ("idx", "positions", "values", "rows", "other")

    def __init__(self, synth, idx: np.ndarray, useful: np.ndarray, values: np.ndarray, other: float):
        self.idx, self.positions, self.values, self.other = idx, useful.tolist(), values, other
        self.rows = values.tolist()

    def row(self, k: int) -> tuple[list[float], float]:
        return self.rows[k], self.other

    def visible(self, posterior: np.ndarray) -> tuple[list[float], float]:
        """``sum(posterior[k] * row[k])`` (from 0, in type order), element by element."""
        weighted = posterior[:, None] * self.values
        total = weighted[0]
        for k in range(1, len(weighted)):
            total = total + weighted[k]
        post = posterior.tolist()
        other = post[0] * self.other
        for k in range(1, len(post)):
            other = other + post[k] * self.other
        return total.tolist(), other

    def full(self, values: tuple[list[float], float]) -> np.ndarray:
        """The row over all eligible courses, as the original built it."""
        useful, other = values
        out = np.full(self.idx.size, other)
        out[self.positions] = useful
        return out

    def column(self, pos: int) -> np.ndarray:
        """P(course at ``pos``) for every type (unnormalised)."""
        i = bisect_left(self.positions, pos)
        if i < len(self.positions) and self.positions[i] == pos:
            return self.values[:, i]
        return np.full(len(self.rows), self.other)

    def pick(self, k: int, u: float) -> int:
        """``rng.choice(n, p=row / row.sum())`` given its uniform number ``u``.

        The cumulative sums are made over the few useful courses and the runs of equal values
        between them; the original cumulative distribution differs by at most ``delta``, so the
        pick is the original's when ``u`` is farther than that from both edges of the picked
        course; otherwise the original computation is made.
        """
        n = self.idx.size
        useful, c = self.rows[k], self.other
        if c <= 0.0:
            return self._exact_pick(k, u)
        total = (n - len(useful)) * c + sum(useful)
        delta = (8 * n + 64) * _ULP
        cum, prev = 0.0, 0
        for pos, v in zip(self.positions, useful):
            gap = pos - prev
            if gap:
                end = cum + gap * c
                if end / total > u:
                    return self._in_run(k, u, prev, gap, cum, c, total, delta)
                cum = end
            new = cum + v
            if new / total > u:
                if u - cum / total > delta and new / total - u > delta:
                    return pos
                return self._exact_pick(k, u)
            cum, prev = new, pos + 1
        if prev < n:
            return self._in_run(k, u, prev, n - prev, cum, c, total, delta)
        return self._exact_pick(k, u)

    def _in_run(self, k, u, start, length, cum, c, total, delta) -> int:
        m = min(max(int((u * total - cum) / c), 0), length - 1)
        while m > 0 and (cum + m * c) / total > u:
            m -= 1
        while m < length - 1 and (cum + (m + 1) * c) / total <= u:
            m += 1
        if u - (cum + m * c) / total > delta and (cum + (m + 1) * c) / total - u > delta:
            return start + m
        return self._exact_pick(k, u)

    def _exact_pick(self, k: int, u: float) -> int:
        p = self.full(self.row(k))
        cdf = (p / p.sum()).cumsum()
        cdf /= cdf[-1]
        return int(cdf.searchsorted(u, side="right"))


class _StepJobs:
    """The next-job side of one step: the distribution now (``base``) and the eligible courses
    after which it differs (``changing``), with the job marginal the step records."""

    __slots__ = ("move", "state", "idx", "base", "changing", "_positions")

    def __init__(self, move, state, idx, base, changing: dict):
        self.move, self.state, self.idx, self.base, self.changing = move, state, idx, base, changing
        self._positions = None

    def positions(self) -> list[int]:
        if self._positions is None:
            self._positions = np.searchsorted(self.idx, list(self.changing)).tolist()
        return self._positions

    def groups(self, synth):
        """The original grouping of the courses by job-distribution object (exact path)."""
        return synth._job_groups(self.move, self.state, self.idx, self.base)

    def marginal(self, ab: float, dists: _CourseDists, p_useful, p_other, bound) -> dict | None:
        """P(next job) marginal over the course, from the (normalised) course probabilities."""
        mass = []
        if self.changing:
            where = dists.positions
            for pos in self.positions():
                i = bisect_left(where, pos)
                mass.append(p_useful[i] if i < len(where) and where[i] == pos else p_other)
        return self._marginal(ab, mass, bound)

    def marginal_full(self, ab: float, p_course: np.ndarray, bound) -> dict | None:
        mass = p_course[self.positions()].tolist() if self.changing else []
        return self._marginal(ab, mass, bound)

    def _marginal(self, ab: float, mass: list[float], bound: float) -> dict | None:
        if not self.changing:
            # the same for every step with this distribution: checked once with the widest bound
            cached = self.base.marginal
            if cached is None:
                wide = (64 * len(self.move.course_names) + 1024) * _ULP
                cached = self.base.marginal = self._marginal_sums(ab, [], wide) or False
            if cached is not False and bound <= cached["bound"]:
                return dict(cached["jobs"])
        out = self._marginal_sums(ab, mass, bound)
        return out and out["jobs"]

    def _marginal_sums(self, ab: float, mass: list[float], bound: float) -> dict | None:
        """The original added, object by object, (1 - ab) * mass * q, then ab * q of ``base``
        (abandonment); here the courses with the base distribution are one term. The rounded
        values are the original's when the same at both ends of the error interval."""
        base, one_m = self.base, 1 - ab
        if self.changing:
            objects = list(self.changing.values())
            rest = 1.0 - sum(mass)
            positions = self.positions()
            # base's keys first appear at the first position that is not a changing course
            first = next((i for i, pos in enumerate(positions) if pos != i), len(positions))
            order = [*objects[:first], base, *objects[first:]]
            keys = list(dict.fromkeys(k for d in order for k in d.choices))
        else:
            keys = base.choices
        jobs = {}
        for j in keys:
            b = base.get(j, 0.0)
            if self.changing:
                s = b * rest
                for m, d in zip(mass, objects):
                    s += m * d.get(j, 0.0)
            else:
                s = b
            q = one_m * s + ab * b
            lo, hi = q - bound, q + bound
            if lo <= 0.0 or (lo >= 1e-5) != (hi >= 1e-5):
                return None
            # numpy rounds q * 1e5 to the nearest integer (half to even), then divides
            y = q * 100000.0
            k = round(y)
            if 0.5 - abs(y - k) <= bound * 100000.0 + 1e-9:
                return None
            if q >= 1e-5:
                jobs[j] = np.float64(k / 100000.0)  # the original's values were numpy floats
        return {"jobs": jobs, "bound": bound}


class _UserState:
    """A user's skills (boolean vector) and, per course, the prerequisites missing and the taught
    skills still lacking: a course not yet taken is eligible when the first is 0 and the second
    is not."""

    __slots__ = ("synth", "held", "elig", "miss_prereq", "lack_teach", "bonus")

    def __init__(self, synth: Synthesiser, skills: set[str]):
        self.synth = synth
        self.bonus = None  # the provider variant's per-course score bonus, or None
        self.held = np.zeros(len(synth.skill_list) + 1, dtype=bool)
        self.miss_prereq = list(synth._n_prereq)
        self.lack_teach = list(synth._n_teach)
        self.elig = synth._elig0.copy()
        self.add(skills)

    def add(self, skills) -> None:
        synth, held = self.synth, self.held
        miss, lack, elig = self.miss_prereq, self.lack_teach, self.elig
        touched = set()
        for sk in skills:
            s = synth.skill_order[sk]
            if held[s]:
                continue
            held[s] = True
            for c in synth._teach_of[s]:
                lack[c] -= 1
                touched.add(c)
            for c in synth._prereq_of[s]:
                miss[c] -= 1
                touched.add(c)
        for c in touched:
            if lack[c] > _TAKEN:  # taken courses stay out
                elig[c] = miss[c] == 0 and lack[c] > 0

    def take(self, course: int) -> None:
        self.elig[course] = False
        self.lack_teach[course] = _TAKEN - 10**6


_TAKEN = -(10**9)


class _WantInfo:
    """Per (next hop, goal): the skills whose gap drives the choice and the courses teaching them.

    ``value`` per skill: the importance-weighted gap (hop and goal terms) for missing skills of the
    two jobs, else half the best such value of a course the skill is a prerequisite of; zero for
    skills held. Non-zero only on ``V`` (those skills and the prerequisites of the courses
    teaching them), so the gain of every course outside ``C`` (the courses teaching a skill of
    ``V``) is zero.
    """

    def __init__(self, synth: Synthesiser, hop: str, goal: str):
        cfg, cat, order = synth.cfg, synth.catalog, synth.skill_order
        hop_w = {order[s]: cfg.hop_weight * w for s, w in cat.jobs[hop].skills.items()}
        goal_w = {order[s]: cfg.goal_weight * w for s, w in cat.jobs[goal].skills.items()}
        U = sorted(set(hop_w) | set(goal_w))
        # want = 0.0 + hop term + goal term, as the original added them (0.0 + a == a, a + 0.0 == a)
        self.U = np.array(U, dtype=np.intp)
        self.want_weight = np.array([hop_w.get(s, 0.0) + goal_w.get(s, 0.0) for s in U])
        # with negative weights the original max over all skills still saw the zeros of the others
        self.clip = bool((self.want_weight < 0).any())
        CU = sorted({c for s in U for c in synth._teach_of[s]})
        P = sorted({p for c in CU for p in synth._prereq_sets[c]})
        upos = {s: k for k, s in enumerate(U)}
        ppos = {s: k for k, s in enumerate(P)}
        self.teach_cu = np.zeros((len(CU), len(U)))
        self.prereq_cp = np.zeros((len(CU), len(P)))
        for r, c in enumerate(CU):
            for s in synth._teach_sets[c]:
                if s in upos:
                    self.teach_cu[r, upos[s]] = 1.0
            for s in synth._prereq_sets[c]:
                self.prereq_cp[r, ppos[s]] = 1.0
        V = sorted(set(U) | set(P))
        vpos = {s: k for k, s in enumerate(V)}
        self.V = np.array(V, dtype=np.intp)
        self.pos_u = np.array([vpos[s] for s in U], dtype=np.intp)
        self.pos_p = np.array([vpos[s] for s in P], dtype=np.intp)
        # the courses whose gain can be non-zero, with the positions in V of what they teach
        # (padded with len(V), an always-zero slot)
        C = sorted({c for s in V for c in synth._teach_of[s]})
        taught = [[vpos[s] for s in synth._teach_sets[c] if s in vpos] for c in C]
        width = max([1, *map(len, taught)])
        self.C = np.array(C, dtype=np.intp)
        self.terms = np.full((len(C), width), len(V), dtype=np.intp)
        for r, t in enumerate(taught):
            self.terms[r, : len(t)] = t
        multi = [r for r, t in enumerate(taught) if len(t) >= 3]
        self.multi = np.array(multi, dtype=np.intp)
        self.multi_courses = self.C[self.multi]
        self._value = self._terms = None

    def _values(self, state: _UserState) -> np.ndarray:
        held = state.held
        value = np.zeros(self.V.size + 1)
        if self.U.size:
            want = self.want_weight * ~held[self.U]
            if self.prereq_cp.size:
                course_want = (self.teach_cu * want).max(axis=1)
                if self.clip:
                    course_want = np.maximum(course_want, 0.0)
                value[self.pos_p] = 0.5 * (self.prereq_cp * course_want[:, None]).max(axis=0)
                value[self.pos_u] = np.where(want > 0, want, value[self.pos_u])
            else:
                value[self.pos_u] = np.where(want > 0, want, 0.0)
            value[:-1] *= ~held[self.V]
        return value

    def gains(self, state: _UserState) -> np.ndarray:
        """Gain of every course of ``C``: the sum of the values of the skills it teaches."""
        self._value = value = self._values(state)
        self._terms = terms = value[self.terms]
        return terms.sum(axis=1)

    def ambiguous(self, state: _UserState) -> bool:
        """Whether an eligible course's gain has terms whose sum depends on the order of addition
        (after :meth:`gains`)."""
        if self.multi.size == 0:
            return False
        t = self._terms[self.multi]
        count = (t > 0).sum(axis=1)
        risky = (count >= 3) & state.elig[self.multi_courses]
        if not risky.any():
            return False
        if (count[risky] > 3).any():
            return True
        a, b, c = (-np.sort(-t[risky], axis=1))[:, :3].T
        s = (a + b) + c
        return not (((a + c) + b == s).all() and ((b + c) + a == s).all())

    def value_vector(self, n_skills: int) -> np.ndarray:
        """The value of every skill of the catalog (after :meth:`gains`)."""
        value = np.zeros(n_skills)
        value[self.V] = self._value[:-1]
        return value


class _JobDist(dict):
    """A next-job distribution (read-only) with what sampling and the job marginal need."""

    def __init__(self, dist: dict[str, float], slot: int, universe: dict[str, int]):
        super().__init__(dist)
        self.slot = slot
        self.marginal = None  # the job marginal of steps where no course changes it (cached)
        self.choices = list(dist)
        self.cdf = _cdf(np.array([dist[k] for k in self.choices]))
        self.qrow = np.zeros(len(universe))
        for k, q in dist.items():
            self.qrow[universe[k]] = q


class _Objects:
    """The job-distribution objects of one step in order of first occurrence, as a matrix."""

    __slots__ = ("base", "q", "keys", "order")

    def __init__(self, move: _MoveInfo, objects: list[_JobDist], base: _JobDist):
        self.base = base
        slots = [d.slot for d in objects]
        self.q = move.qmat[slots]
        keys: dict[str, None] = {}
        for slot in dict.fromkeys(slots):
            for k in move.by_slot[slot].choices:
                keys.setdefault(k)
        self.keys = list(keys)
        self.order = [move.universe[k] for k in self.keys]


class _MoveInfo:
    """Per (job, next hop): the jobs a move can go to and the skills and courses that matter."""

    def __init__(self, synth: Synthesiser, job: str, hop: str):
        cat, order, cfg = synth.catalog, synth.skill_order, synth.cfg
        self.cfg, self.hop = cfg, hop
        self.move_prob = cfg.family_move_prob.get(cat.jobs[job].family, cfg.move_prob)
        self.course_names = synth.course_list
        self.laterals = [b for b, _ in synth.prog.next_jobs[job] if b != hop]
        self.jobs = [hop, *self.laterals]
        relevant = set(cat.jobs[hop].skills)
        for b, _ in synth.prog.next_jobs[job]:
            relevant |= set(cat.jobs[b].skills)
        rel = sorted(order[s] for s in relevant)
        self.skills = np.array(rel, dtype=np.intp)
        rel_pos = {s: k for k, s in enumerate(rel)}
        courses = sorted({c for s in rel for c in synth._teach_of[s]})
        self.courses = np.array(courses, dtype=np.intp)
        self.teach_rel = np.zeros((len(courses), len(rel)), dtype=bool)
        # per next job: (id, [(skill id, bit)] in the job's order, the most coverage one course adds)
        self.job_bits = []
        bit_of = []
        for b in self.jobs:
            weights = list(cat.jobs[b].skills.values())
            bit_of.append({order[s]: k for k, s in enumerate(cat.jobs[b].skills)})
            self.job_bits.append([b, [(s, 1 << k) for k, s in enumerate(cat.jobs[b].skills)], weights])
        # per course: (job number, bits of that job's skills it teaches) for the jobs it touches;
        # per job: (course, bits) for the courses teaching one of its skills
        self.adds = []
        self.teachers: list[list[tuple[int, int]]] = [[] for _ in self.jobs]
        best = [0.0] * len(self.jobs)
        for r, c in enumerate(courses):
            taught = synth._teach_sets[c]
            for s in taught:
                if s in rel_pos:
                    self.teach_rel[r, rel_pos[s]] = True
            adds = []
            for k, bits in enumerate(bit_of):
                add = 0
                for s in taught:
                    if s in bits:
                        add |= 1 << bits[s]
                if add:
                    adds.append((k, add))
                    self.teachers[k].append((c, add))
                    w = self.job_bits[k][2]
                    best[k] = max(best[k], sum(w[i] for i in range(len(w)) if add >> i & 1))
            self.adds.append(adds)
        for k, entry in enumerate(self.job_bits):
            total = sum(entry[2])
            # upper bound on the coverage one course adds (all when the weights do not add up)
            entry[2] = best[k] / total if total > 0 else float("inf")
        self.universe = {k: i for i, k in enumerate(dict.fromkeys([STAY, *self.jobs]))}
        self._patterns: dict[int, _JobDist] = {}
        self._job_state: list[dict[int, tuple[bool, list[int]]]] = [{} for _ in self.jobs]
        self.by_slot: list[_JobDist] = []
        self.qmat = np.zeros((0, len(self.universe)))

    def job_state(self, synth: Synthesiser, k: int, mask: int) -> tuple[bool, list[int]]:
        """Whether next job ``k`` is reachable with the skills ``mask`` of it, and if not, the
        courses (any, eligible or not) after which it would be."""
        cache = self._job_state[k]
        out = cache.get(mask)
        if out is None:
            if len(cache) > _MASK_CACHE_MAX:
                cache.clear()
            job_id = self.jobs[k]
            threshold = self.cfg.move_threshold
            if synth._coverage(job_id, mask) >= threshold:
                out = (True, [])
            else:
                courses = [
                    c
                    for c, add in self.teachers[k]
                    if mask | add != mask and synth._coverage(job_id, mask | add) >= threshold
                ]
                out = (False, courses)
            cache[mask] = out
        return out

    def hit_rows(self, state: _UserState) -> np.ndarray:
        """Rows of ``courses`` teaching a relevant skill not held."""
        if self.courses.size == 0:
            return np.empty(0, dtype=np.intp)
        return np.flatnonzero((self.teach_rel & ~state.held[self.skills]).any(axis=1))

    def pattern(self, code: int) -> _JobDist:
        """The distribution for readiness ``code`` (bit 0: the hop, then the laterals in order),
        built exactly as the original ``_job_dist`` built it."""
        dist = self._patterns.get(code)
        if dist is None:
            cfg = self.cfg
            d = {STAY: 1.0}
            if code & 1:
                d[self.hop] = self.move_prob
                d[STAY] -= self.move_prob
            laterals = [b for k, b in enumerate(self.laterals, start=1) if code >> k & 1]
            if laterals:
                share = cfg.lateral_prob * d[STAY]
                for b in laterals:
                    d[b] = d.get(b, 0.0) + share / len(laterals)
                d[STAY] -= share
            dist = self._patterns[code] = _JobDist(d, len(self.by_slot), self.universe)
            self.by_slot.append(dist)
            self.qmat = np.vstack([self.qmat, dist.qrow[None, :]])
        return dist


def _family_provider_bonus(catalog: Catalog, bonus: float) -> dict[str, np.ndarray]:
    """The provider variant: per job family, ``bonus`` on the courses of its provider (families
    and providers in name order, the n-th family takes the n-th provider, cycling); {} when off."""
    if not bonus:
        return {}
    providers = sorted({c.provider for c in catalog.courses.values()})
    families = sorted({j.family for j in catalog.jobs.values()})
    own = [c.provider for c in catalog.courses.values()]
    out = {}
    for n, fam in enumerate(families):
        mine = providers[n % len(providers)]
        out[fam] = np.array([bonus if p == mine else 0.0 for p in own])
    return out


def _sparse_max(m, data: np.ndarray, axis: int) -> np.ndarray:
    """Max over ``axis`` of the sparse 0/1 matrix ``m`` with its stored values replaced by ``data``."""
    out = m.copy()
    out.data = np.asarray(data, dtype=np.float64)
    return out.max(axis=axis).toarray().ravel()


def event_to_texts(ev: Event, catalog: Catalog, context: GapRetriever | None = None) -> tuple[Profile, Step]:
    """The structured event as the text format's input and target (with the catalog context of
    ``context``, when given: see ``careerpath/core/context.py``)."""
    cat = catalog
    profile = Profile(
        goal=cat.jobs[ev.goal].title if ev.goal_stated else "",
        job=cat.jobs[ev.job].title,
        history=[cat.jobs[j].title for j in ev.history],
        skills=cat.skill_names(ev.skills),
        courses=[cat.courses[c].title for c in ev.courses],
    )
    if context is not None:
        add_context(profile, context.context(ev.job, _goal_id(ev), ev.skills, ev.courses), cat)
    step = Step(
        next_course=cat.courses[ev.next_course].title,
        skills_gained=cat.skill_names(ev.skills_gained),
        next_job=STAY if ev.next_job == STAY else cat.jobs[ev.next_job].title,
    )
    return profile, step


def event_to_row(ev: Event, catalog: Catalog, context: GapRetriever | None = None) -> dict:
    """One dataset row: texts, the structured fields behind them and the generator's probabilities
    (and the catalog context's ids, with ``context``)."""
    cat = catalog
    profile, step = event_to_texts(ev, cat)
    ctx = context.context(ev.job, _goal_id(ev), ev.skills, ev.courses) if context is not None else None
    if ctx is not None:
        add_context(profile, ctx, cat)
    start, current = cat.jobs[ev.start_job], cat.jobs[ev.job]
    row = {
        "user_id": ev.user_id,
        "step": ev.step,
        "input_text": serialise_input(profile),
        "target_text": serialise_target(step),
        "goal": profile.goal,
        "job": profile.job,
        "history": profile.history,
        "skills": profile.skills,
        "courses": profile.courses,
        "next_course": step.next_course,
        "skills_gained": step.skills_gained,
        "next_job": step.next_job,
        "goal_id": _goal_id(ev),
        "job_id": ev.job,
        "history_ids": ev.history,
        "skill_ids": ev.skills,
        "course_ids": ev.courses,
        "next_course_id": ev.next_course,
        "skills_gained_ids": ev.skills_gained,
        "next_job_id": ev.next_job,
        "start_family": start.family,
        "start_level": start.level,
        "job_family": current.family,
        "job_level": current.level,
        "user_type": ev.user_type,
        "probs": ev.probs,
        "probs_visible": ev.probs_visible,
        "job_given_course": ev.job_given_course,
    }
    if ctx is not None:
        row["next_step_id"], row["best_ids"], row["option_ids"] = ctx.next_step, ctx.best, ctx.options
        row["ready_ids"] = ctx.ready_after
    return row


def _goal_id(ev: Event) -> str:
    """The goal as the row states it: "" for a person who stated none."""
    return ev.goal if ev.goal_stated else ""


def argmax_key(dist: dict[str, float]) -> str:
    """Most likely key; ties broken by key so the oracle is deterministic."""
    return min(dist.items(), key=lambda kv: (-kv[1], kv[0]))[0] if dist else ""


def entropy(dist: dict[str, float]) -> float:
    return -sum(p * math.log(p) for p in dist.values() if p > 0)


class RowWriter:
    """``json.dumps(event_to_row(ev, catalog), ensure_ascii=False)``, faster: the JSON and text
    format fragments of every catalog name are made once and joined per row.

    JSON escapes character by character, so the JSON of a text is the join of the JSON of its
    parts. Names the text format would reject (and anything unexpected) go through
    :func:`event_to_row`, which raises the same error as before.
    """

    def __init__(self, catalog: Catalog, context: GapRetriever | None = None):
        self.catalog, self.context = catalog, context

        def js(value) -> str:
            return json.dumps(value, ensure_ascii=False)

        def text(value: str) -> str | None:  # the text-format value, JSON-escaped, without quotes
            try:
                return js(_escape(check_value(value, "name")))[1:-1]
            except Exception:
                return None

        self._skill = {i: (js(s.name), js(i), text(s.name)) for i, s in catalog.skills.items()}
        self._course = {i: (js(c.title), js(i), text(c.title)) for i, c in catalog.courses.items()}
        self._job = {
            i: (js(j.title), js(i), text(j.title), js(j.family), js(j.level)) for i, j in catalog.jobs.items()
        }
        self._stay = (js(STAY), text(STAY))
        self._str: dict[str, str] = {}
        self._key = {i: f"{js(i)}: " for i in [*catalog.courses, *catalog.jobs, STAY]}

    def _js(self, value: str) -> str:
        out = self._str.get(value)
        if out is None:
            if len(self._str) > _CACHE_MAX:
                self._str.clear()
            out = self._str[value] = json.dumps(value, ensure_ascii=False)
        return out

    def line(self, ev: Event) -> str:
        """One JSONL line (with its newline) for the event."""
        try:
            return self._line(ev)
        except (KeyError, TypeError):
            return json.dumps(event_to_row(ev, self.catalog, self.context), ensure_ascii=False) + "\n"

    def _line(self, ev: Event) -> str:
        if not ev.goal_stated:
            raise KeyError("no goal stated: the plain path writes it")
        S, C, J = self._skill, self._course, self._job
        goal, job, start = J[ev.goal], J[ev.job], J[ev.start_job]
        hist = [J[h] for h in ev.history]
        skills = [S[s] for s in ev.skills]
        courses = [C[c] for c in ev.courses]
        nc = C[ev.next_course]
        gained = [S[s] for s in ev.skills_gained]
        nj = self._stay if ev.next_job == STAY else J[ev.next_job][::2]
        # the text format: "name: value" ("name:" when empty), " | " between fields
        parts = [goal[2], job[2], nc[2], nj[1]]
        parts += (
            [x[2] for x in hist] + [x[2] for x in skills] + [x[2] for x in courses] + [x[2] for x in gained]
        )
        ctx_json, js_empty = "", '""'
        if self.context is not None:
            ctx = self.context.context(ev.job, ev.goal, ev.skills, ev.courses)
            step = J[ctx.next_step] if ctx.next_step else None
            best, options = [C[c] for c in ctx.best], [C[c] for c in ctx.options]
            ready = [C[c] for c in ctx.ready_after]
            parts += [x[2] for x in best + options + ready] + ([step[2]] if step else [])
        if None in parts or not goal[2] or not job[2]:
            raise KeyError("not a plain name")
        input_text = (
            f"goal: {goal[2]} | job: {job[2]} | "
            + (f"history: {' > '.join(x[2] for x in hist)}" if hist else "history:")
            + (f" | skills: {', '.join(x[2] for x in skills)}" if skills else " | skills:")
            + (f" | courses: {'; '.join(x[2] for x in courses)}" if courses else " | courses:")
        )
        if self.context is not None:
            input_text += (
                (f" | next_step: {step[2]}" if step else " | next_step:")
                + (f" | best: {'; '.join(x[2] for x in best)}" if best else " | best:")
                + (f" | options: {'; '.join(x[2] for x in options)}" if options else " | options:")
                + (f" | ready_after: {'; '.join(x[2] for x in ready)}" if ready else " | ready_after:")
            )
            ctx_json = (
                f', "next_step_id": {step[1] if step else js_empty}, "best_ids": [{", ".join(x[1] for x in best)}], '
                f'"option_ids": [{", ".join(x[1] for x in options)}], '
                f'"ready_ids": [{", ".join(x[1] for x in ready)}]'
            )
        target_text = (
            f"next_course: {nc[2]} | "
            + (f"skills_gained: {', '.join(x[2] for x in gained)}" if gained else "skills_gained:")
            + f" | next_job: {nj[1]}"
        )
        js = self._js
        return (
            f'{{"user_id": {json.dumps(ev.user_id, ensure_ascii=False)}, "step": {int(ev.step)}, '
            f'"input_text": "{input_text}", "target_text": "{target_text}", '
            f'"goal": {goal[0]}, "job": {job[0]}, "history": [{", ".join(x[0] for x in hist)}], '
            f'"skills": [{", ".join(x[0] for x in skills)}], "courses": [{", ".join(x[0] for x in courses)}], '
            f'"next_course": {nc[0]}, "skills_gained": [{", ".join(x[0] for x in gained)}], '
            f'"next_job": {nj[0] if ev.next_job == STAY else J[ev.next_job][0]}, '
            f'"goal_id": {goal[1]}, "job_id": {job[1]}, "history_ids": [{", ".join(x[1] for x in hist)}], '
            f'"skill_ids": [{", ".join(x[1] for x in skills)}], "course_ids": [{", ".join(x[1] for x in courses)}], '
            f'"next_course_id": {nc[1]}, "skills_gained_ids": [{", ".join(x[1] for x in gained)}], '
            f'"next_job_id": {js(ev.next_job)}, "start_family": {start[3]}, "start_level": {start[4]}, '
            f'"job_family": {job[3]}, "job_level": {job[4]}, "user_type": {js(ev.user_type)}, '
            f'"probs": {self._probs(ev.probs)}, "probs_visible": {self._probs(ev.probs_visible)}, '
            f'"job_given_course": {{{", ".join([self._key[k] + float.__repr__(v) for k, v in ev.job_given_course.items()])}}}'
            f"{ctx_json}}}\n"
        )

    def _probs(self, probs: dict) -> str:
        # json.dumps writes floats (numpy floats included) with float.__repr__ (a TypeError for
        # anything else sends the row to the slow path); probabilities are finite
        key, fr = self._key, float.__repr__
        course = ", ".join([key[k] + fr(v) for k, v in probs["course"].items()])
        job = ", ".join([key[k] + fr(v) for k, v in probs["job"].items()])
        if len(probs) != 3:
            raise KeyError("unexpected probs")
        return f'{{"course": {{{course}}}, "course_other": {fr(probs["course_other"])}, "job": {{{job}}}}}'


def oracle_values(ev: Event) -> tuple[bool, list[float], bool]:
    """What the oracle ceiling adds for one row, in its order: for ``probs_visible`` then
    ``probs``: next-course hit and expected accuracy, next-job hit and expected accuracy, and
    (moves only) next-job hit. Also whether a job expectation was a numpy float (the original
    sum then became one and was rounded as one)."""
    is_move = ev.next_job != STAY
    out: list[float] = []
    numpy_job = False
    for probs in (ev.probs_visible, ev.probs):
        course, job = probs["course"], probs["job"]
        out.append(float(_argmax(course) == ev.next_course))
        out.append(max(course.values()))
        best = _argmax(job)
        out.append(float(best == ev.next_job))
        top = max(job.values())
        numpy_job |= type(top) is not float
        out.append(float(top))
        if is_move:
            out.append(float(best == ev.next_job))
    return is_move, out, numpy_job


def _argmax(dist: dict[str, float]) -> str:
    """:func:`argmax_key`: the most likely key, ties broken by key."""
    if not dist:
        return ""
    top = max(dist.values())
    best = [k for k, v in dist.items() if v == top]
    return best[0] if len(best) == 1 else min(best)
