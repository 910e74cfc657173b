"""The courses of a route's program that another candidate can always replace (no dearer,
teaching at least as much of the program, needing no more), taken out before any program is built
(:class:`Dominance`): the optimal costs of :func:`careerpath.serving.planner_milp.cover_program`
stay, and of courses alike for a route the first in catalog order is the one a plan can use.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class Dominance:
    """The catalog's course skills and prerequisites as padded index arrays (built once per catalog),
    for :meth:`undominated`: the candidate courses another candidate can always take the place of."""

    def __init__(self, courses: Sequence, course_hours: Sequence[float]):
        self.index: dict[str, int] = {}
        teach = [[self.index.setdefault(s, len(self.index)) for s in c.skills] for c in courses]
        need = [[self.index.setdefault(s, len(self.index)) for s in c.prerequisites] for c in courses]
        self.size = len(self.index)  # also the padding: a slot no skill has
        self.teach, self.need = self._padded(teach), self._padded(need)
        self.hours = np.asarray(course_hours, dtype=np.float64)

    def _padded(self, lists: list[list[int]]) -> np.ndarray:
        out = np.full((len(lists), max(map(len, lists), default=0)), self.size, dtype=np.int64)
        for k, x in enumerate(lists):
            out[k, : len(x)] = x
        return out

    def _vector(self, skills) -> np.ndarray:
        """True at each of ``skills`` the courses list (length ``size + 1``: the padding slot False)."""
        v = np.zeros(self.size + 1, dtype=bool)
        v[[k for k in map(self.index.get, skills) if k is not None]] = True
        return v

    def undominated(self, held: frozenset[str], jobs: list, cands: list[int]) -> list[int]:
        """``cands`` (sorted course indices) less the courses another candidate dominates, which
        :func:`~careerpath.serving.planner_milp.cover_program` never needs: its optimal cost is the same, tie rule included.

        Course ``i`` dominates course ``k`` when it costs no more hours, teaches every skill of the
        program that ``k`` teaches (a missing skill of a job, or a missing prerequisite of a
        candidate), needs no missing prerequisite that ``k`` does not, and teaches none of its own
        missing prerequisites; of two courses alike in all of that, the first dominates. In a set
        with ``k`` and not ``i``, ``i`` can take ``k``'s place (every row met is still met; the
        hours and course count are no more, the covered skill weight no less); in a set with both,
        ``k`` can be dropped. Domination is transitive and never mutual, so each dominated course
        has an undominated one to take its place, and some optimal set uses only undominated
        courses."""
        n = len(cands)
        if n < 2:
            return list(cands)
        held_v = self._vector(held)
        c = np.asarray(cands, dtype=np.int64)
        need = self.need[c]
        need[held_v[need]] = self.size  # held prerequisites are no longer needed
        rel = self._vector(s for job in jobs for s in job.skills)
        rel[need] = True
        rel &= ~held_v
        rel[self.size] = False
        # the program's skills as columns 0..m-1, every other skill (and the padding) as column m
        m = int(rel.sum())
        local = np.full(self.size + 1, m, dtype=np.int64)
        local[rel] = np.arange(m)
        at = np.arange(n)[:, None]
        teach = np.zeros((n, m + 1))
        teach[at, local[self.teach[c]]] = 1.0
        needs = np.zeros((n, m + 1))
        needs[at, local[need]] = 1.0
        teach, needs = teach[:, :m], needs[:, :m]
        hours = self.hours[c]
        # [i, k]: the program's skills k teaches that i does not; i's prerequisites that k does not need
        lacks = (1.0 - teach) @ teach.T
        extra = needs @ (1.0 - needs).T
        dom = (lacks == 0) & (extra == 0) & (hours[:, None] <= hours[None, :])
        dom &= ~(teach * needs).any(axis=1)[:, None]  # i teaches one of its own missing prerequisites
        dom &= ~(dom.T & np.tri(n, dtype=bool))  # alike both ways: the first dominates the later
        np.fill_diagonal(dom, False)
        return [cands[k] for k in np.flatnonzero(~dom.any(axis=0))]
