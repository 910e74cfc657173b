"""Distribution statistics of a generator's trajectories, with their sampling errors (used to
check that the batched generator simulates the same people as the per-user reference)."""

from __future__ import annotations

import math

import numpy as np

from careerpath.data.build import _Oracle
from careerpath.data.synthesis import STAY, oracle_values


def _ratio(num: np.ndarray, den: np.ndarray) -> tuple[float, float]:
    """sum(num) / sum(den) over users and its standard error (users are the independent units)."""
    total = den.sum()
    r = num.sum() / total
    return float(r), float(math.sqrt(((num - r * den) ** 2).sum()) / total)


def trajectory_stats(catalog, users: list[list]) -> dict[str, tuple[float, float]]:
    """Per statistic: (value, standard error). ``users``: each user's events."""
    courses = catalog.courses
    type_names = sorted({ev.user_type for evs in users for ev in evs})
    rows = {}
    n = len(users)
    ones = np.ones(n)
    steps = np.array([len(evs) for evs in users], dtype=float)
    moves = np.array([sum(ev.next_job != STAY for ev in evs) for evs in users], dtype=float)
    rows["path_length"] = _ratio(steps, ones)
    rows["no_event_share"] = _ratio((steps == 0).astype(float), ones)
    rows["move_rate"] = _ratio(moves, steps)
    rows["moves_per_user"] = _ratio(moves, ones)
    first = [evs[0] for evs in users if evs]
    m = np.ones(len(first))
    rows["no_goal_share"] = _ratio(np.array([not ev.goal_stated for ev in first], dtype=float), m)
    job_only = [
        not ev.goal_stated and len(ev.history) == 1 and set(ev.skills) == set(catalog.jobs[ev.job].skills)
        for ev in first
    ]
    rows["job_only_share"] = _ratio(np.array(job_only, dtype=float), m)
    rows["previous_job_share"] = _ratio(np.array([len(ev.history) > 1 for ev in first], dtype=float), m)
    rows["start_skills"] = _ratio(np.array([len(ev.skills) for ev in first], dtype=float), m)
    rows["abandon_rate"] = _ratio(
        np.array(
            [
                sum(ev.next_course not in (evs[-1].courses + [evs[-1].next_course]) for ev in evs[:-1])
                for evs in users
            ],
            dtype=float,
        ),
        np.maximum(steps - 1, 0),
    )
    for t in type_names:
        mine = [evs for evs in users if evs and evs[0].user_type == t]
        k = np.array([len(evs) for evs in mine], dtype=float)
        hours = np.array([sum(courses[ev.next_course].hours for ev in evs) for evs in mine], dtype=float)
        level = np.array([sum(courses[ev.next_course].level for ev in evs) for evs in mine], dtype=float)
        rows[f"course_hours/{t}"] = _ratio(hours, k)
        rows[f"course_level/{t}"] = _ratio(level, k)
        rows[f"type_share/{t}"] = _ratio(
            np.array([len(evs) > 0 and evs[0].user_type == t for evs in users], dtype=float), ones
        )
    # the oracle ceiling (expected accuracy of the argmax, visible and with the type known)
    per_user: dict[str, list[float]] = {}
    for evs in users:
        o = _Oracle()
        for ev in evs:
            o.add_values(*oracle_values(ev))
        for key in (
            "visible/next_course_expected",
            "visible/next_job_expected",
            "traits_known/next_course_expected",
            "visible/next_course",
            "visible/next_job",
        ):
            per_user.setdefault(key, []).append(o.sums.get(key, 0.0))
    for key, sums in per_user.items():
        rows[f"oracle/{key}"] = _ratio(np.array(sums), steps)
    return rows


def compare(a: dict, b: dict, z: float = 4.0) -> dict[str, tuple[float, float, float]]:
    """The statistics whose difference is more than ``z`` standard errors: name -> (a, b, z)."""
    out = {}
    for key in sorted(set(a) | set(b)):
        (va, sa), (vb, sb) = a.get(key, (0.0, 0.0)), b.get(key, (0.0, 0.0))
        se = math.sqrt(sa**2 + sb**2)
        score = abs(va - vb) / se if se > 0 else (0.0 if va == vb else math.inf)
        if score > z:
            out[key] = (va, vb, score)
    return out
