"""The recommender's data: what a person rules out, ranked items, pathway steps and milestones.

Plain dataclasses shared by :mod:`careerpath.serving.recommend` (the Recommender API) and
:mod:`careerpath.serving.recommend_pathway` (planning and replaying pathways); ``_Beam`` is a partial
pathway while it is being built.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

MIN_CONFIDENCE = 0.05  # a planned course below this probability marks the pathway as unsure
RATIO_BOUND = 1.2  # the default plan's hours stay within this factor of the shortest plan's
SKILL_GAP_MAX_STEPS = 1000  # the skill-gap rule stops when no course adds a wanted skill, long before


@dataclass
class Constraints:
    """What the person rules out."""

    exclude_courses: list[str] = field(default_factory=list)
    exclude_providers: list[str] = field(default_factory=list)
    max_hours: float | None = None
    max_level: int | None = None


@dataclass
class Recommendation:
    kind: str  # "course" or "job"
    id: str
    title: str
    probability: float
    skills_added: list[str]
    reason: str
    hours: float | None = None
    provider: str | None = None
    level: int | None = None


def _as_dict(r: Recommendation) -> dict:
    """``dataclasses.asdict`` for a Recommendation (flat fields; its one list is copied), faster."""
    d = dict(r.__dict__)
    d["skills_added"] = list(r.skills_added)
    return d


@dataclass
class PathStep:
    kind: str  # "course" or "job"
    id: str
    title: str
    skills_gained: list[str]
    gap_left: list[str]
    goal_coverage: float
    hours: float
    probability: float | None
    reason: str
    source: str  # "model", "shortest plan", "fewest steps", "skill-gap fallback" or "as far as possible"
    provider: str | None = None
    important: list[str] = field(
        default_factory=list
    )  # skills it adds that the next job or goal rates important
    placeholder: bool = False  # a generated stand-in: no real course in the catalog teaches its skill


@dataclass
class Pathway:
    goal: dict | None
    steps: list[PathStep]
    reached: bool
    total_hours: float
    confident: bool
    fallback: bool
    note: str
    shortest_hours: float | None = None  # hours of the shortest plan reaching the goal (None: none does)
    hours_ratio: float | None = None  # total_hours / shortest_hours, for a plan that reaches the goal
    course_steps: int = 0
    milestones: list[dict] = field(default_factory=list)  # one per job move, with the courses before it
    missing: list[str] = field(default_factory=list)  # what stops an unreachable goal
    placeholders: list[str] = field(default_factory=list)  # placeholder courses in the plan

    def as_dict(self) -> dict:
        return asdict(self)


def milestones(steps: list[PathStep]) -> list[dict]:
    """Steps grouped by job move: each milestone is the courses taken, then the move they allow
    (the last one has no move when the plan ends before a move)."""
    out, courses, hours = [], [], 0.0
    for s in steps:
        if s.kind == "course":
            courses.append(s.title)
            hours += s.hours
            continue
        out.append({"move_to": s.title, "job_id": s.id, "courses": courses, "hours": round(hours, 1)})
        courses, hours = [], 0.0
    if courses:
        out.append({"move_to": None, "job_id": None, "courses": courses, "hours": round(hours, 1)})
    return out


@dataclass
class _Beam:
    job: str | None
    skills: set[str]
    courses: list[str]
    history: list[str]
    logp: float = 0.0
    steps: list[PathStep] = field(default_factory=list)
    unsure: bool = False

    def reached(self, goal: str) -> bool:
        return self.job == goal
