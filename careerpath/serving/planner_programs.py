"""The planner's per-route programs (a part of :class:`careerpath.serving.planner.Planner`): a route's
candidate courses and its programs' constraints, built once and remembered; its linear relaxation
(a lower bound) and its integer program (:mod:`careerpath.serving.planner_milp`) in hours or in
courses, cached by what they are built from; and the fewest courses over the routes
(:meth:`RoutePrograms._fewest`, :meth:`RoutePrograms._counts`).

The planner's attributes these methods read: ``catalog``, ``courses``, ``teach_of``, ``hours``,
``threshold``, :meth:`important`, and the caches ``_solve_cache``, ``_routes``, ``_rows_cache``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from careerpath.serving.planner_milp import (
    cover_bound,
    cover_bounds,
    cover_program,
    program_rows,
    round_up,
    set_cost,
)
from careerpath.serving.planner_state import State


class RoutePrograms:
    """The route programs of :class:`careerpath.serving.planner.Planner` (see the module docstring)."""

    def _fewest(self, start: State, goal: str, allowed: Sequence[bool], paths: list[list[str]]) -> float:
        """:meth:`fewest_courses` over ``paths``: the size of the routes' cheapest sets in hours that
        are solved already (each is a set of that many for its route), then the routes that can need
        fewer by their count programs' linear relaxations (lower bounds, rounded up: a count is a
        whole number), each with the fewest so far as its cutoff."""
        fewest = math.inf
        for path in paths:
            known = self._solve_cache.get(self._program_of(start, path, allowed, "hours", None)[2])
            if isinstance(known, list):
                fewest = min(fewest, len(known))
        bound = self._count_bounds(start, allowed, paths, len(paths) > 1 or fewest < math.inf)
        for n in sorted(range(len(paths)), key=lambda n: (bound[n], n)):
            if bound[n] >= fewest:
                break  # this route and every one after it need no fewer
            fewest = min(fewest, self._count(start, paths[n], allowed, fewest - 0.5))
        return fewest

    def _count_bounds(self, start: State, allowed, paths: list[list[str]], solve: bool) -> list[float]:
        """Lower bounds of the routes' counts (their linear relaxations rounded up; inf: no set at
        all); 0 each without ``solve``."""
        if not solve:
            return [0] * len(paths)
        bound = self._bounds(start, allowed, paths, None, "count")
        return [b if math.isinf(b) else math.ceil(b - 1e-6) for b in bound]  # -inf: HiGHS gave none

    def _counts(
        self, start: State, goal: str, allowed: Sequence[bool], paths: list[list[str]], cut: bool
    ) -> list[float]:
        """The fewest courses each route's program needs (count programs). ``cut``: only the routes
        that need the fewest of all are counted, the others are ``math.inf``: the routes are tried in
        the order of their programs' linear relaxations (lower bounds, rounded up: a count is a whole
        number), each with the fewest so far as its cutoff, and the search stops at a bound above
        the fewest."""
        if not cut:
            return [self._count(start, p, allowed, math.inf) for p in paths]
        bound = self._count_bounds(start, allowed, paths, len(paths) > 1)
        need, fewest = [math.inf] * len(paths), math.inf
        for n in sorted(range(len(paths)), key=lambda n: (bound[n], n)):
            if bound[n] > fewest:
                break  # this route and every one after it need more
            need[n] = self._count(start, paths[n], allowed, fewest + 0.5)
            fewest = min(fewest, need[n])
        return need

    def _count(self, start: State, path: list[str], allowed: Sequence[bool], cutoff: float) -> float:
        """The fewest courses the route's program needs, ``math.inf`` when not below ``cutoff``."""
        chosen = self._solve(start, path, allowed, "count", cutoff)
        return math.inf if chosen is None else len(chosen)

    def _bound(
        self, start: State, path: list[str], allowed: Sequence[bool], most: int | None, mode: str = "hours"
    ) -> float:
        """:func:`cover_bound` of the route's program in ``mode`` (cached like the programs)."""
        jobs, cands, key = self._program_of(start, path, allowed, f"bound-{mode}", most)
        out = self._solve_cache.get(key)
        if out is None:
            rows = self._rows(start.skills, jobs, cands, key)
            x = [] if mode == "count" else None
            out = cover_bound(
                self.threshold,
                self.courses,
                self.teach_of,
                self.hours,
                start.skills,
                jobs,
                cands,
                mode,
                most,
                rows=rows,
                solution=x,
            )
            self._note_bound(key, out, x or (), most)
        return out

    def _bounds(
        self,
        start: State,
        allowed: Sequence[bool],
        paths: list[list[str]],
        most: int | None,
        mode: str = "hours",
    ) -> list[float]:
        """:meth:`_bound` of each of ``paths``; those not known yet solved together, as one
        block-diagonal program (:func:`cover_bounds`), one by one where that has no optimum."""
        todo: dict[tuple, tuple] = {}
        for path in paths:
            jobs, cands, key = self._program_of(start, path, allowed, f"bound-{mode}", most)
            if key in todo or self._solve_cache.get(key) is not None:
                continue
            rows = self._rows(start.skills, jobs, cands, key)
            if not isinstance(rows, bool):  # no variables: :meth:`_bound` answers without HiGHS
                todo[key] = (rows, cands)
        solved = cover_bounds(self.hours, mode, list(todo.values())) if len(todo) > 1 else None
        for key, (value, x) in zip(todo, solved or (), strict=False):
            self._note_bound(key, value, x if mode == "count" else (), most)
        return [self._bound(start, p, allowed, most, mode) for p in paths]

    def _note_bound(self, key: tuple, value: float, x, most: int | None) -> None:
        """Remember a route's relaxation: its value, and for an uncapped count program's optimum
        the solution too (for :meth:`_rounded`)."""
        self._remember(key, value)
        if len(x) and math.isfinite(value) and most is None:  # kept for _solve's count programs
            self._remember((key[0], "relaxed-count", *key[2:]), (value, np.asarray(x)))

    def _remember(self, key: tuple, value) -> None:
        """Store a program's answer or bound in the solve cache (emptied past 20,000 entries)."""
        if len(self._solve_cache) > 20_000:
            self._solve_cache.clear()
        self._solve_cache[key] = value

    def _program_of(
        self, start: State, path: list[str], allowed: Sequence[bool], mode: str, most: int | None
    ):
        """(the route's jobs, the candidate courses, the cache key of its program): worthwhile
        courses for the route's jobs and, all the way down, the courses teaching their missing
        prerequisites, less those another of them dominates (:meth:`Dominance.undominated
        <careerpath.serving.planner_dominance.Dominance.undominated>`; remembered: a search asks for a
        route's bound and programs in turn)."""
        memo = (tuple(path), start.skills, allowed)
        hit = self._routes.get(memo)
        if hit is None:
            hit = self._routes[memo] = self._candidates(start.skills, path, allowed)
            if len(self._routes) > 20_000:
                self._routes.clear()
        jobs, cands, tail = hit
        return jobs, cands, (tuple(path), mode, most, *tail)

    def _candidates(self, held: frozenset[str], path: list[str], allowed: Sequence[bool]):
        """:meth:`_program_of` afresh: (jobs, candidates, the key's part that they fix)."""
        jobs = [self.catalog.jobs[j] for j in path]
        want = {s for j in path for s in self.important(j) if s not in held}
        cands = {i for s in want for i in self.teach_of.get(s, ()) if allowed[i]}
        grow = list(cands)
        while grow:
            i = grow.pop()
            for q in self.courses[i].prerequisites:
                if q not in held:
                    for k in self.teach_of.get(q, ()):
                        if allowed[k] and k not in cands:
                            cands.add(k)
                            grow.append(k)
        # less the courses another candidate can always take the place of: the same optimal costs
        # from programs a third smaller (HiGHS's time over the latency benchmark: 0.87x)
        cands = self.dominance.undominated(held, jobs, sorted(cands))
        # everything below reads ``held`` only through the route's job skills and the candidates'
        # prerequisites: the program, hence its answer, is fixed by this key
        seen = {s for j in jobs for s in j.skills}
        seen.update(q for i in cands for q in self.courses[i].prerequisites)
        return jobs, cands, (tuple(cands), frozenset(held & seen))

    def _rows(self, held: frozenset[str], jobs: list, cands: list[int], key: tuple):
        """:func:`program_rows` of a route's program, by its key less the cost: a route's bound and
        program, in hours or in courses, share their constraints."""
        shape = key[:1] + key[2:]
        rows = self._rows_cache.get(shape)
        if rows is None:
            if len(self._rows_cache) > 2_000:
                self._rows_cache.clear()
            rows = self._rows_cache[shape] = program_rows(
                self.threshold, self.courses, self.teach_of, held, jobs, cands, key[2]
            )
        return rows

    def _solve(
        self,
        start: State,
        path: list[str],
        allowed: Sequence[bool],
        mode: str,
        cutoff: float = math.inf,
        most: int | None = None,
    ) -> list[int] | None:
        """The cheapest set of worthwhile courses after which every job of ``path`` is within the
        move threshold (a mixed-integer program: a 0/1 choice per course, a covered share per
        skill no more than the chosen courses teaching it, each job's covered weight at least its
        threshold, a chosen course's missing prerequisites taught by a chosen course; at most ``most``
        courses); None when none costs less than ``cutoff`` (:func:`cover_program`, ``mode`` "hours"
        or "count")."""
        jobs, cands, key = self._program_of(start, path, allowed, mode, most)
        # the answer, or (a number) a cost below which the program has no set
        known = self._solve_cache.get(key)
        if isinstance(known, list):
            return known if set_cost(known, self.hours, mode) < cutoff - 1e-9 else None
        if known is not None and cutoff <= known:
            return None
        rows = self._rows(start.skills, jobs, cands, key)
        out = self._rounded(key, rows, cands) if mode == "count" and most is None else None
        if out is not None:  # the count, proven by the relaxation (a set the program would count)
            self._remember(key, out)
            return out if set_cost(out, self.hours, mode) < cutoff - 1e-9 else None
        out = self._program(start.skills, jobs, cands, mode, cutoff, most, rows)
        self._remember(key, out if out is not None else cutoff)
        return out

    def _rounded(self, key: tuple, rows, cands: list[int]) -> list[int] | None:
        """A count program answered from its relaxation (solved already for the routes' count
        bounds) when :func:`round_up` finds a set of the relaxation's size rounded up: then no set
        is smaller, the count is proven as the integer program would prove it. Counts are all the
        planner reads of a count program's set (:meth:`_count`), so the set need not be the one
        HiGHS would pick."""
        relaxed = self._solve_cache.get((key[0], "relaxed-count", *key[2:]))
        if relaxed is None or isinstance(rows, bool):
            return None
        cols = round_up(rows, relaxed[1], relaxed[0])
        return None if cols is None else [cands[k] for k in cols]

    def _program(
        self,
        held: frozenset[str],
        jobs: list,
        cands: list[int],
        mode: str,
        cutoff: float = math.inf,
        most: int | None = None,
        rows=None,
    ) -> list[int] | None:
        """:meth:`_solve`'s integer program for the candidate courses ``cands`` (sorted; ``rows``: its
        :func:`program_rows`, when known)."""
        return cover_program(
            self.threshold,
            self.courses,
            self.teach_of,
            self.hours,
            held,
            jobs,
            cands,
            mode,
            cutoff,
            most,
            rows,
        )
