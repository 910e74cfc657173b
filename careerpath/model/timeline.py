"""When did a person take each course? The job they held then, read back from their profile.

A profile lists the jobs a person has held (``history``, oldest first, ending with today's job)
and the courses they took (in order), but not which job they held when they took each course. A
course chosen two jobs ago was chosen against that job's gap, so the course prior's reading of a
person's taste (:class:`~careerpath.model.prior.LatentClassPrior`) needs it: with today's job for every
past course it reaches 0.95x of the generator's oracle on the default data, with the job actually
held 0.98x (``docs/priors.md``).

A small hidden Markov model reconstructs it. The hidden state is the position in ``history`` of
the job held; the skills held before each course are rebuilt from the profile (the skills now less
what the courses taken teach, then each course adds what it teaches). After each course a person
at job ``a`` moves on as the move rule says (:func:`~careerpath.core.progression.ready_to_move`):

- to the next step on the route to their goal, with probability ``move``, once they are ready for it;
- to another job ``a`` leads to that they are ready for, sharing ``lateral`` of what is left;
- hardly ever (``EPS``) to a job they are not ready for;

and the earliest job of ``history`` was held before the first course with probability ``previous``
(a job before the one the person started from). The most likely sequence of jobs (Viterbi) is the
answer. The three numbers are counted on the training rows (:meth:`Timeline.fit`), where each
person's rows say when they moved.
"""

from __future__ import annotations

import math

from careerpath.core.context import GapRetriever
from careerpath.core.progression import ready_to_move
from careerpath.core.textformat import STAY

EPS = 1e-3  # P(a move the readiness rule does not explain), per course
PARAMS = ("move", "lateral", "previous")
MOVES_MEMO = 20_000  # (job, goal, skills) whose moves Timeline._moves keeps


def skills_before(teach: dict[str, frozenset], skills, taken) -> list[set[str]]:
    """The skills held before each course of ``taken`` (ids, in order), rebuilt from a profile: the
    skills now less what the courses taken teach (``teach``: course id -> its skills), then each
    course adds what it teaches."""
    held = set(skills).difference(*(teach.get(c, frozenset()) for c in taken))
    out = []
    for c in taken:
        out.append(set(held))
        held |= teach.get(c, frozenset())
    return out


class Timeline:
    """The job held at each course of a profile; see the module docstring."""

    def __init__(self, retriever: GapRetriever, move: float, lateral: float, previous: float):
        values = {"move": move, "lateral": lateral, "previous": previous}
        if not all(isinstance(v, (int, float)) and 0.0 < float(v) < 1.0 for v in values.values()):
            raise ValueError(f"a timeline needs move, lateral and previous in (0, 1); got {values!r}")
        self.retriever = retriever
        self.catalog = retriever.catalog
        self.move, self.lateral, self.previous = float(move), float(lateral), float(previous)
        self.threshold = retriever.cfg.move_threshold
        self._moves_memo: dict[tuple, tuple[str, tuple[str, ...], float, float]] = {}
        self._teach = {c.id: frozenset(c.skills) for c in self.catalog.courses.values()}

    def to_dict(self) -> dict[str, float]:
        return {"move": self.move, "lateral": self.lateral, "previous": self.previous}

    # -- the move model ------------------------------------------------------------------------
    def _ready(self, job: str, skills: set[str]) -> bool:
        return job in self.catalog.jobs and ready_to_move(skills, self.catalog.jobs[job], self.threshold)

    def step_logp(self, job: str, goal: str, skills: set[str], to: str | None) -> float:
        """log P(after a course, a person at ``job`` holding ``skills`` moves to ``to``; None: stays)."""
        return self._logp(self._moves(job, goal, skills), to)

    def _moves(self, job: str, goal: str, skills) -> tuple[str, tuple[str, ...], float, float]:
        """What :meth:`step_logp` reads for any ``to``: (the hop, the other next jobs ready for, the
        hop's probability, the others' share), worked out once for a stay and a move alike, and
        remembered: reading a profile asks it for every job of its history after every course, and
        a pathway's guide reads the same earlier courses again at each step."""
        key = (job, goal, skills if isinstance(skills, frozenset) else frozenset(skills))
        hit = self._moves_memo.get(key)
        if hit is None:
            hop = self.retriever.next_step(job, goal) if job in self.catalog.jobs else ""
            nexts = self.retriever.progression.next_jobs.get(job, [])
            laterals = tuple(
                b for b in dict.fromkeys(b for b, _ in nexts) if b != hop and self._ready(b, skills)
            )
            p_hop = self.move if hop and hop != job and self._ready(hop, skills) else 0.0
            share = self.lateral * (1.0 - p_hop) if laterals else 0.0
            hit = (hop, laterals, p_hop, share)
            if len(self._moves_memo) >= MOVES_MEMO:
                self._moves_memo.clear()
            self._moves_memo[key] = hit
        return hit

    @staticmethod
    def _logp(moves: tuple[str, tuple[str, ...], float, float], to: str | None) -> float:
        hop, laterals, p_hop, share = moves
        if to is None:
            return math.log(max(1.0 - p_hop - share, EPS))
        if to == hop and p_hop:
            return math.log(p_hop)
        if to in laterals:
            return math.log(share / len(laterals))
        return math.log(EPS)

    # -- reading a profile -----------------------------------------------------------------------
    def jobs(self, job: str, goal: str, skills, taken=(), history=()) -> list[str]:
        """The job held when each course of ``taken`` was taken (today's job for all of them when
        the profile lists no earlier job)."""
        taken = list(taken)
        hist = [j for j in history if j]
        if job and (not hist or hist[-1] != job):
            hist.append(job)
        n, L = len(taken), len(hist)
        if n == 0 or L <= 1:
            return [job] * n
        stated = goal if goal in self.catalog.jobs else ""
        before = skills_before(self._teach, skills, taken)
        after = [frozenset(b).union(self._teach.get(c, ())) for b, c in zip(before, taken, strict=True)]
        neg = -math.inf
        # score[j]: the best log-probability of holding hist[j] while taking the current course
        score = [neg] * L
        score[0] = math.log(1.0 - self.previous)
        score[1] = math.log(self.previous)
        back: list[list[int]] = []
        for t in range(n - 1):
            new, arg = [neg] * L, [0] * L
            for j in range(L):
                if score[j] == neg:
                    continue
                g = self.retriever.goal_for(hist[j], stated)
                moves = self._moves(hist[j], g, after[t])
                stay = score[j] + self._logp(moves, None)
                if stay > new[j]:
                    new[j], arg[j] = stay, j
                if j + 1 < L:
                    mv = score[j] + self._logp(moves, hist[j + 1])
                    if mv > new[j + 1]:
                        new[j + 1], arg[j + 1] = mv, j
            back.append(arg)
            score = new
        # after the last course the person reaches today's job: one move with that course, any
        # further ones after courses they gave up (not listed)
        best, end = neg, L - 1
        for j in range(L):
            if score[j] == neg:
                continue
            s = score[j]
            if j < L - 1:
                g = self.retriever.goal_for(hist[j], stated)
                s += self.step_logp(hist[j], g, after[-1], hist[j + 1]) + (L - 2 - j) * math.log(EPS)
            if s > best:
                best, end = s, j
        path = [end]
        for arg in reversed(back):
            path.append(arg[path[-1]])
        return [hist[j] for j in reversed(path)]

    # -- fitting --------------------------------------------------------------------------------
    @classmethod
    def fit(cls, retriever: GapRetriever, rows: list[dict], max_rows: int = 20000) -> Timeline:
        """The three numbers counted on training rows (with add-one smoothing): ``move`` and
        ``lateral`` from the rows' next jobs where the course taken made the person ready,
        ``previous`` from each person's first row (its history longer than today's job)."""
        unit = cls(retriever, 0.5, 0.5, 0.5)
        hop_ready = hop_moved = lat_ready = lat_moved = 0
        first: dict[str, tuple[int, bool]] = {}
        for row in rows[:max_rows]:
            user, step = row.get("user_id"), row.get("step")
            hist = [j for j in row.get("history_ids", []) if j and j != row.get("job_id")]
            if user is not None and isinstance(step, int):
                if user not in first or step < first[user][0]:
                    first[user] = (step, bool(hist))
            label, job = row.get("next_job_id", ""), row.get("job_id", "")
            if not label or job not in retriever.catalog.jobs:
                continue
            skills = set(row.get("skill_ids", [])) | unit._teach.get(
                row.get("next_course_id", ""), frozenset()
            )
            goal = retriever.goal_for(job, row.get("goal_id", ""))
            hop = retriever.next_step(job, goal)
            if hop and hop != job and unit._ready(hop, skills):
                hop_ready += 1
                hop_moved += label == hop
                continue
            nexts = [b for b, _ in retriever.progression.next_jobs.get(job, [])]
            if any(b != hop and unit._ready(b, skills) for b in nexts):
                lat_ready += 1
                lat_moved += label != STAY
        previous = (sum(h for _, h in first.values()) + 1) / (len(first) + 2)
        return cls(
            retriever,
            round((hop_moved + 1) / (hop_ready + 2), 5),
            round((lat_moved + 1) / (lat_ready + 2), 5),
            round(previous, 5),
        )
