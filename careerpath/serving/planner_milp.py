"""The planner's integer program, solved by HiGHS through its own Python binding (``highspy``): the
cheapest set of candidate courses after which every job of a route is within the move threshold, with
HiGHS's stray C-level output kept off stdout (``careerpath recommend --json`` prints one JSON document).

``highspy`` rather than ``scipy.optimize.milp`` (the same solver): the binding takes the sparse
program as it is built and skips scipy's wrapping, 1.6x less time over the latency benchmark's
programs (docs/performance.md). The relative gap is 0, so every answer is a proven optimum. Among
course sets of equal hours and course count, the one covering more of the route's skill weight wins
(:data:`TIE_SCALE`); among those, the one HiGHS returns (deterministic for a given program and HiGHS
version, which constraints.txt pins).

Two costs: ``"hours"`` (hours, then fewer courses, then the tie rule) and ``"count"`` (the number of
courses alone: an integer objective, which HiGHS proves optimal quickly). ``most`` caps the number
of courses (the planner's fewest-steps search: the fewest courses first, then the fewest hours among
them). ``cutoff`` is an objective bound: sets costing at least that much are not looked for, so a
route that cannot beat the best one found so far is given up early (None).

The candidates come in without the courses another candidate can always replace
(:mod:`careerpath.serving.planner_dominance`).
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np

MILP_SECONDS = 10.0
"""Time limit of one integer program (HiGHS); the bundled catalog's take milliseconds."""
TIE_SCALE = 1e-4
"""The most the tie rule's reward can change an hours program's cost: below the 1e-3 per course, so
it only orders sets the costs call equal."""
COURSE_COST = 1e-3
"""Hours mode: the cost of a course on top of its hours (of two sets of equal hours, fewer courses)."""
_OPTIONS = {
    "output_flag": False,
    "mip_rel_gap": 0.0,  # a proven optimum, not one within HiGHS's default 1e-4 (relative)
    "mip_abs_gap": 1e-9,  # nor 1e-6 (absolute): the tie rule's reward is smaller
    "threads": 1,  # programs of tens of columns: HiGHS's parallel parts would only add overhead
    "time_limit": MILP_SECONDS,
    "random_seed": 0,
    # HiGHS's feasibility-jump heuristic costs about 5 ms per program whatever its size (measured on
    # a two-variable program: 5.0 ms with it, 0.2 ms without), more than most of these programs take
    # to solve; the answers are the same optima (docs/performance.md)
    "mip_heuristic_run_feasibility_jump": False,
}


def cover_program(
    threshold: float,
    courses: Sequence,
    teach_of: dict[str, list[int]],
    course_hours: Sequence[float],
    held: frozenset[str],
    jobs: list,
    cands: list[int],
    mode: str,
    cutoff: float = math.inf,
    most: int | None = None,
    rows: Rows | bool | None = None,
) -> list[int] | None:
    """The chosen courses among ``cands`` (sorted course indices): a 0/1 choice per course, a covered
    share per missing skill of ``jobs`` no more than the chosen courses teaching it, each job's covered
    weight at least ``threshold`` of its total, a chosen course's missing prerequisites taught by a
    chosen course, at most ``most`` courses; cost: :func:`set_cost` (``mode`` "hours" or "count"), less
    the tie rule's reward in hours mode. None when no set costs less than ``cutoff`` (or none is
    feasible, or the time limit came first). ``rows``: :func:`program_rows` of these arguments,
    when the caller has them already."""
    if rows is None:
        rows = program_rows(threshold, courses, teach_of, held, jobs, cands, most)
    lp = _lp(rows, course_hours, cands, mode)
    if isinstance(lp, bool):  # nothing to choose: met already, or never
        return [] if lp and cutoff > 1e-9 else None
    cols = chosen_columns(_run(lp, cutoff), len(cands))
    if cols is None:
        return None
    chosen = [cands[k] for k in cols]
    return chosen if set_cost(chosen, course_hours, mode) < cutoff - 1e-9 else None


def chosen_columns(solver, n: int) -> list[int] | None:
    """The course columns (of the first ``n``) a solved integer program chose, or None when HiGHS
    has no solution to give (infeasible, cut off, or the time limit before any solution)."""
    import highspy

    status = solver.getModelStatus()
    if status not in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kTimeLimit):
        return None
    if solver.getInfo().primal_solution_status != highspy.SolutionStatus.kSolutionStatusFeasible:
        return None  # the time limit came before any solution
    x = solver.getSolution().col_value
    return [k for k in range(n) if x[k] > 0.5]


def cover_bound(
    threshold: float,
    courses: Sequence,
    teach_of: dict[str, list[int]],
    course_hours: Sequence[float],
    held: frozenset[str],
    jobs: list,
    cands: list[int],
    mode: str = "hours",
    most: int | None = None,
    rows: Rows | bool | None = None,
    solution: list[float] | None = None,
) -> float:
    """:func:`cover_program`'s linear relaxation (0/1 choices relaxed to [0, 1]): no set it can
    return costs less (hours mode: less :data:`TIE_SCALE`, the most the tie rule takes off); math.inf
    when not even the relaxation is feasible; -math.inf when HiGHS gives no bound. ``rows``: as
    for :func:`cover_program`; ``solution``: a list that gets the relaxation's value of each
    candidate course (when it has an optimum), for :func:`round_up`."""
    import highspy  # when a plan is made

    if rows is None:
        rows = program_rows(threshold, courses, teach_of, held, jobs, cands, most)
    lp = _lp(rows, course_hours, cands, mode, integer=False)
    if isinstance(lp, bool):
        return 0.0 if lp else math.inf
    solver = _run(lp, math.inf)
    status = solver.getModelStatus()
    if status == highspy.HighsModelStatus.kOptimal:
        if solution is not None:
            solution.extend(solver.getSolution().col_value[: len(cands)])
        return float(solver.getInfo().objective_function_value)
    if status == highspy.HighsModelStatus.kInfeasible:
        return math.inf
    return -math.inf


def cover_bounds(
    course_hours: Sequence[float], mode: str, routes: Sequence[tuple[Rows, list[int]]]
) -> list[tuple[float, np.ndarray]] | None:
    """:func:`cover_bound` of several programs at once, each given by its rows (with variables) and
    candidates: their linear relaxations solved as one block-diagonal program, one HiGHS run
    instead of one each (a run's fixed cost is about half of a relaxation's time at this size:
    docs/performance.md). Each one's optimum and its candidates' values in the solution. At the
    joint optimum every block is at its own optimum, as the blocks share no row or column: the
    block's part of the objective is its value. None when the joint program has no optimum (a
    relaxation is infeasible, or HiGHS stopped short): then solve them one by one."""
    import highspy

    lps = [_lp(rows, course_hours, cands, mode, integer=False) for rows, cands in routes]
    # ``Highs.passModel``'s arguments of each (:func:`_lp`), field by field
    ncol, nrow, nnz, fmt, sense, _, cost, col_lo, col_hi, row_lo, row_hi, starts, index, value, _ = zip(
        *(lp.args for lp in lps), strict=True
    )
    col_at, nz_at = np.cumsum([0, *ncol]), np.cumsum([0, *nnz])
    cost = np.concatenate(cost)
    args = (
        int(col_at[-1]),
        sum(nrow),
        int(nz_at[-1]),
        fmt[0],
        sense[0],
        0.0,  # offset
        cost,
        np.concatenate(col_lo),
        np.concatenate(col_hi),
        np.concatenate(row_lo),
        np.concatenate(row_hi),
        np.concatenate([[0], *(st[1:] + at for st, at in zip(starts, nz_at, strict=False))]).astype(np.int32),
        np.concatenate([ix + at for ix, at in zip(index, col_at, strict=False)]).astype(np.int32),
        np.concatenate(value),
        np.zeros(int(col_at[-1]), dtype=np.int32),  # every column continuous
    )
    solver = _run(Program(args, False), math.inf)
    if solver.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    x = np.asarray(solver.getSolution().col_value)
    return [
        (float(x[a:b] @ cost[a:b]), x[a : a + len(cands)])
        for a, b, (_, cands) in zip(col_at[:-1], col_at[1:], routes, strict=True)
    ]


def round_up(rows: Rows, x: Sequence[float], bound: float) -> list[int] | None:
    """A course set (column positions) of the fewest courses a count program allows, found without
    the integer program when its relaxation (value ``bound``, solution ``x``) is close enough: every
    course the relaxation uses at all, then, least used first, each course the others make
    unneeded dropped. Its size is the count when it is no more than ``bound`` rounded up (no set
    is smaller than the relaxation); None otherwise (then only the integer program can tell).

    Taking every used course meets every row: a coverage row only grows, and a used course's
    prerequisite row was met by courses that are themselves used."""
    target = math.ceil(bound - 1e-6)
    x = np.asarray(x[: rows.n], dtype=np.float64)
    chosen = (x > 1e-9).astype(np.float64)
    row_of = np.repeat(np.arange(len(rows.lower)), np.diff(rows.starts))
    if not _meets(rows, row_of, chosen):
        return None  # a course used below 1e-9 was needed after all
    for k in sorted(np.flatnonzero(chosen), key=lambda k: (x[k], k)):
        if chosen.sum() <= target:
            break
        chosen[k] = 0.0
        if not _meets(rows, row_of, chosen):
            chosen[k] = 1.0
    cols = [int(k) for k in np.flatnonzero(chosen)]
    return cols if len(cols) <= target else None


def _meets(rows: Rows, row_of: np.ndarray, chosen: np.ndarray) -> bool:
    """Whether the courses ``chosen`` (0/1 per course column) meet every row, each missing skill
    covered in full when a chosen course teaches it."""
    n, m = rows.n, len(rows.weight)
    v = np.zeros(n + m)
    v[:n] = chosen
    # a skill's row reads share - (chosen courses teaching it) <= 0: with no share, minus the teachers
    teachers = -np.bincount(row_of, weights=rows.value * v[rows.index], minlength=len(rows.lower))
    v[n:] = np.minimum(1.0, teachers[rows.cover_rows : rows.cover_rows + m])
    act = np.bincount(row_of, weights=rows.value * v[rows.index], minlength=len(rows.lower))
    return bool(np.all(act >= rows.lower - 1e-9) and np.all(act <= rows.upper + 1e-9))


class Rows(NamedTuple):
    """The constraints of a route's program (:func:`program_rows`), the same whatever it costs:
    columns are the candidate courses, then the covered shares of the missing skills; the rows
    by CSR: each job's coverage, then one row per missing skill (in column order), then the
    prerequisites and the cap on the number of courses."""

    n: int  # courses
    cover_rows: int  # the jobs' coverage rows, first
    weight: np.ndarray  # the route's weight of each missing skill (the tie rule)
    starts: np.ndarray
    index: np.ndarray
    value: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def program_rows(threshold, courses, teach_of, held, jobs, cands, most) -> Rows | bool:
    """The constraints of :func:`cover_program`'s program, or, when it has no variables, whether
    nothing is left to meet (True) or something can never be (False). Hours and count programs of
    a route share them (the planner builds them once for its bound and its program)."""
    import highspy

    skills = sorted({s for j in jobs for s in j.skills if s not in held})
    n, m = len(cands), len(skills)
    col = {i: k for k, i in enumerate(cands)}
    srow = {s: n + k for k, s in enumerate(skills)}
    inf = highspy.kHighsInf
    starts, index, value, lo, hi = [0], [], [], [], []

    def add_row(entries: dict[int, float], low: float, high: float) -> None:
        for k in sorted(entries):
            if entries[k] != 0.0:
                index.append(k)
                value.append(entries[k])
        starts.append(len(index))
        lo.append(low)
        hi.append(high)

    weight = np.zeros(m)
    for job in jobs:
        for s, w in job.skills.items():
            if s in srow:
                weight[srow[s] - n] += w
        total = sum(job.skills.values())
        need = threshold * total - sum(w for s, w in job.skills.items() if s in held)
        if need > 1e-9:
            add_row(
                {srow[s]: w for s, w in job.skills.items() if s in srow},
                need - 1e-9 * max(total, 1.0),
                inf,
            )
    cover_rows = len(lo)
    for s in skills:  # covered share <= chosen courses teaching it
        entries = {srow[s]: 1.0}
        for i in teach_of.get(s, ()):
            if i in col:
                entries[col[i]] = -1.0
        add_row(entries, -inf, 0.0)
    for i in cands:  # prerequisites
        for q in courses[i].prerequisites:
            if q in held:
                continue
            entries = {col[i]: 1.0}
            for k in teach_of.get(q, ()):
                if k in col and k != i:
                    entries[col[k]] = entries.get(col[k], 0.0) - 1.0
            add_row(entries, -inf, 0.0)
    if most is not None:
        add_row({k: 1.0 for k in range(n)}, -inf, float(most))
    if n + m == 0:  # HiGHS calls an empty model unsolved
        return all(low <= 0.0 <= high for low, high in zip(lo, hi, strict=True))
    return Rows(
        n,
        cover_rows,
        weight,
        np.array(starts, dtype=np.int32),
        np.array(index, dtype=np.int32),
        np.array(value, dtype=np.float64),
        np.array(lo, dtype=np.float64),
        np.array(hi, dtype=np.float64),
    )


class Program(NamedTuple):
    """A program ready for HiGHS: ``Highs.passModel``'s arguments for one call with arrays (filling a
    ``HighsLp`` field by field costs about 0.1 ms a program, half a relaxation's solve), and whether
    any column is integer."""

    args: tuple
    integer: bool


def _lp(rows: Rows | bool, course_hours, cands, mode: str, integer: bool = True) -> Program | bool:
    """The program of ``rows`` costed in ``mode`` (``integer=False``: its linear relaxation), or
    ``rows`` itself when it is a bool (no variables)."""
    if mode not in ("hours", "count"):
        raise ValueError(f"cover_program: mode must be 'hours' or 'count', not {mode!r}")
    if isinstance(rows, bool):
        return rows
    import highspy

    n, m = rows.n, len(rows.weight)
    # ties (equal hours and course count) go to the set covering more of the route's skill weight: a
    # reward on the covered shares, at most TIE_SCALE in all, below any difference the costs make
    if mode == "hours":
        hours = np.array([course_hours[i] for i in cands], dtype=np.float64)
        reward = TIE_SCALE * rows.weight / max(rows.weight.sum(), 1e-12)
        cost = np.concatenate([hours + COURSE_COST, -reward])
    else:  # the count alone: no hours and no tie reward, so that the objective stays integral
        cost = np.concatenate([np.ones(n), np.zeros(m)])
    # a type for every column (continuous for a relaxation): HiGHS reads an empty list as no model
    integrality = np.zeros(n + m, dtype=np.int32)
    if integer:
        integrality[:n] = int(highspy.HighsVarType.kInteger)
    args = (
        n + m,
        len(rows.lower),
        len(rows.index),
        int(highspy.MatrixFormat.kRowwise),
        int(highspy.ObjSense.kMinimize),
        0.0,  # offset
        cost,
        np.zeros(n + m),
        np.ones(n + m),
        rows.lower,
        rows.upper,
        rows.starts,
        rows.index,
        rows.value,
        integrality,
    )
    return Program(args, integer)


_SOLVERS = threading.local()


def _solver():
    """This thread's HiGHS solver, made once with :data:`_OPTIONS` (a ``Highs()`` and its options
    cost about 0.1 ms, a program here a few: docs/performance.md). Each run clears the model
    first, and the answers are the same as a fresh solver's (checked on the latency benchmark's
    programs); one per thread, as a ``Highs`` object is not safe to share."""
    import highspy

    solver = getattr(_SOLVERS, "solver", None)
    if solver is None:
        with _c_stdout_silenced():  # the first Highs() of a process prints HiGHS's banner to fd 1
            solver = highspy.Highs()
        for key, val in _OPTIONS.items():
            solver.setOptionValue(key, val)
        _SOLVERS.solver = solver
    return solver


def _run(program: Program, cutoff: float):
    """HiGHS on ``program`` with :data:`_OPTIONS` (and ``cutoff`` as its objective bound): this thread's
    solver, read before its next run. A linear program (no integer columns: a relaxation) skips
    presolve, which costs more than it saves at this size (half the time, the same optimum)."""
    import highspy

    solver = _solver()
    solver.clearModel()
    # HiGHS's time limit is on the solver's run clock, which adds up over every run of the
    # solver: :data:`MILP_SECONDS` from now, or a long-lived solver would stop solving at all
    solver.setOptionValue("time_limit", solver.getRunTime() + MILP_SECONDS)
    solver.setOptionValue("objective_bound", float(cutoff))  # inf: no bound
    solver.setOptionValue("presolve", "choose" if program.integer else "off")
    with _c_stdout_silenced():  # some HiGHS versions print a debug line while solving
        if solver.passModel(*program.args) == highspy.HighsStatus.kError:
            cols, rows, nonzeros = program.args[:3]
            raise RuntimeError(
                f"HiGHS refused a planner program ({cols} columns, {rows} rows, {nonzeros} nonzeros)"
            )
        solver.run()
    return solver


def set_cost(chosen: Sequence[int], course_hours: Sequence[float], mode: str) -> float:
    """What a course set costs in ``mode`` (without the tie rule's reward): hours plus
    :data:`COURSE_COST` per course, or the number of courses."""
    if mode == "count":
        return float(len(chosen))
    return sum(course_hours[i] for i in chosen) + COURSE_COST * len(chosen)


_STDOUT_LOCK = threading.Lock()


@contextmanager
def _c_stdout_silenced() -> Iterator[None]:
    """HiGHS writes to the C-level stdout whatever its options say: its banner when a process makes
    its first ``Highs()`` (highspy 1.16), and in some versions a debug line
    ("HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();", jump-dev/HiGHS.jl#312).
    Either would corrupt ``careerpath recommend --json``: point file descriptor 1 at /dev/null meanwhile."""
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
