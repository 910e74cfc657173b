"""Pathway planning over courses and job moves: the shortest plan in hours (A*), plans that follow a
guide (the model's probabilities) within a bound of it, and why a goal cannot be reached.

A state is the job held and the skills held. A course step adds its skills and costs its hours; a
job move costs nothing and happens as soon as it is allowed (:meth:`Planner.settle`): the move rule
is the catalog's one (:func:`data_prep.progression.ready_to_move`, the context's ``move_threshold``),
to the goal when the goal is a typical next move or at most one level up (a direct move), else to a
next job on a shortest route of the transition graph (:meth:`Progression.distances_to`).

Only steps worth taking are searched: a course must add a skill that the goal or a next job on the
route rates *important* (weight at least ``IMPORTANT_SHARE`` of that job's most important skill), or
a missing prerequisite of a course that does. The search has no step cap; the estimate of the hours
still needed is admissible (never more than the truth) and consistent:

* the goal needs ``move_threshold x total weight`` of its skills; a course adds at most the weight
  of the goal skills it teaches that are missing, so the cheapest way to add the weight still
  needed, where a course may be taken in part (a fractional knapsack: courses by hours per weight
  added), is a lower bound on the hours; the same for the next jobs on the route (the least of them)
  when the goal is not one move away;
* a goal skill whose weight exceeds the slack ``(1 - move_threshold) x total`` must be learnt, so the
  cheapest course teaching it is a lower bound too; the estimate is the largest of these.

A* with this estimate returns the shortest plan in hours (or, ``mode="steps"``, in course steps).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from data_prep.catalog import Catalog
from data_prep.progression import Progression, coverage, ready_to_move

IMPORTANT_SHARE = 0.4
"""A skill is important for a job when its weight is at least this share of the job's top weight
(bundled catalog: every required skill; O*NET: not the generic or office-software ones)."""
MAX_EXPANSIONS = 200_000
"""States one exact search may expand before it gives up (a plan is then not claimed shortest)."""
PLACEHOLDER_PROVIDER = "careerpath-generated"  # data_prep.onet.GENERATED_PROVIDER (importers' placeholders)


@dataclass(frozen=True)
class State:
    job: str | None
    skills: frozenset[str]


@dataclass
class Plan:
    """A sequence of courses from a start state; moves follow from the move rule."""

    courses: list[str]
    hours: float
    reached: bool
    end: State
    expansions: int = 0


@dataclass
class Budget:
    """What the person is willing to spend (None: no limit)."""

    hours: float | None = None
    steps: int | None = None
    months: float | None = None
    hours_per_month: float = 20.0
    """Study hours per month, to turn ``months`` into hours (about 5 hours a week)."""

    def hours_cap(self) -> float | None:
        caps = [h for h in (self.hours, None if self.months is None else self.months * self.hours_per_month)]
        caps = [h for h in caps if h is not None]
        return min(caps) if caps else None


@dataclass
class Diagnosis:
    """Why a goal cannot be reached from a state (empty lists: nothing found missing)."""

    missing_moves: list[str] = field(default_factory=list)  # sentences
    unteachable: list[str] = field(default_factory=list)  # skill ids no allowed course teaches
    reachable: bool = True


class Planner:
    """Exact and guided planning for one catalog and transition graph."""

    def __init__(
        self,
        catalog: Catalog,
        progression: Progression,
        move_threshold: float,
        important_share: float = IMPORTANT_SHARE,
    ):
        self.catalog, self.progression = catalog, progression
        self.threshold, self.important_share = move_threshold, important_share
        self.courses = list(catalog.courses.values())
        self.hours = [max(0.0, c.hours) for c in self.courses]
        self.teach_of: dict[str, list[int]] = {}
        for i, c in enumerate(self.courses):
            for s in c.skills:
                self.teach_of.setdefault(s, []).append(i)
        self.pos = {c.id: i for i, c in enumerate(self.courses)}
        self._important: dict[str, frozenset[str]] = {}
        self._bound_cache: dict[tuple, float] = {}
        self._allowed_ref: Sequence[bool] | None = None  # held, so the cache key cannot be reused

    def _allowed_key(self, allowed: Sequence[bool]) -> None:
        """Estimates depend on the allowed courses: a new mask clears the cache."""
        if allowed is not self._allowed_ref:
            self._allowed_ref = allowed
            self._bound_cache.clear()

    # -- the move rule ---------------------------------------------------------------------------
    def important(self, job_id: str) -> frozenset[str]:
        """Skills ``job_id`` rates important (weight >= ``important_share`` x its top weight)."""
        if job_id not in self._important:
            req = self.catalog.jobs[job_id].skills
            top = max(req.values(), default=0.0)
            self._important[job_id] = frozenset(s for s, w in req.items() if w >= self.important_share * top)
        return self._important[job_id]

    def direct_ok(self, job: str | None, goal: str) -> bool:
        """A move straight to the goal is realistic once its skills are held: the goal is a typical
        next move, or at most one level above the current job (no job: any goal)."""
        if not job:
            return True
        if any(b == goal for b, _ in self.progression.next_jobs.get(job, ())):
            return True
        return self.catalog.jobs[goal].level <= self.catalog.jobs[job].level + 1

    def route_jobs(self, job: str | None, goal: str) -> list[str]:
        """Next jobs on a shortest route to ``goal`` (closest first, then by transition score)."""
        if not job or job == goal:
            return []
        dist = self.progression.distances_to(goal)
        if job not in dist:
            return []
        options = [
            (dist[b], -s, b) for b, s in self.progression.next_jobs[job] if dist.get(b, 1e9) < dist[job]
        ]
        return [b for _, _, b in sorted(options) if b != goal]

    def targets(self, job: str | None, goal: str) -> list[str]:
        """The jobs a plan from ``job`` moves to next: the goal when a direct move is allowed, and
        the next jobs on the route."""
        return ([goal] if self.direct_ok(job, goal) else []) + self.route_jobs(job, goal)

    def settle(self, state: State, goal: str) -> tuple[State, list[str]]:
        """Apply every move the rule allows (the goal first): the new state and the jobs moved to."""
        moves: list[str] = []
        while state.job != goal:
            nxt = next(
                (
                    b
                    for b in self.targets(state.job, goal)
                    if ready_to_move(state.skills, self.catalog.jobs[b], self.threshold)
                ),
                None,
            )
            if nxt is None:
                break
            state = State(nxt, state.skills)
            moves.append(nxt)
        return state, moves

    # -- steps worth taking ------------------------------------------------------------------------
    def wanted(self, state: State, goal: str) -> dict[str, str]:
        """Missing skills worth learning -> the job that rates them important (or "prerequisite")."""
        out: dict[str, str] = {}
        for job in (goal, *self.route_jobs(state.job, goal)):
            for s in self.important(job):
                if s not in state.skills:
                    out.setdefault(s, job)
        for s in list(out):  # prerequisites of courses teaching them, one level down
            for i in self.teach_of.get(s, ()):
                for p in self.courses[i].prerequisites:
                    if p not in state.skills:
                        out.setdefault(p, "prerequisite")
        return out

    def successors(self, state: State, goal: str, allowed: Sequence[bool]) -> list[int]:
        """Courses worth taking from ``state``: allowed, prerequisites held, adding a wanted skill."""
        want = self.wanted(state, goal)
        out = set()
        for s in want:
            for i in self.teach_of.get(s, ()):
                if allowed[i] and all(p in state.skills for p in self.courses[i].prerequisites):
                    out.add(i)
        return sorted(out)

    def take(self, state: State, i: int, goal: str) -> tuple[State, list[str]]:
        return self.settle(State(state.job, state.skills | frozenset(self.courses[i].skills)), goal)

    # -- the admissible estimate -------------------------------------------------------------------
    def _gap_bound(self, skills: frozenset[str], job_id: str, allowed: Sequence[bool], mode: str) -> float:
        """Least hours (or course steps) to bring ``job_id``'s coverage to the threshold, courses taken
        in part allowed; inf when the allowed courses cannot."""
        job = self.catalog.jobs[job_id]
        total = sum(job.skills.values())
        need = (
            self.threshold * total
            - sum(w for s, w in job.skills.items() if s in skills)
            - 1e-9 * max(total, 1)
        )
        if need <= 0:
            return 0.0
        gain: dict[int, float] = {}
        teachable = 0.0
        mandatory = 0.0
        slack = (1.0 - self.threshold) * total + 1e-9 * max(total, 1)
        for s, w in job.skills.items():
            if s in skills or w <= 0:
                continue
            teachers = [i for i in self.teach_of.get(s, ()) if allowed[i]]
            if teachers:
                teachable += w
                for i in teachers:
                    gain[i] = gain.get(i, 0.0) + w
            if w > slack:  # must be learnt
                cheapest = min(
                    (self.hours[i] if mode == "hours" else 1.0 for i in teachers), default=math.inf
                )
                mandatory = max(mandatory, cheapest)
        if teachable < need:
            return math.inf
        cost = (lambda i: self.hours[i]) if mode == "hours" else (lambda i: 1.0)
        bound, left = 0.0, need
        for i in sorted(gain, key=lambda i: (cost(i) / gain[i], i)):
            if gain[i] >= left:
                bound += cost(i) * left / gain[i]
                break
            bound += cost(i)
            left -= gain[i]
        if mode == "steps":
            bound = math.ceil(bound - 1e-9)
        return max(bound, mandatory)

    def estimate(self, state: State, goal: str, allowed: Sequence[bool], mode: str = "hours") -> float:
        """Admissible estimate of the hours (``mode="steps"``: course steps) still needed."""
        if state.job == goal:
            return 0.0
        self._allowed_key(allowed)
        key = (state, goal, mode)
        if key in self._bound_cache:
            return self._bound_cache[key]
        bound = self._gap_bound(state.skills, goal, allowed, mode)
        if not self.direct_ok(state.job, goal):
            route = self.route_jobs(state.job, goal)
            hop = min((self._gap_bound(state.skills, b, allowed, mode) for b in route), default=math.inf)
            bound = max(bound, hop)
        if len(self._bound_cache) > 500_000:
            self._bound_cache.clear()
        self._bound_cache[key] = bound
        return bound

    # -- exact search ------------------------------------------------------------------------------
    def shortest(
        self,
        start: State,
        goal: str,
        allowed: Sequence[bool],
        mode: str = "hours",
        cap: float | None = None,
    ) -> Plan | None:
        """The plan reaching ``goal`` with the fewest hours (``mode="steps"``: fewest course steps,
        then hours), A* from ``start`` (settled first); None when none exists (within ``cap``)."""
        start, _ = self.settle(start, goal)
        cost = (lambda i: self.hours[i]) if mode == "hours" else (lambda i: 1.0 + 1e-6 * self.hours[i])
        tick = itertools.count()
        h0 = self.estimate(start, goal, allowed, mode)
        if math.isinf(h0) or (cap is not None and h0 > cap + 1e-9):
            return None
        best_g = {start: 0.0}
        parent: dict[State, tuple[State, int]] = {}
        heap = [(h0, 0.0, next(tick), start)]
        expansions = 0
        while heap:
            f, g, _, state = heapq.heappop(heap)
            if g > best_g.get(state, math.inf) + 1e-12:
                continue
            if state.job == goal:
                return self._plan_of(state, parent, g, expansions)
            expansions += 1
            if expansions > MAX_EXPANSIONS:
                return None
            for i in self.successors(state, goal, allowed):
                nxt, _ = self.take(state, i, goal)
                g2 = g + cost(i)
                if g2 >= best_g.get(nxt, math.inf) - 1e-12:
                    continue
                h = self.estimate(nxt, goal, allowed, mode)
                if math.isinf(h) or (cap is not None and g2 + h > cap + 1e-9):
                    continue
                best_g[nxt] = g2
                parent[nxt] = (state, i)
                # ties: the deeper state first (fewer states to expand)
                heapq.heappush(heap, (g2 + h, -g2, next(tick), nxt))
        return None

    def _plan_of(self, end: State, parent: dict, g: float, expansions: int) -> Plan:
        seq, node = [], end
        while node in parent:
            node, i = parent[node]
            seq.append(i)
        ids = [self.courses[i].id for i in reversed(seq)]
        hours = sum(self.hours[i] for i in seq)
        return Plan(ids, round(hours, 6), True, end, expansions)

    # -- guided search -----------------------------------------------------------------------------
    def guided(
        self,
        start: State,
        goal: str,
        allowed: Sequence[bool],
        guide: Callable[[State, list[str]], list[float]] | None,
        bound: float,
        top_k: int = 8,
    ) -> tuple[Plan, list[str]] | None:
        """A plan that takes, at each step, the guide's most likely worthwhile course among its
        ``top_k`` whose completion can still reach the goal within ``bound`` hours in all; else the
        next course of the shortest completion. Returns (plan, the source of each course: "model"
        or "shortest plan"), or None when nothing reaches the goal within ``bound``."""
        state, _ = self.settle(start, goal)
        rest = self.shortest(state, goal, allowed, cap=bound)
        if rest is None:
            return None
        seq, sources, g = [], [], 0.0
        while state.job != goal:
            cands = self.successors(state, goal, allowed)
            order = cands
            if guide is not None:
                scores = guide(state, seq)
                order = sorted(cands, key=lambda i: (-scores[i], i))[:top_k]
            chosen = None
            for i in order:
                if rest.courses and self.courses[i].id == rest.courses[0]:
                    chosen = (i, Plan(rest.courses[1:], rest.hours - self.hours[i], True, rest.end))
                    break
                nxt, _ = self.take(state, i, goal)
                left = bound - g - self.hours[i]
                if self.estimate(nxt, goal, allowed) > left + 1e-9:
                    continue
                completion = self.shortest(nxt, goal, allowed, cap=left)
                if completion is not None:
                    chosen = (i, completion)
                    break
            if chosen is None:  # the shortest completion's next course (within the bound by construction)
                i = self.pos[rest.courses[0]]
                chosen, src = (
                    (i, Plan(rest.courses[1:], rest.hours - self.hours[i], True, rest.end)),
                    "shortest plan",
                )
            else:
                src = "model" if guide is not None else "shortest plan"
            i, rest = chosen
            seq.append(self.courses[i].id)
            sources.append(src)
            g += self.hours[i]
            state, _ = self.take(state, i, goal)
        return Plan(seq, round(g, 6), True, state), sources

    # -- as far as possible ------------------------------------------------------------------------
    def as_far_as_possible(self, start: State, goal: str, allowed: Sequence[bool]) -> Plan:
        """When the goal cannot be reached: worthwhile courses, most goal weight added per hour
        first, while one adds some (the plan goes as far towards the goal as the catalog allows)."""
        state, _ = self.settle(start, goal)
        job = self.catalog.jobs[goal]
        seq, g = [], 0.0
        while state.job != goal:
            best, best_key = None, None
            for i in self.successors(state, goal, allowed):
                new = [s for s in self.courses[i].skills if s not in state.skills]
                gain = sum(job.skills.get(s, 0.0) for s in new)
                hop_gain = sum(
                    self.catalog.jobs[b].skills.get(s, 0.0)
                    for b in self.route_jobs(state.job, goal)
                    for s in new
                )
                key = (gain + 0.5 * hop_gain) / max(self.hours[i], 1.0)
                if gain + hop_gain > 0 and (best_key is None or key > best_key):
                    best, best_key = i, key
            if best is None:
                break
            seq.append(self.courses[best].id)
            g += self.hours[best]
            state, _ = self.take(state, best, goal)
        return Plan(seq, round(g, 6), state.job == goal, state)

    def diagnose(self, start: State, goal: str, allowed: Sequence[bool]) -> Diagnosis:
        """What stands between ``start`` and ``goal``: a missing move, skills no allowed course teaches."""
        d = Diagnosis()
        cat = self.catalog
        state, _ = self.settle(start, goal)
        if state.job != goal and not self.targets(state.job, goal):
            d.reachable = False
            d.missing_moves.append(
                f"no move leads from {cat.jobs[state.job].title} towards {cat.jobs[goal].title} in the "
                "transition graph, and the goal is more than one level up"
            )
        for job_id in [goal, *self.route_jobs(state.job, goal)]:
            job = cat.jobs[job_id]
            miss = [
                s
                for s in job.skills
                if s not in state.skills and not any(allowed[i] for i in self.teach_of.get(s, ()))
            ]
            d.unteachable += [s for s in miss if s not in d.unteachable]
            if job_id == goal and math.isinf(self._gap_bound(state.skills, goal, allowed, "hours")):
                d.reachable = False
        return d

    def coverage_of(self, state: State, job_id: str) -> float:
        return coverage(set(state.skills), self.catalog.jobs[job_id])
