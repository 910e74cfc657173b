"""The planner's integer program (HiGHS through scipy's ``milp``): the cheapest set of candidate courses
after which every job of a route is within the move threshold, with HiGHS's stray C-level output kept
off stdout (``careerpath recommend --json`` prints one JSON document).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

MILP_SECONDS = 10.0
"""Time limit of one integer program (HiGHS); the bundled catalog's take milliseconds."""


def cover_program(
    threshold: float,
    courses: Sequence,
    teach_of: dict[str, list[int]],
    course_hours: Sequence[float],
    held: frozenset[str],
    jobs: list,
    cands: list[int],
    mode: str,
) -> list[int] | None:
    """The chosen courses among ``cands`` (sorted course indices): a 0/1 choice per course, a covered
    share per missing skill of ``jobs`` no more than the chosen courses teaching it, each job's covered
    weight at least ``threshold`` of its total, a chosen course's missing prerequisites taught by a
    chosen course; cost: hours (``mode="hours"``) or steps. None when HiGHS finds no solution."""
    from scipy.optimize import Bounds, LinearConstraint, milp  # when a plan is made: slow to import

    skills = sorted({s for j in jobs for s in j.skills if s not in held})
    n, m = len(cands), len(skills)
    col = {i: k for k, i in enumerate(cands)}
    srow = {s: n + k for k, s in enumerate(skills)}
    rows, lo, hi = [], [], []
    for job in jobs:
        total = sum(job.skills.values())
        need = threshold * total - sum(w for s, w in job.skills.items() if s in held)
        if need > 1e-9:
            row = np.zeros(n + m)
            for s, w in job.skills.items():
                if s in srow:
                    row[srow[s]] = w
            rows.append(row)
            lo.append(need - 1e-9 * max(total, 1.0))
            hi.append(np.inf)
    for s in skills:  # covered share <= chosen courses teaching it
        row = np.zeros(n + m)
        row[srow[s]] = 1.0
        for i in teach_of.get(s, ()):
            if i in col:
                row[col[i]] = -1.0
        rows.append(row)
        lo.append(-np.inf)
        hi.append(0.0)
    for i in cands:  # prerequisites
        for q in courses[i].prerequisites:
            if q in held:
                continue
            row = np.zeros(n + m)
            row[col[i]] = 1.0
            for k in teach_of.get(q, ()):
                if k in col and k != i:
                    row[col[k]] -= 1.0
            rows.append(row)
            lo.append(-np.inf)
            hi.append(0.0)
    hours = np.array([course_hours[i] for i in cands])
    c = np.concatenate([hours + 1e-3 if mode == "hours" else 1.0 + 1e-4 * hours, np.zeros(m)])
    with _c_stdout_silenced():
        res = milp(
            c,
            constraints=LinearConstraint(np.array(rows), lo, hi) if rows else (),
            integrality=np.concatenate([np.ones(n), np.zeros(m)]),
            bounds=Bounds(0, 1),
            options={"time_limit": MILP_SECONDS},
        )
    if res.x is None or res.status not in (0, 1):
        return None
    return [i for k, i in enumerate(cands) if res.x[k] > 0.5]


_STDOUT_LOCK = threading.Lock()


@contextmanager
def _c_stdout_silenced() -> Iterator[None]:
    """HiGHS writes a debug line ("HighsMipSolverData::transformNewIntegerFeasibleSolution
    tmpSolver.run();") to the C-level stdout whatever its options say (jump-dev/HiGHS.jl#312), which
    would corrupt ``careerpath recommend --json``: point file descriptor 1 at /dev/null meanwhile."""
    with _STDOUT_LOCK:
        try:
            sys.stdout.flush()
        except (AttributeError, OSError, ValueError):
            pass
        try:
            saved = os.dup(1)
        except OSError:  # no stdout at all
            yield
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)
