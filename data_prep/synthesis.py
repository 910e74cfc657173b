"""Synthetic users and their trajectories (seed steps 3 and 7), with the generator's probabilities.

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

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from data_prep.catalog import Catalog
from data_prep.progression import Progression, coverage, skill_gap
from data_prep.textformat import STAY, Profile, Step, serialise_input, serialise_target

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


class Synthesiser:
    """Generates users one at a time (streaming, so memory stays flat at any size)."""

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
        if self.sparse:
            self._prereq_rows = np.repeat(np.arange(shape[0]), np.diff(self.prereq_m.indptr))
        hours = np.array([c.hours for c in catalog.courses.values()])
        levels = np.array([c.level for c in catalog.courses.values()])
        self.type_pref = [
            -t.long_course_penalty * np.maximum(hours - t.long_hours, 0.0) / 10.0
            + t.level_bonus * (levels - 1)
            for t in cfg.types
        ]
        self.start_jobs = [j for j in catalog.jobs if progression.reachable_from(j, cfg.max_goal_hops)]
        self.priors = np.array([t.prior for t in cfg.types]) / sum(t.prior for t in cfg.types)

    # -- users -------------------------------------------------------------------------------
    def users(self, start: int = 0, stop: int | None = None) -> Iterator[list[Event]]:
        """Trajectories of users ``start..stop``; user i depends only on (seed, i)."""
        stop = self.cfg.users if stop is None else stop
        for i in range(start, stop):
            rng = np.random.default_rng([self.cfg.seed, i])
            yield self.trajectory(f"u{i:07d}", rng)

    def _start_state(self, rng: np.random.Generator):
        cat = self.catalog
        job = self.start_jobs[rng.integers(len(self.start_jobs))]
        reach = self.prog.reachable_from(job, self.cfg.max_goal_hops)
        goals = sorted(reach)
        weights = np.array([1.0 + max(cat.jobs[g].level - cat.jobs[job].level, 0) for g in goals])
        goal = goals[rng.choice(len(goals), p=weights / weights.sum())]
        history = [job]
        skills = {s for s in cat.jobs[job].skills if rng.random() < self.cfg.start_skill_prob}
        preds = [
            a for a, moves in self.prog.next_jobs.items() if any(b == job for b, _ in moves) and a != goal
        ]
        if preds and rng.random() < self.cfg.previous_job_prob:
            prev = preds[rng.integers(len(preds))]
            history.insert(0, prev)
            skills |= {s for s in cat.jobs[prev].skills if rng.random() < 0.6}
        utype = int(rng.choice(len(self.cfg.types), p=self.priors))
        return job, goal, history, skills, utype

    def trajectory(self, user_id: str, rng: np.random.Generator) -> list[Event]:
        job, goal, history, skills, utype = self._start_state(rng)
        start_job, courses, events = job, [], []
        posterior = self.priors.copy()
        for step in range(self.cfg.max_steps):
            if job == goal:
                break
            hop = self.prog.next_hop(job, goal)
            if hop is None:
                break
            ids, per_type = self._course_dists(hop, goal, skills, courses)
            if not ids:
                break
            p_true = per_type[utype]
            course = ids[rng.choice(len(ids), p=p_true / p_true.sum())]
            abandoned = rng.random() < self.cfg.abandon_prob
            gained = [] if abandoned else self._new_skills(course, skills)
            after = skills | set(gained)
            job_dist_by_course = self._job_dists(job, hop, skills, ids)
            next_job = self._sample_job(
                job_dist_by_course[course] if not abandoned else self._job_dist(job, hop, skills), rng
            )
            p_visible = sum(posterior[k] * per_type[k] for k in range(len(per_type)))
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
                    probs=self._probs(ids, p_true, job_dist_by_course, job, hop, skills),
                    probs_visible=self._probs(ids, p_visible, job_dist_by_course, job, hop, skills),
                    user_type=self.cfg.types[utype].name,
                    start_job=start_job,
                )
            )
            # Bayes update of the type posterior from the observed course choice.
            k = ids.index(course)
            posterior = posterior * np.array([per_type[t][k] for t in range(len(per_type))])
            posterior /= posterior.sum()
            if not abandoned:
                courses.append(course)
                skills = after
            if next_job != STAY:
                job = next_job
                history.append(job)
        return events

    # -- the generator's probabilities ------------------------------------------------------
    def _new_skills(self, course_id: str, skills: set[str]) -> list[str]:
        return [s for s in self.catalog.courses[course_id].skills if s not in skills]

    def _course_dists(self, hop, goal, skills, taken) -> tuple[list[str], list[np.ndarray]]:
        """P(next course) for every preference type: softmax over useful courses plus detours.

        Vectorised over the catalog (course x skill matrices), since this runs for every step of
        every user.
        """
        cfg, cat = self.cfg, self.catalog
        lacking = np.ones(len(self.skill_list), dtype=bool)
        for s in skills:
            lacking[self.skill_order[s]] = False
        want = np.zeros(len(self.skill_list))
        for s, w in skill_gap(skills, cat.jobs[hop]):
            want[self.skill_order[s]] += cfg.hop_weight * w
        for s, w in skill_gap(skills, cat.jobs[goal]):
            want[self.skill_order[s]] += cfg.goal_weight * w
        # skills that unlock a wanted course's prerequisites count for half
        if self.sparse:
            course_want = _sparse_max(self.teach_m, want[self.teach_m.indices], axis=1)
            unlock = 0.5 * _sparse_max(self.prereq_m, course_want[self._prereq_rows], axis=0)
        else:
            course_want = (self.teach_m * want).max(axis=1)
            unlock = 0.5 * (self.prereq_m * course_want[:, None]).max(axis=0)
        value = np.where(want > 0, want, unlock) * lacking
        lack = lacking.astype(np.float32) if self.sparse else lacking
        eligible = (self.prereq_m @ lack == 0) & (self.teach_m @ lack > 0)
        for c in taken:
            eligible[self.course_pos[c]] = False
        idx = np.flatnonzero(eligible)
        if idx.size == 0:
            return [], []
        ids = [self.course_list[i] for i in idx]
        gain = self.teach_m[idx] @ value
        useful = gain > 0
        dists = []
        for pref in self.type_pref:
            probs = np.full(idx.size, cfg.detour_prob / idx.size)
            if not useful.any():
                dists.append(np.full(idx.size, 1.0 / idx.size))
                continue
            z = (cfg.gain_weight * gain[useful] + pref[idx][useful]) / cfg.temperature
            z = np.exp(z - z.max())
            probs[useful] += (1.0 - cfg.detour_prob) * z / z.sum()
            dists.append(probs)
        return ids, dists

    def _job_dist(self, job: str, hop: str, skills: set[str]) -> dict[str, float]:
        """P(next job | skills after the course): move to the next hop when ready, else stay."""
        cfg, cat = self.cfg, self.catalog
        dist = {STAY: 1.0}
        if coverage(skills, cat.jobs[hop]) >= cfg.move_threshold:
            dist[hop] = cfg.move_prob
            dist[STAY] -= cfg.move_prob
        laterals = [
            b
            for b, _ in self.prog.next_jobs[job]
            if b != hop and coverage(skills, cat.jobs[b]) >= cfg.move_threshold
        ]
        if laterals:
            share = cfg.lateral_prob * dist[STAY]
            for b in laterals:
                dist[b] = dist.get(b, 0.0) + share / len(laterals)
            dist[STAY] -= share
        return dist

    def _job_dists(self, job, hop, skills, course_ids) -> dict[str, dict[str, float]]:
        """Job distribution after each candidate course; courses adding no relevant skill share one."""
        relevant = set(self.catalog.jobs[hop].skills)
        for b, _ in self.prog.next_jobs[job]:
            relevant |= set(self.catalog.jobs[b].skills)
        base = self._job_dist(job, hop, skills)
        mask = np.zeros(len(self.skill_list))
        for sk in relevant - skills:
            mask[self.skill_order[sk]] = 1.0
        hits = self.teach_m @ mask
        out = dict.fromkeys(course_ids, base)
        for i in np.flatnonzero(hits > 0):
            cid = self.course_list[i]
            if cid in out:
                new = set(self.catalog.courses[cid].skills) & relevant
                out[cid] = self._job_dist(job, hop, skills | new)
        return out

    def _sample_job(self, dist: dict[str, float], rng: np.random.Generator) -> str:
        keys = list(dist)
        p = np.array([dist[k] for k in keys])
        return keys[rng.choice(len(keys), p=p / p.sum())]

    def _probs(self, ids, p_course, job_dists, job, hop, skills) -> dict:
        """Rounded course and (marginal over the course, abandonment included) job probabilities."""
        p_course = p_course / p_course.sum()
        ab = self.cfg.abandon_prob
        # most courses share one job distribution object: add their mass once per object (in order
        # of first occurrence; bincount adds in input order, like a running sum)
        dists = [job_dists[cid] for cid in ids]
        first: dict[int, int] = {}
        group = np.fromiter(
            (first.setdefault(id(d), len(first)) for d in dists), dtype=np.int64, count=len(dists)
        )
        objects = list({id(d): d for d in dists}.values())
        jobs: dict[str, float] = {}
        for d, p in zip(objects, np.bincount(group, weights=p_course)):
            for j, q in d.items():
                jobs[j] = jobs.get(j, 0.0) + (1 - ab) * p * q
        for j, q in self._job_dist(job, hop, skills).items():
            jobs[j] = jobs.get(j, 0.0) + ab * q
        # detours spread a little mass over every eligible course; keep the rows small by storing
        # courses above PROB_FLOOR and the mass of the rest in "course_other"
        keep = p_course >= PROB_FLOOR
        return {
            "course": {ids[i]: round(float(p_course[i]), 5) for i in np.flatnonzero(keep)},
            "course_other": round(float(p_course[~keep].sum()), 5),
            "job": {j: round(q, 5) for j, q in jobs.items() if q >= 1e-5},
        }


def _sparse_max(m, data: np.ndarray, axis: int) -> np.ndarray:
    """Max over ``axis`` of the sparse 0/1 matrix ``m`` with its stored values replaced by ``data``."""
    out = m.copy()
    out.data = np.asarray(data, dtype=np.float64)
    return out.max(axis=axis).toarray().ravel()


def event_to_texts(ev: Event, catalog: Catalog) -> tuple[Profile, Step]:
    """The structured event as the text format's input and target."""
    cat = catalog
    profile = Profile(
        goal=cat.jobs[ev.goal].title,
        job=cat.jobs[ev.job].title,
        history=[cat.jobs[j].title for j in ev.history],
        skills=cat.skill_names(ev.skills),
        courses=[cat.courses[c].title for c in ev.courses],
    )
    step = Step(
        next_course=cat.courses[ev.next_course].title,
        skills_gained=cat.skill_names(ev.skills_gained),
        next_job=STAY if ev.next_job == STAY else cat.jobs[ev.next_job].title,
    )
    return profile, step


def event_to_row(ev: Event, catalog: Catalog) -> dict:
    """One dataset row: texts, the structured fields behind them and the generator's probabilities."""
    cat = catalog
    profile, step = event_to_texts(ev, cat)
    start, current = cat.jobs[ev.start_job], cat.jobs[ev.job]
    return {
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
        "goal_id": ev.goal,
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
    }


def argmax_key(dist: dict[str, float]) -> str:
    """Most likely key; ties broken by key so the oracle is deterministic."""
    return min(dist.items(), key=lambda kv: (-kv[1], kv[0]))[0] if dist else ""


def entropy(dist: dict[str, float]) -> float:
    return -sum(p * math.log(p) for p in dist.values() if p > 0)
