"""Progression logic (seed step 5): which jobs follow which, which courses serve a job, skill gaps.

The transition graph gives each job about ``n_next`` plausible next jobs, scored from required-skill
overlap, level progression and family, plus the catalog's own transitions when it has them (those
that say where they come from, the ``why`` of observed or learned mobility, rank above every scored
pair, most likely first: they are how people move, not a guess at it). Each
job also gets about ``n_courses`` relevant courses: those teaching its required skills and the gaps
to its next jobs.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from careerpath.core.catalog import Catalog, Job

MOVE_THRESHOLD = 0.8
"""The default share of a job's required skills (importance-weighted) at which a person is ready
to move to it: the one default of ``context.move_threshold`` and ``synthesis.move_threshold``."""

CURATED_MOVE = 2.0  # score of a catalog transition: this + its weight
SOURCED_MOVE = 4.0  # ... when it says where it comes from: above any scored pair (at most 3.4)


def skill_gap(skills: set[str], job: Job) -> list[tuple[str, float]]:
    """Required skills of ``job`` that ``skills`` lacks, most important first."""
    missing = [(s, w) for s, w in job.skills.items() if s not in skills]
    return sorted(missing, key=lambda x: (-x[1], x[0]))


def coverage(skills: set[str], job: Job) -> float:
    """Importance-weighted share of ``job``'s required skills held."""
    total = sum(job.skills.values())
    if total <= 0:
        return 1.0
    return sum([w for s, w in job.skills.items() if s in skills]) / total


def ready_share(held: float, total: float, threshold: float) -> bool:
    """The move rule's comparison: ``held`` of a job's ``total`` importance weight is at least
    ``threshold`` of it (a job with no weight: always), the share rounded to 9 places so that a
    share at the threshold decides alike for every caller."""
    share = held / total if total > 0 else 1.0
    return round(share, 9) >= threshold - 1e-9


def ready_to_move(skills, job: Job, threshold: float) -> bool:
    """The move rule: ``skills`` cover at least ``threshold`` of ``job``'s required skills
    (importance-weighted, :func:`coverage`, compared by :func:`ready_share`) for every caller (the
    context's ``ready_after``, the pathway planner, the baselines)."""
    held = skills if isinstance(skills, (set, frozenset)) else set(skills)  # no copy of a set
    return ready_share(
        sum([w for s, w in job.skills.items() if s in held]), sum(job.skills.values()), threshold
    )


def ready_with(skills: set[str] | frozenset[str], extra, job: Job, threshold: float) -> bool:
    """``ready_to_move(skills | set(extra), job, threshold)`` without building the union: the
    same sum in the same order (so the same answer at the threshold), for the many "ready after
    this course?" questions about one set of skills."""
    held = sum([w for s, w in job.skills.items() if s in skills or s in extra])
    return ready_share(held, sum(job.skills.values()), threshold)


def overlap(a: Job, b: Job) -> float:
    """Weighted Jaccard similarity of two jobs' required skills."""
    keys = set(a.skills) | set(b.skills)
    num = sum(min(a.skills.get(k, 0.0), b.skills.get(k, 0.0)) for k in keys)
    den = sum(max(a.skills.get(k, 0.0), b.skills.get(k, 0.0)) for k in keys)
    return num / den if den else 0.0


@dataclass
class Progression:
    """Transition graph and course relevance for a catalog."""

    catalog: Catalog
    n_next: int = 5
    n_courses: int = 10
    next_jobs: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    job_courses: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._build_graph()
        self._build_job_courses()
        self._dist_cache: dict[str, dict[str, int]] = {}

    # -- graph -------------------------------------------------------------------------------
    def _move_score(self, a: Job, b: Job) -> float:
        step = b.level - a.level
        level_term = {0: 0.5, 1: 1.0, 2: 0.2}.get(step, -1.0)
        family_term = 0.4 if a.family == b.family else 0.0
        return 2.0 * overlap(a, b) + level_term + family_term

    def _build_graph(self) -> None:
        """Scores every pair of jobs with :meth:`_move_score`, vectorised (sparse job x skill matrix).

        One row of pair scores at a time, so memory stays O(jobs x skills of one job) and a catalog
        of thousands of jobs (O*NET, ESCO) builds in seconds.
        """
        jobs = self.catalog.jobs
        curated: dict[str, dict[str, float]] = {}
        for t in self.catalog.transitions:
            # 2 + w: above most scored pairs; with a why (observed / learned mobility): above all of them
            curated.setdefault(t.from_job, {})[t.to_job] = (
                SOURCED_MOVE if t.why else CURATED_MOVE
            ) + t.weight
        ids = list(jobs)
        pos = {j: i for i, j in enumerate(ids)}
        skill_pos: dict[str, int] = {}
        rows, cols, vals = [], [], []
        for i, job in enumerate(jobs.values()):
            for s, w in job.skills.items():
                rows.append(i)
                cols.append(skill_pos.setdefault(s, len(skill_pos)))
                vals.append(w)
        weights = sparse.csc_matrix((vals, (rows, cols)), shape=(len(ids), max(len(skill_pos), 1)))
        row_sum = np.asarray(weights.sum(axis=1)).ravel()
        levels = np.array([j.level for j in jobs.values()])
        family_code = {f: k for k, f in enumerate(dict.fromkeys(j.family for j in jobs.values()))}
        families = np.array([family_code[j.family] for j in jobs.values()])
        id_rank = np.empty(len(ids), dtype=np.int64)
        id_rank[np.argsort(np.array(ids, dtype=object))] = np.arange(len(ids))
        for i, a in enumerate(jobs.values()):
            overlap_ = np.zeros(len(ids))
            if a.skills:
                own = np.array([w for w in a.skills.values()])
                sub = weights[:, [skill_pos[s] for s in a.skills]].toarray()
                num = np.minimum(sub, own).sum(axis=1)
                den = np.maximum(sub, own).sum(axis=1) + (row_sum - sub.sum(axis=1))
                np.divide(num, den, out=overlap_, where=den > 0)
            step = levels - a.level
            level_term = np.select([step == 0, step == 1, step == 2], [0.5, 1.0, 0.2], -1.0)
            score = 2.0 * overlap_ + level_term + 0.4 * (families == families[i])
            keep = score > 0.6
            for b_id, w in curated.get(a.id, {}).items():
                b = pos[b_id]
                score[b] = max(score[b], w)  # the catalog's own moves rank first
                keep[b] = True
            keep[i] = False
            idx = np.flatnonzero(keep)
            best = idx[np.lexsort((id_rank[idx], -score[idx]))[: self.n_next]]
            self.next_jobs[a.id] = [(ids[b], float(score[b])) for b in best]

    def default_next(self, job: str) -> str | None:
        """The job ``job`` most often leads to (its first next job), or None: where a person who
        states no goal is headed (the one rule, used by synthesis and by the gap retriever)."""
        moves = self.next_jobs.get(job)
        return moves[0][0] if moves else None

    def unreachable(self) -> dict[str, list[str]]:
        """Jobs with no next job, and jobs no other job leads to (worth a look in user catalogs)."""
        targets = {b for moves in self.next_jobs.values() for b, _ in moves}
        return {
            "no_next_job": sorted(j for j, moves in self.next_jobs.items() if not moves),
            "never_reached": sorted(j for j in self.catalog.jobs if j not in targets),
        }

    def distances_to(self, goal: str) -> dict[str, int]:
        """Hop counts from every job that can reach ``goal`` (BFS on the reversed graph)."""
        if goal not in self._dist_cache:
            reverse: dict[str, list[str]] = {}
            for a, moves in self.next_jobs.items():
                for b, _ in moves:
                    reverse.setdefault(b, []).append(a)
            dist, queue = {goal: 0}, deque([goal])
            while queue:
                node = queue.popleft()
                for prev in reverse.get(node, []):
                    if prev not in dist:
                        dist[prev] = dist[node] + 1
                        queue.append(prev)
            self._dist_cache[goal] = dist
        return self._dist_cache[goal]

    def next_hop(self, job: str, goal: str) -> str | None:
        """The next job on a shortest path to ``goal`` (ties: highest transition score)."""
        if job == goal:
            return goal
        dist = self.distances_to(goal)
        if job not in dist:
            return None
        options = [(dist[b], -s, b) for b, s in self.next_jobs[job] if b in dist and dist[b] < dist[job]]
        return min(options)[2] if options else None

    def reachable_from(self, job: str, max_hops: int) -> dict[str, int]:
        """Jobs reachable from ``job`` within ``max_hops`` moves, with their hop count."""
        dist, frontier = {job: 0}, [job]
        for hop in range(1, max_hops + 1):
            nxt = []
            for node in frontier:
                for b, _ in self.next_jobs[node]:
                    if b not in dist:
                        dist[b] = hop
                        nxt.append(b)
            frontier = nxt
        dist.pop(job)
        return dist

    # -- courses -----------------------------------------------------------------------------
    def _build_job_courses(self) -> None:
        teaches: dict[str, list[str]] = {}
        for c in self.catalog.courses.values():
            for s in c.skills:
                teaches.setdefault(s, []).append(c.id)
        for job in self.catalog.jobs.values():
            weight: dict[str, float] = dict(job.skills)
            for b, _ in self.next_jobs[job.id]:
                for s, w in self.catalog.jobs[b].skills.items():
                    if s not in job.skills:
                        weight[s] = max(weight.get(s, 0.0), 0.5 * w)
            scores: dict[str, float] = {}
            for s, w in weight.items():
                for cid in teaches.get(s, []):
                    scores[cid] = scores.get(cid, 0.0) + w
            top = heapq.nsmallest(self.n_courses, scores.items(), key=lambda x: (-x[1], x[0]))
            self.job_courses[job.id] = [cid for cid, _ in top]

    def summary(self) -> dict:
        degrees = [len(m) for m in self.next_jobs.values()]
        return {
            "mean_next_jobs": sum(degrees) / max(len(degrees), 1),
            "mean_courses_per_job": sum(len(c) for c in self.job_courses.values())
            / max(len(self.job_courses), 1),
            **self.unreachable(),
        }
