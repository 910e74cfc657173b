"""Pathway planning over courses and job moves: the shortest plan in hours (exact, an integer
program on the set-cover core), plans that follow a guide (the model's probabilities) within a
bound of it, and why a goal cannot be reached (docs/pathways.md). The estimate lives in
careerpath/serving/planner_bound.py, the integer program in careerpath/serving/planner_milp.py, each
route's programs and the fewest courses over the routes in careerpath/serving/planner_programs.py, the
guided search in careerpath/serving/planner_guided.py and the plan's types in
careerpath/serving/planner_state.py.

A state is the job held and the skills held. A course step adds its skills and costs its hours; a
job move costs nothing and happens as soon as it is allowed (:meth:`Planner.settle`): the move rule
is the catalog's one (:func:`careerpath.core.progression.ready_to_move`, the context's ``move_threshold``),
straight to the goal when it is a typical next move or at most one level up (a direct move), else
to a next job on a shortest route of the transition graph, never a level down.

Only steps worth taking are planned: a course must add a skill that the goal or the next job rates
*important* (weight at least ``IMPORTANT_SHARE`` of that job's top weight), or a missing
prerequisite of a course that does. There is no step cap. An admissible estimate of the hours
still needed (:class:`careerpath.serving.planner_bound.BoundSpace`, never more than the truth) rejects
hopeless states cheaply and tells unreachable goals apart:

* the goal needs ``move_threshold x total weight`` of its skills; each course's hours are shared
  over the missing skills it teaches in proportion to their weight, each skill priced at its
  cheapest share, and the weight still needed filled with the cheapest skills first (a fractional
  knapsack over skills); the same for the next jobs on the route (the least of them) when the goal
  is not one move away;
* a skill whose weight exceeds the slack ``(1 - move_threshold) x total`` must be learnt, so the
  cheapest course teaching it is a lower bound too; the estimate is the largest of these.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from careerpath.core.catalog import Catalog
from careerpath.core.progression import Progression, ready_share, ready_to_move
from careerpath.serving import planner_guided
from careerpath.serving.planner_bound import BoundSpace, route_view
from careerpath.serving.planner_dominance import Dominance
from careerpath.serving.planner_milp import set_cost
from careerpath.serving.planner_programs import RoutePrograms
from careerpath.serving.planner_state import Budget, Diagnosis, Plan, State

IMPORTANT_SHARE = 1 / 3
"""A skill is important for a job when its weight is at least this share of the job's top weight
(bundled catalog: every required skill; O*NET: every rated element, generic ones too, but not the
low-weight "Office software")."""
MAX_PATHS = 30
"""Sequences of jobs (routes) one exact search tries, fewest moves first."""
_UNSOLVED = object()  # a plan cache miss (None is a solved "no plan")
PLACEHOLDER_PROVIDER = (
    "careerpath-generated"  # careerpath.importers.onet.GENERATED_PROVIDER (importers' placeholders)
)
# the plan's types live in careerpath/serving/planner_state.py; re-exported for the recommender and tests
__all__ = ["IMPORTANT_SHARE", "PLACEHOLDER_PROVIDER", "Budget", "Diagnosis", "Plan", "Planner", "State"]


class Planner(RoutePrograms):
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
        self.dominance = Dominance(self.courses, self.hours)  # a route's candidates less the dominated
        self._important: dict[str, frozenset[str]] = {}
        self._targets: dict[tuple[str | None, str], tuple[str, ...]] = {}  # targets() by (job, goal)
        # settle() by (state, goal)
        self._settled: dict[tuple[State, str], tuple[State, tuple[str, ...]]] = {}
        # keyed by the allowed courses too (a hashable mask: bytes from the recommender), so that
        # concurrent requests with other constraints (the demo's threads) never share an entry
        self._bound_cache: dict[tuple, BoundSpace] = {}
        self._bound_views: dict[tuple, tuple] = {}  # route_view() by (start job, goal)
        self._plan_cache: dict[tuple, Plan | None] = {}
        # integer programs by what they are built from (HiGHS gives the same answer to the same
        # program): many planning states differ only in skills no job of the route weighs
        self._solve_cache: dict[tuple, list[int] | None] = {}
        self._routes: dict[tuple, tuple] = {}  # a route's candidates by (route, skills held, allowed)
        self._rows_cache: dict[tuple, object] = {}  # its programs' constraints (program_rows)
        self._bit_tables: dict | None = None  # the skills as bits, for the replays (_bits)
        self._ready_memo: dict[tuple[str, int], bool] = {}  # _ready_bits by (job, its skills held)

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
        """Next jobs on a shortest route to ``goal`` in the transition graph, never a level down
        (closest first, then by transition score)."""
        if not job or job == goal:
            return []
        dist = self.progression.distances_to(goal)
        if job not in dist:
            return []
        level = self.catalog.jobs[job].level
        options = [
            (dist[b], -s, b)
            for b, s in self.progression.next_jobs[job]
            if dist.get(b, 1e9) < dist[job] and self.catalog.jobs[b].level >= level
        ]
        return [b for _, _, b in sorted(options) if b != goal]

    def targets(self, job: str | None, goal: str) -> tuple[str, ...]:
        """The jobs a plan from ``job`` moves to next: the goal when a direct move is allowed (a job
        on the way would add nothing: skills come from courses), else the next jobs on the route.
        Remembered per (job, goal): it reads only the catalog and the transition graph, and the
        search asks it at every state it settles."""
        key = (job, goal)
        out = self._targets.get(key)
        if out is None:
            out = (goal,) if self.direct_ok(job, goal) else tuple(self.route_jobs(job, goal))
            if len(self._targets) > 65536:
                self._targets.clear()
            self._targets[key] = out
        return out

    def settle(self, state: State, goal: str) -> tuple[State, list[str]]:
        """Apply every move the rule allows (the goal first): the new state and the jobs moved to.
        Remembered per (state, goal): planning settles the same states again and again (the guide
        replays its plan so far at every step; three in four calls over the latency benchmark's
        profiles are repeats)."""
        hit = self._settled.get((state, goal))
        if hit is None:
            hit = self._settle(state, goal)
            if len(self._settled) > 65536:
                self._settled.clear()
            self._settled[state, goal] = hit
        return hit[0], list(hit[1])

    def _settle(self, state: State, goal: str) -> tuple[State, tuple[str, ...]]:
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
        return state, tuple(moves)

    # -- steps worth taking ------------------------------------------------------------------------
    def wanted(self, state: State, goal: str) -> dict[str, str]:
        """Missing skills worth learning -> the job that rates them important (or "prerequisite")."""
        out: dict[str, str] = {}
        for job in dict.fromkeys((goal, *self.targets(state.job, goal))):
            for s in self.important(job):
                if s not in state.skills:
                    out.setdefault(s, job)
        for s in list(out):  # prerequisites of courses teaching them, one level down
            for i in self.teach_of.get(s, ()):
                for p in self.courses[i].prerequisites:
                    if p not in state.skills:
                        out.setdefault(p, "prerequisite")
        return out

    def successors(
        self, state: State, goal: str, allowed: Sequence[bool], prerequisites: bool = True
    ) -> list[int]:
        """Courses worth taking from ``state``: allowed, prerequisites held, adding a wanted skill
        (``prerequisites=False``: an important one itself, not only a prerequisite of one)."""
        want = self.wanted(state, goal)
        out = set()
        for s, why in want.items():
            if why == "prerequisite" and not prerequisites:
                continue
            for i in self.teach_of.get(s, ()):
                if allowed[i] and all(p in state.skills for p in self.courses[i].prerequisites):
                    out.add(i)
        return sorted(out)

    def take(self, state: State, i: int, goal: str) -> tuple[State, list[str]]:
        return self.settle(State(state.job, state.skills | frozenset(self.courses[i].skills)), goal)

    # -- exact search ------------------------------------------------------------------------------
    def space(self, start_job: str | None, goal: str, allowed: Sequence[bool]) -> BoundSpace:
        """The lower bounds' view from ``start_job`` to ``goal`` (cached while ``allowed`` stays)."""
        key = (start_job, goal, allowed)
        space = self._bound_cache.get(key)
        if space is None:
            view = self._bound_views.get((start_job, goal))
            if view is None:  # what the allowed courses do not change, once per (start job, goal)
                if len(self._bound_views) > 256:
                    self._bound_views.clear()
                view = self._bound_views[start_job, goal] = route_view(self, start_job, goal)
            if len(self._bound_cache) > 256:
                self._bound_cache.clear()
            space = self._bound_cache[key] = BoundSpace(self, goal, view, allowed)
        return space

    def estimate(self, state: State, goal: str, allowed: Sequence[bool], mode: str = "hours") -> float:
        """Admissible estimate of the hours (``mode="steps"``: course steps) still needed."""
        sp = self.space(state.job, goal, allowed)
        return sp.estimate(state.job, sp.mask(state.skills), mode)

    def paths(self, job: str | None, goal: str) -> list[list[str]]:
        """The sequences of jobs a plan from ``job`` can move through to ``goal`` (at most
        ``MAX_PATHS``, fewest moves first): next jobs on shortest routes, and a direct move to the
        goal wherever it is allowed."""
        out, frontier = [], [[]]
        while frontier and len(out) < MAX_PATHS:
            nxt = []
            for path in frontier:
                at = path[-1] if path else job
                if self.direct_ok(at, goal):
                    out.append(path + [goal])
                else:
                    nxt += [path + [b] for b in self.route_jobs(at, goal)]
            frontier = nxt
        return out[:MAX_PATHS]

    def shortest(
        self,
        start: State,
        goal: str,
        allowed: Sequence[bool],
        mode: str = "hours",
        cap: float | None = None,
    ) -> Plan | None:
        """The plan reaching ``goal`` with the fewest hours (``mode="steps"``: fewest course steps,
        then hours) from ``start``; None when none does (within ``cap``). Exact on the set-cover core
        (:meth:`_solve`, one integer program per sequence of jobs), then ordered and replayed."""
        start, _ = self.settle(start, goal)
        if cap is not None and cap < -1e-9:
            return None
        if start.job == goal:
            return Plan([], 0.0, True, start)
        lb = self.estimate(start, goal, allowed, mode)
        if math.isinf(lb) or (cap is not None and lb > cap + 1e-9):
            return None
        key = (start, goal, mode, allowed)
        best = self._plan_cache.get(key, _UNSOLVED)
        if best is _UNSOLVED:
            best = self._search(start, goal, allowed, mode)
            if len(self._plan_cache) > 20_000:
                self._plan_cache.clear()
            self._plan_cache[key] = best
        if best is None or (cap is not None and self._cost(best, mode) > cap + 1e-9):
            return None
        return best

    def _search(self, start: State, goal: str, allowed: Sequence[bool], mode: str) -> Plan | None:
        """:meth:`shortest`'s search over the routes (``start`` settled, short of the goal). The plan
        is the cheapest route's course set (the first route on equal costs), replayed by :meth:`order`;
        a route is given up as soon as its program cannot beat the best so far (HiGHS's objective
        bound). Steps mode: the fewest courses any route needs (count programs), then the fewest hours
        among the routes that need no more."""
        paths = self.paths(start.job, goal)
        if mode != "steps":
            return self._cheapest(paths, start, goal, allowed, None)

        def by_count(need: list[float], most: float) -> Plan | None:
            group = [p for p, k in zip(paths, need, strict=True) if k == most]
            return self._cheapest(group, start, goal, allowed, most)

        # the routes that need the fewest courses (the others cut off as soon as they need more)
        need = self._counts(start, goal, allowed, paths, True)
        fewest = min(need, default=math.inf)
        if math.isinf(fewest):
            return None
        plan = by_count(need, fewest)
        if plan is None:  # none replays to the goal: every route counted, the next counts in order (a
            # route cut off above needs more than the fewest, so the fewest's group was complete)
            need = self._counts(start, goal, allowed, paths, False)
            for most in sorted(set(need) - {math.inf, fewest}):
                if (plan := by_count(need, most)) is not None:
                    break
        return plan

    def fewest_courses(self, start: State, goal: str, allowed: Sequence[bool]) -> float:
        """The fewest courses a plan from ``start`` to ``goal`` takes by the routes' programs (what
        :meth:`shortest` in steps mode starts from; 0 at the goal, ``math.inf`` when no route leads
        there), without choosing or replaying the courses."""
        start, _ = self.settle(start, goal)
        if start.job == goal:
            return 0
        if math.isinf(self.estimate(start, goal, allowed, "steps")):
            return math.inf
        return self._fewest(start, goal, allowed, self.paths(start.job, goal))

    def _cheapest(
        self, paths: list[list[str]], start: State, goal: str, allowed: Sequence[bool], most: int | None
    ) -> Plan | None:
        """The replayed plan of the route whose course set (at most ``most`` courses) has the fewest
        hours, the first route on equal hours; None when no route's set replays to the goal. The
        routes are tried in the order of their programs' linear relaxations (lower bounds), so the
        best tends to come first and the rest are given up by their bound or by HiGHS's objective
        bound (the best cost so far)."""
        bound = self._bounds(start, allowed, paths, most) if len(paths) > 1 else [-math.inf]
        best, best_cost, best_at = None, math.inf, len(paths)
        for n in sorted(range(len(paths)), key=lambda n: (bound[n], n)):
            if bound[n] > best_cost + 1e-6 * max(1.0, best_cost):  # beyond the LP's own tolerances
                break  # this route and every one after it cost more than the best
            chosen = self._solve(start, paths[n], allowed, "hours", best_cost + 1e-6, most)
            if chosen is None:
                continue
            cost = set_cost(chosen, self.hours, "hours")
            if cost > best_cost + 1e-9 or (cost >= best_cost - 1e-9 and n > best_at):
                continue  # dearer, or as dear as an earlier route
            plan = self.order(start, chosen, goal)
            if plan is not None:
                best, best_cost, best_at = plan, cost, n
        return best

    def _cost(self, plan: Plan, mode: str) -> float:
        return plan.hours if mode == "hours" else len(plan.courses) + 1e-6 * plan.hours

    def order(self, start: State, chosen: list[int], goal: str) -> Plan | None:
        """The chosen courses in an order a person can take them (prerequisites first, the next
        job's important skills before the goal's), replayed with the move rule; None when the
        replay does not reach the goal. Courses that turn out to add nothing wanted are dropped.

        At each turn, among the courses whose prerequisites are held, the one adding the most of the
        next job's important skills, then the most wanted skills (:meth:`wanted`), then the first in
        the catalog. The replay runs on bit masks of the skills (:meth:`_bits`): the guided plan
        replays a known completion for each candidate it tries, so this is the planner's busiest
        loop; the moves are decided by the same sums as :meth:`settle`'s."""
        b = self._bits()
        bit, cbits, pbits, imp_of, teach_pre = b["bit"], b["course"], b["pre"], b["important"], b["teach_pre"]
        held = 0
        for s in start.skills:
            held |= bit.get(s, 0)
        job, left, seq = start.job, list(chosen), []
        while left and job != goal:
            targets = self.targets(job, goal)
            want = 0
            for j in dict.fromkeys((goal, *targets)):
                want |= imp_of[j]
            want &= ~held
            pre, rest = 0, want
            while rest:  # prerequisites of courses teaching them, one level down
                low = rest & -rest
                pre |= teach_pre.get(low, 0)
                rest ^= low
            want |= pre & ~held
            ready = [i for i in left if not pbits[i] & ~held]
            if not ready:
                return None
            imp = imp_of[(targets or (goal,))[0]] & ~held
            i = min(ready, key=lambda i: (-(cbits[i] & imp).bit_count(), -(cbits[i] & want).bit_count(), i))
            left.remove(i)
            if not cbits[i] & want:
                continue  # adds nothing wanted any more
            seq.append(i)
            held |= cbits[i]
            while job != goal:  # settle: every move the rule allows (as in :meth:`settle`)
                nxt = next((t for t in self.targets(job, goal) if self._ready_bits(held, t)), None)
                if nxt is None:
                    break
                job = nxt
        if job != goal:
            return None
        hours = round(sum(self.hours[i] for i in seq), 6)
        skills = start.skills
        for i in seq:  # as :meth:`take` builds them (the same set, iterated alike)
            skills = skills | frozenset(self.courses[i].skills)
        return Plan([self.courses[i].id for i in seq], hours, True, State(job, skills))

    def _bits(self) -> dict:
        """The catalog's skills as bits of an int (built once): each skill's bit, each course's skills
        and prerequisites, each job's important skills and its (bit, weight) pairs in the job's
        order, and, by a skill's bit, the prerequisites of the courses teaching it."""
        if self._bit_tables is None:
            names = {s for c in self.courses for s in (*c.skills, *c.prerequisites)}
            names.update(s for j in self.catalog.jobs.values() for s in j.skills)
            bit = {s: 1 << k for k, s in enumerate(sorted(names))}

            def mask(skills) -> int:
                out = 0
                for s in skills:
                    out |= bit[s]
                return out

            pre = [mask(c.prerequisites) for c in self.courses]
            teach_pre = {bit[s]: 0 for s in self.teach_of}
            for s, teachers in self.teach_of.items():
                for i in teachers:
                    teach_pre[bit[s]] |= pre[i]
            self._bit_tables = {
                "bit": bit,
                "course": [mask(c.skills) for c in self.courses],
                "pre": pre,
                "teach_pre": teach_pre,
                "important": {j: mask(self.important(j)) for j in self.catalog.jobs},
                "weights": {
                    j: (
                        sum(job.skills.values()),
                        [(bit[s], w) for s, w in job.skills.items()],
                        mask(job.skills),
                    )
                    for j, job in self.catalog.jobs.items()
                },
            }
        return self._bit_tables

    def _ready_bits(self, held: int, job_id: str) -> bool:
        """:func:`ready_to_move` for skills given as bits: the same sum in the same order
        (remembered by the job's skills held: the replays ask about the same ones again and again)."""
        total, weights, mask = self._bit_tables["weights"][job_id]
        key = (job_id, held & mask)
        out = self._ready_memo.get(key)
        if out is None:
            out = ready_share(sum([w for b, w in weights if held & b]), total, self.threshold)
            if len(self._ready_memo) > 65536:
                self._ready_memo.clear()
            self._ready_memo[key] = out
        return out

    # -- guided search and as far as possible (careerpath/serving/planner_guided.py) ------------------------
    def guided(
        self,
        start: State,
        goal: str,
        allowed: Sequence[bool],
        guide: Callable[[State, list[str]], list[float]] | None,
        bound: float,
        top_k: int = 8,
        exact_checks: int | None = None,
        max_steps: int | None = None,
    ) -> tuple[Plan, list[str]] | None:
        """:func:`careerpath.serving.planner_guided.guided`: the guide's choices within ``bound`` hours."""
        return planner_guided.guided(self, start, goal, allowed, guide, bound, top_k, exact_checks, max_steps)

    def as_far_as_possible(self, start: State, goal: str, allowed: Sequence[bool]) -> Plan:
        """:func:`careerpath.serving.planner_guided.as_far_as_possible`, for a goal that cannot be reached."""
        return planner_guided.as_far_as_possible(self, start, goal, allowed)

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
        for job_id in dict.fromkeys([goal, *self.targets(state.job, goal)]):
            job = cat.jobs[job_id]
            miss = [
                s
                for s in job.skills
                if s not in state.skills and not any(allowed[i] for i in self.teach_of.get(s, ()))
            ]
            d.unteachable += [s for s in miss if s not in d.unteachable]
        space = self.space(state.job, goal, allowed)
        if math.isinf(space.gap_bound(space.mask(state.skills), goal, "hours")):
            d.reachable = False
        return d
