"""The synthetic generator's configuration and its event: the hidden preference types, every
knob of :class:`SynthesisConfig` (the ``synthesis`` section of a data config) and :class:`Event`,
one step of a trajectory with everything a dataset row needs."""

from __future__ import annotations

from dataclasses import dataclass, field

from careerpath.core.context import Context
from careerpath.core.progression import MOVE_THRESHOLD

# course probabilities below this are summed into probs["course_other"]
PROB_FLOOR = 1e-3
LATERAL_MOVES = ("ready", "graph")  # SynthesisConfig.lateral_moves


@dataclass(frozen=True)
class PreferenceType:
    """A hidden learner type: how course length and level shift the choice of course."""

    name: str
    prior: float
    long_course_penalty: float  # per 10 hours above ``long_hours``
    level_bonus: float  # per course level above 1
    long_hours: float = 30.0


DEFAULT_TYPES = (
    PreferenceType("balanced", 0.4, 0.15, 0.0),
    PreferenceType("quick", 0.3, 1.2, -0.3),
    PreferenceType("deep", 0.3, -0.3, 0.8),
)


@dataclass
class SynthesisConfig:
    """How synthetic users behave. Defaults give about 10,000 training examples."""

    users: int = 1400
    """Number of synthetic users."""
    seed: int = 13
    """Seed; the same config and seed give byte-identical output."""
    max_steps: int = 12
    """Longest trajectory (steps of one course plus an optional job move)."""
    max_goal_hops: int = 3
    """The goal is a job reachable in 1..max_goal_hops moves from the starting job."""
    temperature: float = 0.35
    """Softmax temperature over course scores; lower is more predictable."""
    detour_prob: float = 0.08
    """Probability that the next course is a detour: any other eligible course, uniformly."""
    abandon_prob: float = 0.04
    """Probability that a course is abandoned: it gives no skills and does not count as taken."""
    move_threshold: float = MOVE_THRESHOLD
    """Coverage of the next job's required skills at which a move becomes realistic."""
    move_prob: float = 0.8
    """Probability of moving once ready (the rest are plateaus)."""
    lateral_prob: float = 0.03
    """Probability of a lateral move to another neighbouring job (see ``lateral_moves``)."""
    lateral_moves: str = "ready"
    """Where lateral moves go. ``ready``: to the neighbouring jobs the person is ready for, evenly.
    ``graph``: to any of the job's next jobs, the next step on the route included, ready or not, in
    proportion to 1 / its rank among them (the transition graph's order: observed mobility where
    the catalog has it), as real flows do (docs/mobility.md). The job prior learns which from the
    data."""
    start_skill_prob: float = 0.8
    """Probability of holding each required skill of the starting job."""
    previous_job_prob: float = 0.5
    """Probability that the user had a job before the current one."""
    gain_weight: float = 3.0
    """Weight of the (importance-weighted) skill gap a course closes."""
    hop_weight: float = 1.0
    """How much the gap to the next job on the way to the goal drives the choice of course."""
    goal_weight: float = 0.5
    """How much the gap to the goal itself drives the choice of course."""
    types: tuple[PreferenceType, ...] = DEFAULT_TYPES
    provider_bonus: float = 0.0
    """Generator variant (0: off): people in each job family (of the job they hold now) prefer one
    course provider (the family's n-th provider in name order, n its position among the families), by this much on the
    course score's scale (gain_weight x gap + taste). The course prior does not know it."""
    no_goal_share: float = 0.0
    """Share of users who state no goal. They head where their job most often leads
    (:meth:`Progression.default_next`, after a lateral move from the new job), and their rows'
    texts have an empty goal: the questions a person asks without a goal are in distribution."""
    job_only_share: float = 0.0
    """Share of users whose profile is only a job: no goal stated (as above), no previous job, and
    exactly the job's required skills (what the recommender assumes of a job-only profile)."""
    family_move_prob: dict = field(default_factory=dict)
    """Generator variant ({}: off): ``move_prob`` per job family of the person's current job
    (e.g. ``{healthcare: 0.3}``); other families keep ``move_prob``. The job prior has one."""


@dataclass
class Event:
    """One step of a trajectory, with everything the dataset row needs."""

    user_id: str
    step: int
    goal: str
    job: str
    history: list[str]
    skills: list[str]  # skill ids, catalog order
    courses: list[str]  # course ids, order taken
    next_course: str
    skills_gained: list[str]
    next_job: str  # job id or STAY
    probs: dict = field(default_factory=dict)
    probs_visible: dict = field(default_factory=dict)
    user_type: str = ""
    start_job: str = ""
    goal_stated: bool = True  # False: the text shows no goal (the goal is the job's default next)
    # P(next job | the course taken and whether it taught anything): what the decoder has seen
    # when it writes next_job (the job does not depend on the hidden type)
    job_given_course: dict = field(default_factory=dict)
    context: Context | None = None  # the catalog context of the input, when the generator made it
    oracle: tuple | None = None  # oracle_values(self), when the generator made them
