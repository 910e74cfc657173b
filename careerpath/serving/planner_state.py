"""What the planner plans with: a state (job and skills held), a plan (courses from a state), the
person's budget, and why a goal cannot be reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
