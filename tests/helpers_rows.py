"""Small, deterministic dataset rows with every field of the row contract, made by hand in tests."""

from __future__ import annotations

from collections.abc import Sequence

from careerpath.core.textformat import STAY, Profile, Step, serialise_input, serialise_target


def title(item_id: str) -> str:
    """A readable name for a made-up id: ``"c-py1"`` -> ``"C Py1"``."""
    return " ".join(p.capitalize() for p in item_id.replace("-", " ").split())


def make_row(
    user_id: str,
    step: int,
    goal: str,
    history: Sequence[str],
    courses: Sequence[str],
    next_course: str,
    next_job: str = STAY,
    skills: Sequence[str] = (),
    gained: Sequence[str] = (),
    family: str = "data",
    level: int = 1,
    probs: dict | None = None,
) -> dict:
    """One row; ``history`` ends with the current job, ``next_job`` is a job id or "stay"."""
    profile = Profile(
        goal=title(goal),
        job=title(history[-1]),
        history=[title(h) for h in history],
        skills=[title(s) for s in skills],
        courses=[title(c) for c in courses],
    )
    target = Step(
        next_course=title(next_course) if next_course else "",
        skills_gained=[title(s) for s in gained],
        next_job=STAY if next_job == STAY else title(next_job),
    )
    probs = probs or {"course": {next_course: 1.0}, "job": {next_job: 1.0}}
    return {
        "user_id": user_id,
        "step": step,
        "input_text": serialise_input(profile),
        "target_text": serialise_target(target),
        "goal": profile.goal,
        "job": profile.job,
        "history": profile.history,
        "skills": profile.skills,
        "courses": profile.courses,
        "next_course": target.next_course,
        "skills_gained": target.skills_gained,
        "next_job": target.next_job,
        "goal_id": goal,
        "job_id": history[-1],
        "history_ids": list(history),
        "skill_ids": list(skills),
        "course_ids": list(courses),
        "next_course_id": next_course,
        "skills_gained_ids": list(gained),
        "next_job_id": next_job,
        "start_family": family,
        "start_level": level,
        "job_family": family,
        "job_level": level,
        "probs": probs,
        "probs_visible": probs,
    }


def trajectory(
    user_id: str,
    goal: str,
    history: Sequence[str],
    course_seq: Sequence[str],
    moves: dict[int, str] | None = None,
    abandoned: Sequence[int] = (),
    family: str = "data",
    level: int = 1,
) -> list[dict]:
    """Consecutive rows of one user: at step t the user takes ``course_seq[t]`` (kept unless t is in
    ``abandoned``) and then moves to ``moves[t]`` if given."""
    moves = moves or {}
    hist, taken, rows = list(history), [], []
    for t, course in enumerate(course_seq):
        nxt = moves.get(t, STAY)
        rows.append(make_row(user_id, t, goal, hist, taken, course, nxt, family=family, level=level))
        if t not in abandoned:
            taken = taken + [course]
        if nxt != STAY:
            hist = hist + [nxt]
    return rows
