"""Catalog context for model inputs: the next job on the route to the goal and the courses that
close the most of the skill gap (a content-based retrieval stage in front of the model).

A sequence model that only sees ``goal, job, history, skills, courses`` has to learn the whole
catalog (which job needs which skills, which course teaches and requires which) from examples;
the tiny default learnt it slowly (next-course Acc@1 0.188 after 3 CPU epochs against an oracle
ceiling of 0.538). The catalog is known at serving time, so the input text also carries what it
implies, and the model learns to rank among those candidates (retrieve, then rank)::

    ... | next_step: Senior Project Manager | best: The First-Time Manager
        | options: Vendor Management at Work; Practical Change Management; ...
        | ready_after: The First-Time Manager; Practical Change Management

* ``next_step``: the next job on a shortest route to the goal in the transition graph
  (:meth:`Progression.next_hop`); empty when the goal is unreachable.
* Each skill the person lacks is worth its importance for the next step, plus ``goal_weight``
  times its importance for the goal; a prerequisite the person lacks, of a course teaching
  something worth having, is worth ``prereq_weight`` times that course's best skill. A course's
  gap score is the sum over the skills it would add. Eligible courses (not taken, prerequisites
  held, something new to learn) with a positive score are ranked by it.
* ``best``: the courses tied at the top score (at most ``max_best``); ``options``: the next
  ``options`` ones. Ties keep catalog order.
* ``ready_after``: the candidates after which the person would hold ``move_threshold`` of the next
  step's required skills (importance-weighted), i.e. could move on; all of them when that is
  already so.

The same function builds the context for dataset rows (``data build``), the recommender and
feedback training, so a model always sees the same kind of input it was trained on. Whether a
dataset (and so a model) uses it, and with which weights, is recorded in ``context.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
from scipy import sparse

from careerpath.core.catalog import Catalog
from careerpath.core.progression import MOVE_THRESHOLD, Progression, ready_with
from careerpath.core.textformat import Profile

CONTEXT_FILE = "context.json"
RECENT_SCORES = 64
"""Profiles whose :meth:`GapRetriever.scores` are remembered (the memory is emptied when full)."""


class CourseEligibility:
    """Which catalog courses a person can take (catalog order): not taken, every prerequisite
    held, something new to learn. The one rule for the course prior, the oracle's spreading of the
    generator's small probabilities and the generator itself (which computes it on arrays)."""

    def __init__(self, catalog: Catalog):
        skill_pos = {s: i for i, s in enumerate(catalog.skills)}
        self._skill_pos = skill_pos
        self._course_pos = {c: i for i, c in enumerate(catalog.courses)}
        shape = (len(catalog.courses), len(skill_pos))
        mats = []
        for attr in ("skills", "prerequisites"):
            rows = [i for i, c in enumerate(catalog.courses.values()) for _ in getattr(c, attr)]
            cols = [skill_pos[s] for c in catalog.courses.values() for s in getattr(c, attr)]
            m = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
            m.sum_duplicates()
            m.data[:] = 1.0
            mats.append(m)
        self._teach, self._require = mats
        self._n_teach = np.asarray(self._teach.sum(axis=1)).ravel()
        self._n_require = np.asarray(self._require.sum(axis=1)).ravel()

    def __call__(self, skills, taken=()) -> np.ndarray:
        held = np.zeros(len(self._skill_pos))
        held[[self._skill_pos[s] for s in skills if s in self._skill_pos]] = 1.0
        ok = (self._require @ held >= self._n_require - 0.5) & (self._teach @ held < self._n_teach - 0.5)
        ok[[self._course_pos[c] for c in taken if c in self._course_pos]] = False
        return ok


@dataclass
class ContextConfig:
    """The catalog context added to model inputs (``context:`` in configs/data/*.yaml)."""

    enabled: bool = True
    """Add ``next_step``, ``best``, ``options`` and ``ready_after`` to every input text."""
    goal_weight: float = 0.5
    """Weight of a missing goal skill relative to a missing skill of the next step."""
    prereq_weight: float = 0.5
    """Value of a missing prerequisite, relative to the best skill of the course requiring it."""
    options: int = 9
    """Courses listed in ``options``, after the ``best`` ones (0: none; then the tiny T5 copies
    ``best`` more often, Acc@1 up, but ranks the rest worse, Hit@10 and MRR down: README)."""
    max_best: int = 5
    """At most this many courses tied at the top score go in ``best``."""
    move_threshold: float = MOVE_THRESHOLD
    """Share of the next step's required skills (importance-weighted) at which a person is ready
    to move (``ready_after``)."""

    def __post_init__(self) -> None:
        if not isinstance(self.move_threshold, (int, float)) or not 0 < self.move_threshold <= 1:
            raise ValueError(
                f"context.move_threshold: expected a number in (0, 1], got {self.move_threshold!r}"
            )
        for name in ("goal_weight", "prereq_weight"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 10:
                raise ValueError(f"context.{name}: expected a number in [0, 10], got {value!r}")
        for name, lo in (("options", 0), ("max_best", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= 100:
                raise ValueError(f"context.{name}: expected an integer in [{lo}, 100], got {value!r}")
        if not isinstance(self.enabled, bool):
            raise ValueError(f"context.enabled: expected true or false, got {self.enabled!r}")


@dataclass
class Context:
    """What :class:`GapRetriever` adds for one profile (catalog ids)."""

    next_step: str  # job id, "" when the goal cannot be reached
    best: list[str]  # course ids tied at the top gap score
    options: list[str]  # the next candidates, best first
    ready_after: list[str] = field(default_factory=list)  # candidates after which the next step is in reach


class GapRetriever:
    """Ranks eligible courses by how much of the gap to the next step and the goal they close.

    Sparse: a call touches only the skills the next step and the goal require, the courses teaching
    them and those courses' prerequisites, so its cost does not grow with the catalog (ESCO's
    13,896 skills cost what the bundled 373 do).
    """

    def __init__(self, catalog: Catalog, progression: Progression, cfg: ContextConfig | None = None):
        self.catalog, self.progression = catalog, progression
        self.cfg = cfg or ContextConfig()
        self.course_ids = list(catalog.courses)
        self._course_pos = {c: i for i, c in enumerate(self.course_ids)}
        courses = list(catalog.courses.values())
        self._teaches = [c.skills for c in courses]
        self._requires = [c.prerequisites for c in courses]
        self._teach_of: dict[str, list[int]] = {}
        for i, c in enumerate(courses):
            for sk in c.skills:
                self._teach_of.setdefault(sk, []).append(i)
        self._want_cache: dict[tuple[str, str], dict[str, float]] = {}
        self._recent: dict[tuple, tuple[str, np.ndarray]] = {}  # scores() of the last few profiles

    def _job_weights(self, hop: str, goal: str) -> dict[str, float]:
        """Skill -> weight of what the next step (1x) and the goal (``goal_weight``) require."""
        key = (hop, goal)
        out = self._want_cache.get(key)
        if out is None:
            out = {}
            jobs = self.catalog.jobs
            if hop:
                for sk, v in jobs[hop].skills.items():
                    out[sk] = out.get(sk, 0.0) + float(v)
            if goal in jobs:
                for sk, v in jobs[goal].skills.items():
                    out[sk] = out.get(sk, 0.0) + self.cfg.goal_weight * float(v)
            if len(self._want_cache) > 50_000:
                self._want_cache.clear()
            self._want_cache[key] = out
        return out

    def goal_for(self, job: str, goal: str | None) -> str:
        """The goal a profile aims at: its own when the catalog knows it, else (no goal stated)
        the job its job most often leads to (:meth:`Progression.default_next`), else ""."""
        if goal and goal in self.catalog.jobs:
            return goal
        return (self.progression.default_next(job) or "") if job in self.catalog.jobs else ""

    def next_step(self, job: str, goal: str) -> str:
        """The next job on a shortest route from ``job`` to ``goal`` ("" when there is none); no
        goal: see :meth:`goal_for`."""
        jobs = self.catalog.jobs
        goal = self.goal_for(job, goal)
        hop = self.progression.next_hop(job, goal) if job in jobs and goal in jobs else None
        return "" if hop is None or hop == job else hop

    def scores(self, job: str, goal: str, skills, taken=()) -> tuple[str, np.ndarray]:
        """(next step, gap score of every catalog course); ineligible courses score -inf.
        The last few profiles' results are remembered (the context and the course prior of one
        input both ask for it, and a pathway's guide for the state before as well); the caller gets
        its own copy."""
        key = (job, goal, frozenset(skills), tuple(taken))
        hit = self._recent.get(key)  # one read: the demo's threads share this retriever
        if hit is not None:
            return hit[0], hit[1].copy()
        hop, score = self._scores(job, goal, skills, taken)
        if len(self._recent) >= RECENT_SCORES:
            self._recent.clear()
        self._recent[key] = (hop, score)
        return hop, score.copy()

    def _scores(self, job: str, goal: str, skills, taken=()) -> tuple[str, np.ndarray]:
        goal = self.goal_for(job, goal)
        hop = self.next_step(job, goal)
        held = set(skills)
        want = {sk: w for sk, w in self._job_weights(hop, goal).items() if w > 0 and sk not in held}
        value = dict(want)
        if self.cfg.prereq_weight > 0:
            # a course's want is its most wanted skill; its missing prerequisites get a share of it
            course_want: dict[int, float] = {}
            for sk, w in want.items():
                for c in self._teach_of.get(sk, ()):
                    if w > course_want.get(c, 0.0):
                        course_want[c] = w
            for c, w in course_want.items():
                for q in self._requires[c]:
                    if q not in held and q not in want:
                        v = self.cfg.prereq_weight * w
                        if v > value.get(q, 0.0):
                            value[q] = v
        taken_pos = {self._course_pos[c] for c in taken if c in self._course_pos}
        score = np.full(len(self.course_ids), -np.inf)
        for c in {c for sk in value for c in self._teach_of.get(sk, ())}:
            if c in taken_pos or any(q not in held for q in self._requires[c]):
                continue
            gain = sum(value.get(sk, 0.0) for sk in self._teaches[c] if sk not in held)
            # rounded, so that sums equal but for the order of their terms tie: ties keep
            # catalog order
            if gain > 0:
                score[c] = round(gain, 9)
        return hop, score

    def context(self, job: str, goal: str, skills, taken=()) -> Context:
        """The next step and the top candidate courses for one profile."""
        hop, score = self.scores(job, goal, skills, taken)
        finite = np.flatnonzero(np.isfinite(score))
        if finite.size == 0:
            return Context(hop, [], [])
        # best first, ties in catalog order (a stable sort of the negated scores)
        order = finite[np.argsort(-score[finite], kind="stable")]
        n_best = min(int(np.sum(score[order] == score[order[0]])), self.cfg.max_best)
        ids = [self.course_ids[i] for i in order[: n_best + self.cfg.options]]
        ready = []
        if hop:
            held = skills if isinstance(skills, (set, frozenset)) else set(skills)
            ready = [c for c in ids if self._ready(hop, held, c)]
        return Context(hop, ids[:n_best], ids[n_best:], ready)

    def _ready(self, hop: str, skills: set[str] | frozenset[str], course: str) -> bool:
        """Whether taking ``course`` brings the next step's coverage (the importance-weighted
        share of its required skills held) to the move threshold."""
        return ready_with(
            skills, self.catalog.courses[course].skills, self.catalog.jobs[hop], self.cfg.move_threshold
        )


def add_context(profile: Profile, ctx: Context, catalog: Catalog) -> Profile:
    """Put ``ctx`` (ids) into a text-format ``profile`` (names); returns the profile."""
    profile.context = True
    profile.next_step = catalog.jobs[ctx.next_step].title if ctx.next_step else ""
    profile.best = [catalog.courses[c].title for c in ctx.best]
    profile.options = [catalog.courses[c].title for c in ctx.options]
    profile.ready_after = [catalog.courses[c].title for c in ctx.ready_after]
    return profile


def save_context_config(
    cfg: ContextConfig, folder: str | Path, n_next_jobs: int, n_courses_per_job: int
) -> None:
    """``context.json``: the context settings and the transition-graph settings it depends on."""
    data = {"context": asdict(cfg), "n_next_jobs": n_next_jobs, "n_courses_per_job": n_courses_per_job}
    (Path(folder) / CONTEXT_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def load_context_file(folder: str | Path) -> dict | None:
    """The parsed ``context.json`` of a dataset or model folder (None when it has none: a dataset
    or model from before the context, whose inputs have no context fields)."""
    path = Path(folder) / CONTEXT_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in fields(ContextConfig)}
        unknown = sorted(set(data["context"]) - known)
        if unknown:  # settings this version cannot reproduce: its inputs would differ
            raise ValueError(f"unknown setting(s) {', '.join(unknown)}, from a newer careerpath?")
        cfg = ContextConfig(**data["context"])
        n_next, n_courses = int(data["n_next_jobs"]), int(data["n_courses_per_job"])
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(
            f"{path}: not a valid context file ({err}); rebuild the dataset or delete it"
        ) from err
    return {"context": cfg, "n_next_jobs": n_next, "n_courses_per_job": n_courses}


def progression_for(catalog: Catalog, info: dict | None) -> Progression:
    """The transition graph a dataset or model was built with (``info``: :func:`load_context_file`;
    None: the default settings)."""
    if info is None:
        return Progression(catalog)
    return Progression(catalog, n_next=info["n_next_jobs"], n_courses=info["n_courses_per_job"])


def retriever_for(
    folder: str | Path, catalog: Catalog, progression: Progression | None = None
) -> GapRetriever | None:
    """The retriever a dataset or model folder's inputs were made with, or None (no context)."""
    info = load_context_file(folder)
    if info is None or not info["context"].enabled:
        return None
    if progression is None:
        progression = progression_for(catalog, info)
    return GapRetriever(catalog, progression, info["context"])
