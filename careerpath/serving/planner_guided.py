"""Plans that follow a guide (the model's course probabilities) within a bound of the shortest plan's
hours, and plans that go as far towards a goal as the catalog allows when it cannot be reached. Both
build on the move rule and exact search of ``planner``, a :class:`careerpath.serving.planner.Planner`, whose
``guided`` and ``as_far_as_possible`` methods call them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from careerpath.serving.planner_state import Plan, State

EXACT_CHECKS = 0
"""Candidates per step whose completion the guided plan checks exactly (an integer program each)
when the cheaper checks do not decide; the others are skipped (the bound holds either way). 0 by
default: 8 gave the same share of model-chosen steps at about twice the pathway's latency
(``benchmarks/recommend_latency.py --exact-checks 8``; docs/pathways.md)."""


def guided(
    planner,
    start: State,
    goal: str,
    allowed: Sequence[bool],
    guide: Callable[[State, list[str]], list[float]] | None,
    bound: float,
    top_k: int = 8,
    exact_checks: int | None = None,
    max_steps: int | None = None,
) -> tuple[Plan, list[str]] | None:
    """A plan that takes, at each step, the guide's most likely worthwhile course among its
    ``top_k`` whose completion can still reach the goal within ``bound`` hours in all (known from
    the estimate and the current completion, or for ``exact_checks`` candidates a step from an
    integer program; None: :data:`EXACT_CHECKS`); else the next course of the shortest completion. Returns (plan, the source
    of each course: "model" or "shortest plan"), or None when nothing reaches the goal within ``bound``.
    ``max_steps``: stop once the plan has more courses than that (a plan not reaching the goal, with
    ``max_steps + 1`` courses: the steps a budget keeps are the same as the whole plan's first ones)."""
    exact_checks = EXACT_CHECKS if exact_checks is None else exact_checks
    state, _ = planner.settle(start, goal)
    rest = planner.shortest(state, goal, allowed, cap=bound)
    if rest is None:
        return None
    seq, sources, g = [], [], 0.0
    while state.job != goal:
        if max_steps is not None and len(seq) > max_steps:
            return Plan(seq, round(g, 6), False, state), sources
        # the guide picks among courses adding an important skill; a prerequisite-only course
        # comes from the shortest completion, which needs it
        cands = planner.successors(state, goal, allowed, prerequisites=False)
        order = cands
        if guide is not None:
            scores = guide(state, seq)
            order = sorted(cands, key=lambda i: (-scores[i], i))[:top_k]
        chosen, checked = None, 0
        for i in order:
            if rest.courses and planner.courses[i].id == rest.courses[0]:
                chosen = (i, Plan(rest.courses[1:], rest.hours - planner.hours[i], True, rest.end))
                break
            nxt, _ = planner.take(state, i, goal)
            left = bound - g - planner.hours[i]
            # the known completion, less what the course made redundant, often still fits (tried
            # first: no completion fits when the estimate says so, and this one is a completion)
            quick = planner.order(nxt, [planner.pos[c] for c in rest.courses], goal)
            if quick is not None and quick.hours <= left + 1e-9:
                chosen = (i, quick)
                break
            if checked >= exact_checks:
                continue
            if planner.estimate(nxt, goal, allowed) > left + 1e-9:
                continue  # no completion fits: the admissible estimate already says so
            checked += 1
            completion = planner.shortest(nxt, goal, allowed, cap=left)
            if completion is not None:
                chosen = (i, completion)
                break
        if chosen is None:  # the shortest completion's next course (within the bound by construction)
            i = planner.pos[rest.courses[0]]
            chosen, src = (
                (i, Plan(rest.courses[1:], rest.hours - planner.hours[i], True, rest.end)),
                "shortest plan",
            )
        else:
            src = "model" if guide is not None else "shortest plan"
        i, rest = chosen
        seq.append(planner.courses[i].id)
        sources.append(src)
        g += planner.hours[i]
        state, _ = planner.take(state, i, goal)
    return Plan(seq, round(g, 6), True, state), sources


def as_far_as_possible(planner, start: State, goal: str, allowed: Sequence[bool]) -> Plan:
    """When the goal cannot be reached: worthwhile courses, most goal weight added per hour
    first, while one adds some (the plan goes as far towards the goal as the catalog allows)."""
    state, _ = planner.settle(start, goal)
    job = planner.catalog.jobs[goal]
    seq, g = [], 0.0
    while state.job != goal:
        best, best_key = None, None
        for i in planner.successors(state, goal, allowed):
            new = [s for s in planner.courses[i].skills if s not in state.skills]
            gain = sum(job.skills.get(s, 0.0) for s in new)
            hop_gain = sum(
                planner.catalog.jobs[b].skills.get(s, 0.0)
                for b in planner.targets(state.job, goal)
                if b != goal
                for s in new
            )
            key = (gain + 0.5 * hop_gain) / max(planner.hours[i], 1.0)
            if gain + hop_gain > 0 and (best_key is None or key > best_key):
                best, best_key = i, key
        if best is None:
            break
        seq.append(planner.courses[best].id)
        g += planner.hours[best]
        state, _ = planner.take(state, best, goal)
    return Plan(seq, round(g, 6), state.job == goal, state)
