"""The planner's admissible estimate of the hours (or course steps) still needed to reach a goal: never
more than the truth, so it rejects hopeless states cheaply and tells unreachable goals apart (the
bound itself is described in careerpath/serving/planner.py's docstring).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


class BoundSpace:
    """The estimate's world: the jobs on shortest routes from a start job to the goal, the skills
    they (and the prerequisites of courses teaching them) involve, as bits of an int, and the
    allowed courses that teach some of them. ``planner``: the :class:`careerpath.serving.planner.Planner`;
    ``view``: :func:`route_view` of the start job and the goal (which the allowed courses do not
    change: the planner keeps it for every space of that pair)."""

    def __init__(self, planner, goal: str, view: tuple, allowed: Sequence[bool]):
        self.p, self.goal = planner, goal
        self.jobs, self.bit, self.weights, self.total, self.important, courses = view
        self.all_courses = [c for c in courses if allowed[c[0]]]
        self.courses = self.all_courses
        self.teachers: dict[int, list[int]] = {}
        for k, (_, m, _) in enumerate(self.courses):
            b = m
            while b:
                low = b & -b
                self.teachers.setdefault(low, []).append(k)
                b ^= low
        self._est: dict[tuple, float] = {}
        self._want: dict[tuple, int] = {}

    def mask(self, skills) -> int:
        return _mask(self.bit, skills)

    def gap_bound(self, held: int, job: str, mode: str) -> float:
        """Least hours (or course steps) to bring ``job``'s coverage to the threshold, courses
        shares of courses allowed (a fractional knapsack over skills, each at the least share of
        a course's cost per unit of weight it adds), and at least the cheapest course teaching a
        skill that must be learnt; inf when the courses cannot."""
        total = self.total[job]
        have = sum(w for b, w in self.weights[job] if held & b)
        need = self.p.threshold * total - have - 1e-9 * max(total, 1)
        if need <= 0:
            return 0.0
        hours = self.p.hours
        cost = (lambda k: hours[self.courses[k][0]]) if mode == "hours" else (lambda k: 1.0)
        slack = (1.0 - self.p.threshold) * total + 1e-9 * max(total, 1)
        gain: dict[int, float] = {}
        teachable = mandatory = 0.0
        for b, w in self.weights[job]:
            if held & b or w <= 0:
                continue
            ts = self.teachers.get(b, ())
            if ts:
                teachable += w
                for k in ts:
                    gain[k] = gain.get(k, 0.0) + w
            if w > slack:
                mandatory = max(mandatory, min((cost(k) for k in ts), default=math.inf))
        if teachable < need:
            return math.inf
        # each course's cost shared over the missing skills it teaches, in proportion to weight:
        # a skill costs at least its cheapest share, and each skill is learnt once
        rate: list[tuple[float, float]] = []
        for b, w in self.weights[job]:
            ts = self.teachers.get(b, ())
            if held & b or w <= 0 or not ts:
                continue
            rate.append((min(cost(k) / gain[k] for k in ts), w))
        bound, left = 0.0, need
        for r, w in sorted(rate):
            if w >= left:
                bound += r * left
                break
            bound += r * w
            left -= w
        if mode == "steps":
            bound = math.ceil(bound - 1e-9)
        return max(bound, mandatory)

    def estimate(self, job: str | None, held: int, mode: str) -> float:
        if job == self.goal:
            return 0.0
        key = (job, held, mode)
        out = self._est.get(key)
        if out is None:
            out = self.gap_bound(held, self.goal, mode)
            if not self.p.direct_ok(job, self.goal):
                route = self.p.route_jobs(job, self.goal)
                out = max(out, min((self.gap_bound(held, b, mode) for b in route), default=math.inf))
            if len(self._est) > 300_000:
                self._est.clear()
            self._est[key] = out
        return out


def _mask(bit: dict[str, int], skills) -> int:
    out = 0
    for s in skills:
        out |= bit.get(s, 0)
    return out


def route_view(planner, start_job: str | None, goal: str) -> tuple:
    """:class:`BoundSpace`'s view that the allowed courses do not change: (the jobs on shortest
    routes from ``start_job`` to ``goal``, each skill they and the prerequisites of courses teaching
    them involve as a bit, each job's (bit, weight) pairs, total weight and important skills' bits,
    and (course, skills bits, prerequisites bits) of every course teaching one of those skills)."""
    cat = planner.catalog
    jobs, frontier = set(), [goal] + ([start_job] if start_job else [])
    while frontier:
        j = frontier.pop()
        if j not in jobs:
            jobs.add(j)
            frontier += planner.route_jobs(j, goal)
    skills = {s for j in jobs for s in cat.jobs[j].skills}
    grow = True
    while grow:  # prerequisites of courses teaching them, all the way down
        grow = False
        for s in list(skills):
            for i in planner.teach_of.get(s, ()):
                for q in planner.courses[i].prerequisites:
                    if q not in skills:
                        skills.add(q)
                        grow = True
    bit = {s: 1 << k for k, s in enumerate(sorted(skills))}
    weights = {j: [(bit[s], w) for s, w in cat.jobs[j].skills.items()] for j in jobs}
    total = {j: sum(w for _, w in weights[j]) for j in jobs}
    important = {j: _mask(bit, planner.important(j)) for j in jobs}
    courses = [
        (i, m, _mask(bit, c.prerequisites))
        for i, c in enumerate(planner.courses)
        if (m := _mask(bit, c.skills))
    ]
    return jobs, bit, weights, total, important, courses
