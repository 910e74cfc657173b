"""Synthetic users and their trajectories (seed steps 3 and 7), with the generator's probabilities.

No one has real learner histories, so careerpath simulates them from the progression logic. Each
user has a starting job and skills, a goal (a job reachable in a few moves) and a hidden
preference type. At each step the user takes a course (gaining its skills) and then either stays
or moves job when the gap to the next job on the way to the goal is small enough.

What happens next depends on the goal, on all skills gathered so far and on the hidden type, not
only on the current job and the last course, so a model reading the whole history can beat a
first-order Markov chain. Because the generator knows the exact probability of every next event it
records them; the dataset build turns them into the oracle ceiling. The hidden type is a few
discrete values, so the posterior over types given the visible history is exact and the build can
state the Bayes-optimal accuracy given the text as well as the (higher) one with the type known.

Users are generated in batches of arrays, with counter-based random numbers, so a user depends
only on the config, the seed and its index (docs/data_build.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from data_prep.catalog import Catalog
from data_prep.context import Context, ContextConfig, GapRetriever, add_context
from data_prep.progression import MOVE_THRESHOLD, Progression, coverage
from data_prep.textformat import STAY, Profile, Step, _escape, check_value, serialise_input, serialise_target

PROB_FLOOR = 1e-3
LATERAL_MOVES = ("ready", "graph")  # SynthesisConfig.lateral_moves
# course probabilities below this are summed into probs["course_other"]


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
    ``graph``: to any neighbouring job, ready or not, in proportion to 1 / its rank among the
    job's next jobs (the transition graph's order: observed mobility where the catalog has it),
    as real flows do (docs/mobility.md). The job prior learns which from the data."""
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
    """Generator variant (0: off): each job family's people prefer one course provider (the
    family's n-th provider in name order, n its position among the families), by this much on the
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


class Synthesiser:
    """Generates users in batches: the state of every user of a batch is a row of arrays (skills
    held, courses taken, job, goal, type posterior) and each step is a few array operations for
    the whole batch (course values, the course softmax per type, the next-job distribution after
    every course, one draw per user).

    Every random number is a counter-based hash of (seed, user, step, purpose) (:func:`uniforms`)
    and every array operation is row by row, so user i's trajectory depends only on the seed and
    i: not on the batch it is generated in, nor on the worker process.

    With ``context`` (the dataset build) each event also carries the catalog context of its input
    (what :class:`GapRetriever` returns for it), computed for the whole batch from the same arrays.
    """

    def __init__(
        self,
        catalog: Catalog,
        progression: Progression,
        cfg: SynthesisConfig,
        context: ContextConfig | None = None,
    ):
        self.catalog, self.prog, self.cfg = catalog, progression, cfg
        self.context_cfg = context if context is not None and context.enabled else None
        self.skill_list = list(catalog.skills)
        self.course_list = list(catalog.courses)
        self.job_list = list(catalog.jobs)
        self.skill_order = {s: i for i, s in enumerate(self.skill_list)}
        self.job_pos = {j: i for i, j in enumerate(self.job_list)}
        families = {j.family for j in catalog.jobs.values()}
        bad = {
            k: v
            for k, v in dict(cfg.family_move_prob or {}).items()
            if k not in families or not isinstance(v, (int, float)) or not 0 <= v <= 1
        }
        if cfg.lateral_moves not in LATERAL_MOVES:
            raise ValueError(
                f"synthesis.lateral_moves: one of {', '.join(LATERAL_MOVES)}; got {cfg.lateral_moves!r}"
            )
        if bad or not math.isfinite(float(cfg.provider_bonus)):
            raise ValueError(
                f"synthesis.family_move_prob: families of this catalog ({', '.join(sorted(families))}) "
                f"with probabilities in [0, 1], and a finite provider_bonus; got {bad or cfg.provider_bonus!r}"
            )
        self.priors = np.array([t.prior for t in cfg.types]) / sum(t.prior for t in cfg.types)
        self._type_cdf = np.cumsum(self.priors)
        self._type_cdf /= self._type_cdf[-1]
        self._course_tables()
        self._job_tables()

    # -- tables, built once per catalog ------------------------------------------------------
    def _course_tables(self) -> None:
        cat, cfg, order = self.catalog, self.cfg, self.skill_order
        S, courses = len(self.skill_list), list(cat.courses.values())
        C = len(courses)
        self.n_skills, self.n_courses = S, C
        # what each course teaches / requires, in the catalog's order (the context sums in it),
        # padded with S: a column that is always "held" and always worth 0
        self.teach_pad = _pad([[order[s] for s in c.skills] for c in courses], S)
        self.prereq_pad = _pad([[order[s] for s in c.prerequisites] for c in courses], S)
        self._teach_lists = [[order[s] for s in c.skills] for c in courses]
        rows = [i for i, c in enumerate(courses) for _ in c.skills]
        cols = [order[s] for c in courses for s in c.skills]
        teach = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(C, S + 1))
        teach.sum_duplicates()
        teach.data[:] = 1.0
        self.teach_t = teach.T.tocsr()  # skills x courses
        required_by: list[list[int]] = [[] for _ in range(S + 1)]
        for i, c in enumerate(courses):
            for s in dict.fromkeys(c.prerequisites):
                required_by[order[s]].append(i)
        # (course, skill) pairs grouped by skill, for the best course a prerequisite serves
        req = [(s, c) for s in range(S) for c in required_by[s]]
        self.req_skills = np.array(sorted({s for s, _ in req}), dtype=np.intp)
        self.req_courses = np.array([c for _, c in req], dtype=np.intp)
        self.req_starts = np.searchsorted([s for s, _ in req], self.req_skills).astype(np.intp)
        # (course, skill) pairs grouped by course, for the best skill a course teaches
        pairs = [(i, s) for i, t in enumerate(self._teach_lists) for s in t]
        self.teaching = np.array(sorted({i for i, _ in pairs}), dtype=np.intp)
        self.taught_skills = np.array([s for _, s in pairs], dtype=np.intp)
        self.taught_starts = np.searchsorted([i for i, _ in pairs], self.teaching).astype(np.intp)
        hours = np.array([c.hours for c in courses], dtype=np.float64)
        levels = np.array([c.level for c in courses], dtype=np.float64)
        self.pref = np.array(
            [
                -t.long_course_penalty * np.maximum(hours - t.long_hours, 0.0) / 10.0
                + t.level_bonus * (levels - 1)
                for t in cfg.types
            ]
        ).reshape(len(cfg.types), C)
        bonus = _family_provider_bonus(cat, float(cfg.provider_bonus))
        fams = sorted({j.family for j in cat.jobs.values()})
        self.bonus = np.zeros((len(fams) + 1, C))
        for k, fam in enumerate(fams):
            if fam in bonus:
                self.bonus[k] = bonus[fam]
        self._has_bonus = bool(bonus)
        self._course_key = [json.dumps(c, ensure_ascii=False) + ": " for c in self.course_list]
        by_id = sorted(range(C), key=self.course_list.__getitem__)  # ties of the oracle: smallest id
        self._course_rank = np.empty(C, dtype=np.int64)
        self._course_rank[by_id] = np.arange(C)
        self._rank_course = np.array(by_id, dtype=np.intp)
        self.job_family_row = np.array([fams.index(j.family) for j in cat.jobs.values()], dtype=np.intp)

    def _job_tables(self) -> None:
        cat, cfg, prog, S = self.catalog, self.cfg, self.prog, self.n_skills
        jobs = list(cat.jobs.values())
        pos, order = self.job_pos, self.skill_order
        # one extra job row (index J) with no skills, for padding
        self.job_sk = _pad([[order[s] for s in j.skills] for j in jobs] + [[]], S)
        self.job_w = np.zeros(self.job_sk.shape)
        for k, j in enumerate(jobs):
            self.job_w[k, : len(j.skills)] = [float(w) for w in j.skills.values()]
        self.job_total = np.array([sum(j.skills.values()) for j in jobs] + [0.0], dtype=np.float64)
        self.move_p = np.array(
            [cfg.family_move_prob.get(j.family, cfg.move_prob) for j in jobs] + [0.0], dtype=np.float64
        )
        self.next_pad = _pad(
            [[pos[b] for b, _ in prog.next_jobs.get(j, [])] for j in self.job_list] + [[]], -1
        )
        self.default_next = np.array(
            [pos.get(prog.default_next(j) or "", -1) for j in self.job_list] + [-1], dtype=np.intp
        )
        preds: dict[str, list[str]] = {j: [] for j in cat.jobs}
        for a, moves in prog.next_jobs.items():
            for b in dict.fromkeys(b for b, _ in moves):
                preds.setdefault(b, []).append(a)
        self.preds_pad = _pad([[pos[a] for a in preds[j]] for j in self.job_list], -1)
        self.start_jobs = np.array(
            [pos[j] for j in self.job_list if prog.reachable_from(j, cfg.max_goal_hops)], dtype=np.intp
        )
        goals, cdfs = [], []
        for jp in self.start_jobs.tolist():
            job = jobs[jp]
            reach = sorted(prog.reachable_from(job.id, cfg.max_goal_hops))
            w = np.array([1.0 + max(cat.jobs[g].level - job.level, 0) for g in reach])
            cdf = np.cumsum(w / w.sum())
            cdf /= cdf[-1]
            goals.append([pos[g] for g in reach])
            cdfs.append(cdf.tolist())
        self.goal_pad = _pad(goals, -1)
        self.goal_cdf = _pad(cdfs, 2.0, dtype=np.float64)
        self.n_goals = np.array([len(g) for g in goals], dtype=np.intp)
        self._hops: dict[int, int] = {}
        self._slot_cache: dict[tuple, list[str]] = {}
        self._rank_cache: dict[tuple, list[int]] = {}  # keyed by the id of a cached names list
        self._job_key = {j: json.dumps(j, ensure_ascii=False) + ": " for j in [STAY, *self.job_list]}
        self._id_rank = {j: k for k, j in enumerate(sorted([STAY, *self.job_list]))}

    def hops(self, job: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """The next job on the way from ``job`` to ``goal`` (positions; -1: none)."""
        J = len(self.job_list) + 1
        keys = job.astype(np.int64) * J + goal
        uniq, inv = np.unique(keys, return_inverse=True)
        out = np.empty(uniq.size, dtype=np.intp)
        for k, key in enumerate(uniq.tolist()):
            hop = self._hops.get(key)
            if hop is None:
                a, b = divmod(key, J)
                found = (
                    None if b < 0 or b >= J - 1 else self.prog.next_hop(self.job_list[a], self.job_list[b])
                )
                hop = self._hops[key] = self.job_pos[found] if found is not None else -1
            out[k] = hop
        return out[inv.reshape(-1)]

    def batch_limit(self, budget_mb: float = 64.0) -> int:
        """Users per batch for which the largest per-step arrays stay within about ``budget_mb``
        (a batch's arrays grow with users x (skills + courses x skills per course)); a batch of
        any size gives the same users."""
        per_user = 8 * (self.n_skills + self.taught_skills.size + self.req_courses.size + self.teach_pad.size)
        return max(8, int(budget_mb * 2**20 // max(per_user, 1)))

    # -- users -------------------------------------------------------------------------------
    def users(self, start: int = 0, stop: int | None = None) -> Iterator[list[Event]]:
        """Trajectories of users ``start..stop``; user i depends only on (seed, i)."""
        stop = self.cfg.users if stop is None else stop
        size = min(BATCH_USERS, self.batch_limit())
        for lo in range(start, stop, size):
            yield from self.batch(np.arange(lo, min(stop, lo + size)))

    def user(self, i: int) -> list[Event]:
        """The trajectory of user ``i`` (depends only on the seed and ``i``)."""
        return self.batch(np.array([i]))[0]

    def batch(self, ids: np.ndarray) -> list[list[Event]]:
        """The trajectories of the users ``ids``, generated together."""
        ids = np.asarray(ids, dtype=np.int64)
        st = self._start(ids)
        return self._run(ids, st)

    def _start(self, ids: np.ndarray) -> dict:
        """Starting job, goal, history, skills and hidden type of every user (array rows)."""
        cfg, seed, n = self.cfg, self.cfg.seed, ids.size
        rows = np.arange(n)

        def u(purpose: int, step: int = START) -> np.ndarray:
            return uniforms(seed, ids, step, purpose)

        n_start = self.start_jobs.size
        if n_start == 0:
            raise ValueError(
                "the catalog has no job from which another job can be reached; nothing to simulate"
            )
        si = np.minimum((u(0) * n_start).astype(np.intp), n_start - 1)
        job = self.start_jobs[si]
        kind = np.zeros(n, dtype=np.int8)  # 0: full, 1: no goal, 2: job only
        if cfg.job_only_share or cfg.no_goal_share:
            uk = u(1)
            kind[uk < cfg.job_only_share + cfg.no_goal_share] = 1
            kind[uk < cfg.job_only_share] = 2
        gi = np.minimum((self.goal_cdf[si] <= u(2)[:, None]).sum(1), self.n_goals[si] - 1)
        goal = self.goal_pad[si, gi]
        goal = np.where(kind > 0, self.default_next[job], goal)
        S = self.n_skills
        held = np.zeros((n, S + 1), dtype=bool)
        held[:, S] = True
        own = self.job_sk[job]
        draws = np.stack([u(k, START_OWN) for k in range(own.shape[1])], axis=1)
        keep = (own < S) & ((draws < cfg.start_skill_prob) | (kind == 2)[:, None])
        held[np.nonzero(keep)[0], own[keep]] = True
        preds = self.preds_pad[job]
        ok = (preds >= 0) & (preds != goal[:, None])
        count = ok.sum(1)
        has_prev = (count > 0) & (u(3) < cfg.previous_job_prob) & (kind != 2)
        k = np.minimum((u(4) * count).astype(np.intp), np.maximum(count - 1, 0))
        prev = preds[rows, np.argmax(np.cumsum(ok, axis=1) > k[:, None], axis=1)]
        prev = np.where(has_prev, prev, len(self.job_list))  # the padding job: no skills
        theirs = self.job_sk[prev]
        draws = np.stack([u(k, START_PREV) for k in range(theirs.shape[1])], axis=1)
        keep = (theirs < S) & (draws < 0.6)
        held[np.nonzero(keep)[0], theirs[keep]] = True
        utype = np.minimum((self._type_cdf[None, :] <= u(5)[:, None]).sum(1), len(cfg.types) - 1)
        history = [
            [self.job_list[p], self.job_list[j]] if h else [self.job_list[j]]
            for p, j, h in zip(prev.tolist(), job.tolist(), has_prev.tolist())
        ]
        return {"job": job, "goal": goal, "kind": kind, "held": held, "utype": utype, "history": history}

    def _run(self, ids: np.ndarray, st: dict) -> list[list[Event]]:
        cfg, n, C = self.cfg, ids.size, self.n_courses
        job, goal, held, utype = st["job"].copy(), st["goal"].copy(), st["held"], st["utype"]
        stated = st["kind"] == 0
        start_job = job.copy()
        taken = np.zeros((n, C), dtype=bool)
        post = np.tile(self.priors, (n, 1))
        fam_row = self.job_family_row[start_job]
        history, courses = st["history"], [[] for _ in range(n)]
        events: list[list[Event]] = [[] for _ in range(n)]
        alive = np.ones(n, dtype=bool)
        names, skill_names, job_names = self.course_list, self.skill_list, self.job_list
        ab = cfg.abandon_prob
        for step in range(cfg.max_steps):
            a = np.flatnonzero(alive & (job != goal) & (goal >= 0))
            hop = self.hops(job[a], goal[a])
            a, hop = a[hop >= 0], hop[hop >= 0]
            h, tk = held[a], taken[a]
            elig = ~tk & h[:, self.prereq_pad].all(2) & ~h[:, self.teach_pad].all(2)
            n_el = elig.sum(1)
            keep = n_el > 0
            alive[:] = False
            if not keep.all():
                a, hop, h, tk, elig, n_el = a[keep], hop[keep], h[keep], tk[keep], elig[keep], n_el[keep]
            if a.size == 0:
                break
            alive[a] = True
            m = a.size
            g = goal[a]
            gain = self._gains(h, hop, g, cfg.hop_weight, cfg.goal_weight, 0.5)
            p_type, p_vis, col = self._course_probs(elig, n_el, gain, a, fam_row, utype, post, ids, step)
            pick = _draw(p_type, uniforms(cfg.seed, ids[a], step, 0))
            col = col(pick)
            abandoned = uniforms(cfg.seed, ids[a], step, 1) < ab
            # next-job distributions: now, after the course taken, and averaged over the course
            jobs = self._job_dists(job[a], hop, h)
            slots, dist_now = jobs["slots"], jobs["now"]
            dist = np.where(abandoned[:, None], dist_now, jobs["after"](pick))
            choice = _draw(dist, uniforms(cfg.seed, ids[a], step, 2))
            marg_type = (1 - ab) * jobs["mean"](p_type) + ab * dist_now
            marg_vis = (1 - ab) * jobs["mean"](p_vis) + ab * dist_now
            ctx = self._contexts(h, hop, g, elig, gain, jobs) if self.context_cfg else None
            slot_names = [self._slot_names(row) for row in map(tuple, slots.tolist())]
            rec_t, arg_t = self._recorded(p_type, elig, marg_type, slots, slot_names)
            rec_v, arg_v = self._recorded(p_vis, elig, marg_vis, slots, slot_names)
            oracle = _oracle_rows(arg_v, arg_t, pick, choice)
            dist_r = np.round(dist, 6).tolist()
            held_rows, held_cols = np.nonzero(h[:, :-1])
            bounds = np.searchsorted(held_rows, np.arange(m + 1)).tolist()
            held_cols = held_cols.tolist()
            ab_list, dist_pos = abandoned.tolist(), (dist > 0).tolist()
            taught = self.teach_pad[pick]  # what each course taken teaches and was not held
            new_skills = np.where(h[np.arange(m)[:, None], taught], -1, taught).tolist()
            new_skills = [[x for x in row if x >= 0] for row in new_skills]
            for k, (b, c, ch) in enumerate(zip(a.tolist(), pick.tolist(), choice.tolist())):
                hb = held_cols[bounds[k] : bounds[k + 1]]
                sn = slot_names[k]
                gained = [] if ab_list[k] else list(map(skill_names.__getitem__, new_skills[k]))
                jgc = {sn[j]: dist_r[k][j] for j in range(len(sn)) if j == 0 or dist_pos[k][j]}
                events[b].append(
                    Event(
                        user_id=f"u{int(ids[b]):07d}",
                        step=step,
                        goal=job_names[goal[b]],
                        job=job_names[job[b]],
                        history=list(history[b]),
                        skills=list(map(skill_names.__getitem__, hb)),
                        courses=list(courses[b]),
                        next_course=names[c],
                        skills_gained=gained,
                        next_job=sn[ch],
                        probs=rec_t[k],
                        probs_visible=rec_v[k],
                        user_type=cfg.types[utype[b]].name,
                        start_job=job_names[start_job[b]],
                        goal_stated=bool(stated[b]),
                        job_given_course=jgc,
                        context=ctx[k] if ctx is not None else None,
                        oracle=oracle[k],
                    )
                )
                if not ab_list[k]:
                    courses[b].append(names[c])
                if ch:
                    new = int(slots[k, ch - 1])
                    job[b] = new
                    history[b].append(job_names[new])
                    if not stated[b]:  # no goal: head where the new job most often leads
                        nxt = self.default_next[new]
                        goal[b] = nxt if nxt >= 0 else new
            # the Bayes update of the type posterior from the course choice the text will show: an
            # abandoned course is never listed in a later profile, so it teaches the visible
            # posterior (the oracle "from the text", probs_visible) nothing
            upd = np.where(abandoned[:, None], post[a], post[a] * col)
            post[a] = upd / upd.sum(1, keepdims=True)
            learn = a[~abandoned]
            taken[learn, pick[~abandoned]] = True
            rows = np.repeat(learn, self.teach_pad.shape[1])
            held[rows, self.teach_pad[pick[~abandoned]].ravel()] = True
        return events

    def _course_probs(self, elig, n_el, gain, a, fam_row, utype, post, ids, step):
        """P(next course) of every row: for the user's own type, and mixed over the type posterior
        (what the visible history tells); and a function giving P(the picked course) per type.

        Per type a softmax over the useful courses (positive gain), plus detours spread evenly over
        all eligible courses; computed on the (row, useful course) pairs only."""
        cfg, m, K = self.cfg, a.size, len(self.cfg.types)
        ur, uc = np.nonzero(elig & (gain > 0))
        other = cfg.detour_prob / n_el
        p_type = np.where(elig, other[:, None], 0.0)
        p_vis = p_type * post[a].sum(1, keepdims=True)
        soft = np.zeros((0, K))
        if ur.size:
            z = cfg.gain_weight * gain[ur, uc][:, None] + self.pref[:, uc].T
            if self._has_bonus:
                z = z + self.bonus[fam_row[a][ur], uc][:, None]
            z = z / cfg.temperature
            starts = np.searchsorted(ur, np.arange(m))
            has = np.zeros(m, dtype=bool)
            has[ur] = True
            top = np.zeros((m, K))
            top[has] = np.maximum.reduceat(z, starts[has], axis=0)
            e = np.exp(z - top[ur])
            total = np.stack([np.bincount(ur, e[:, k], minlength=m) for k in range(K)], axis=1)
            soft = (1.0 - cfg.detour_prob) * e / total[ur]
            p_type[ur, uc] += soft[np.arange(ur.size), utype[a][ur]]
            mix = soft[:, 0] * post[a][ur, 0]
            for k in range(1, K):
                mix = mix + soft[:, k] * post[a][ur, k]
            p_vis[ur, uc] += mix
        none = ~np.isin(np.arange(m), ur)
        if none.any():  # nothing useful: every eligible course alike
            p_type[none] = p_vis[none] = elig[none] / n_el[none, None]
        p_type = p_type / p_type.sum(1, keepdims=True)
        p_vis = p_vis / p_vis.sum(1, keepdims=True)
        keys = ur * self.n_courses + uc

        def column(pick: np.ndarray) -> np.ndarray:
            """P(picked course) per type (unnormalised as the rows are)."""
            out = np.where(none, 1.0 / n_el, other)[:, None] * np.ones((1, K))
            want = np.arange(m) * self.n_courses + pick
            at = np.minimum(np.searchsorted(keys, want), max(keys.size - 1, 0))
            hit = (keys.size > 0) & (keys[at] == want) if keys.size else np.zeros(m, dtype=bool)
            out[hit] += soft[at[hit]]
            return out

        return p_type, p_vis, column

    def _slot_ranks(self, names: list[str], width: int) -> list[int]:
        """The rank of each slot's id among all ids (the oracle's ties: the smallest id), padded."""
        key = (id(names), width)
        out = self._rank_cache.get(key)
        if out is None:
            out = self._rank_cache[key] = [self._id_rank[x] for x in names] + [0] * (width - len(names))
        return out

    def _slot_names(self, row: tuple) -> list[str]:
        names = self._slot_cache.get(row)
        if names is None:
            names = self._slot_cache[row] = [STAY, *(self.job_list[x] for x in row if x >= 0)]
        return names

    def _gains(self, h: np.ndarray, hop: np.ndarray, goal: np.ndarray, hw: float, gw: float, pw: float):
        """Per user and course: the sum of the values of the skills it teaches. A skill's value is
        its importance-weighted gap (``hw`` x the next hop's weight + ``gw`` x the goal's) when
        missing, else ``pw`` x the best such value of a course it is a prerequisite of; 0 when
        held. Summed in each course's skill order (as :class:`GapRetriever` sums)."""
        m, S = h.shape[0], self.n_skills
        r = np.arange(m)[:, None]
        want = np.zeros((m, S + 1))
        want[r, self.job_sk[hop]] = hw * self.job_w[hop]
        want[r, self.job_sk[goal]] += gw * self.job_w[goal]
        want[:, S] = 0.0
        want[h] = 0.0
        course_want = np.zeros((m, self.n_courses))
        if self.teaching.size:
            best = np.maximum.reduceat(want[:, self.taught_skills], self.taught_starts, axis=1)
            course_want[:, self.teaching] = np.maximum(best, 0.0)
        prereq_value = np.zeros((m, S + 1))
        if self.req_skills.size:
            best = np.maximum.reduceat(course_want[:, self.req_courses], self.req_starts, axis=1)
            prereq_value[:, self.req_skills] = pw * best
        value = np.where(want > 0, want, prereq_value)
        value[h] = 0.0
        tp = self.teach_pad
        gain = value[:, tp[:, 0]]
        for t in range(1, tp.shape[1]):
            gain = gain + value[:, tp[:, t]]
        return gain

    def _job_dists(self, job, hop, h) -> dict:
        """The next jobs a move can go to (slots: the hop, then the job's other next jobs) and the
        distribution over [stay, *slots]: now, after a given course, and averaged over courses.

        Only the (row, course) pairs after which another next job comes within reach are looked
        at; every other course leaves the distribution as it is now."""
        cfg, m, S = self.cfg, job.size, self.n_skills
        nxt = self.next_pad[job]
        rank = np.where(nxt == hop[:, None], 0, np.where(nxt >= 0, 1, 2))
        order = np.argsort(rank, axis=1, kind="stable")
        slots = np.take_along_axis(nxt, order, axis=1)
        slots[:, 0] = hop
        # graph laterals: 1 / (rank among the job's next jobs + 1) for the slots after the hop
        lat_w = None
        if cfg.lateral_moves == "graph":
            lat_w = np.where(
                (slots[:, 1:] >= 0) & (slots[:, 1:] != hop[:, None]), 1.0 / (order[:, 1:] + 1.0), 0.0
            )
        N = slots.shape[1]
        sj = np.where(slots >= 0, slots, len(self.job_list))
        sk, sw = self.job_sk[sj], self.job_w[sj]  # (m, N, L)
        held_w = np.where(h[np.arange(m)[:, None, None], sk], sw, 0.0)
        cov_sum = held_w[:, :, 0]
        for k in range(1, sk.shape[2]):
            cov_sum = cov_sum + held_w[:, :, k]  # in the job's skill order, as coverage() sums
        total = self.job_total[sj]
        pos_total = np.where(total > 0, total, 1.0)
        cov0 = np.where(total > 0, cov_sum / pos_total, 1.0)
        # the weight of each slot's missing skills a course teaches: a sparse product giving the
        # (row and slot, course) pairs where it is not zero
        lack = (sw - held_w).reshape(m * N, -1)
        lr, lc = np.nonzero(lack > 0)
        missing = sparse.csr_matrix((lack[lr, lc], (lr, sk.reshape(m * N, -1)[lr, lc])), shape=(m * N, S + 1))
        prod = (missing @ self.teach_t).tocoo()
        rb, rk = np.divmod(prod.row.astype(np.intp), N)
        rc, radd = prod.col.astype(np.intp), prod.data
        first = rk == 0
        add0 = np.zeros((m, self.n_courses))
        add0[rb[first], rc[first]] = radd[first]
        thr = cfg.move_threshold
        valid = slots >= 0
        ready0 = (cov0 >= thr) & valid
        sel = (radd > 0) & (valid & ~ready0)[rb, rk]
        rb, rk, rc, radd = rb[sel], rk[sel], rc[sel], radd[sel]
        cov = (cov_sum[rb, rk] + radd) / pos_total[rb, rk]
        up = cov >= thr
        for i in np.flatnonzero(np.abs(cov - thr) < _NEAR).tolist():  # decide with the exact sum
            up[i] = self._cover_after(h[rb[i]], int(sj[rb[i], rk[i]]), int(rc[i])) >= thr
        rb, rk, rc = rb[up], rk[up], rc[up]
        mp = self.move_p[job]
        dist_now = _pattern_dist(ready0[:, :, None], mp, cfg.lateral_prob, lat_w)[:, :, 0]
        # the (row, course) pairs that change the distribution, by row then course
        key = np.unique(rb * self.n_courses + rc)
        cb, cc = np.divmod(key, self.n_courses)
        ready_c = ready0[cb].copy()
        ready_c[np.searchsorted(key, rb * self.n_courses + rc), rk] = True
        dist_c = _pattern_dist(
            ready_c[:, :, None], mp[cb], cfg.lateral_prob, lat_w[cb] if lat_w is not None else None
        )[:, :, 0]

        def after(pick: np.ndarray) -> np.ndarray:
            want = np.arange(m) * self.n_courses + pick
            at = np.minimum(np.searchsorted(key, want), max(key.size - 1, 0))
            hit = (key[at] == want) if key.size else np.zeros(m, dtype=bool)
            return np.where(hit[:, None], dist_c[at] if key.size else dist_now, dist_now)

        def mean(p: np.ndarray) -> np.ndarray:
            mass = p[cb, cc]
            moved = np.bincount(cb, mass, minlength=m)
            extra = np.stack(
                [np.bincount(cb, mass * dist_c[:, j], minlength=m) for j in range(N + 1)], axis=1
            )
            return dist_now * (1.0 - moved)[:, None] + extra

        return {
            "slots": slots,
            "now": dist_now,
            "after": after,
            "mean": mean,
            "cov0": cov0[:, 0],
            "cov_sum0": cov_sum[:, 0],
            "add0": add0,
            "total0": pos_total[:, 0],
            "hop_job": sj[:, 0],
        }

    def _cover_after(self, held_row: np.ndarray, j: int, course: int) -> float:
        """``coverage`` of job ``j`` by the skills held and those ``course`` teaches."""
        job = self.catalog.jobs[self.job_list[j]]
        have = {self.skill_list[s] for s in np.flatnonzero(held_row[:-1]).tolist()}
        have |= set(self.catalog.courses[self.course_list[course]].skills)
        return coverage(have, job)

    def _recorded(
        self, p: np.ndarray, elig: np.ndarray, marg: np.ndarray, slots: np.ndarray, slot_names
    ) -> list[dict]:
        """The rounded probabilities written per row: the courses at or above PROB_FLOOR, the mass
        of the rest, and the next jobs at or above 1e-5 (each also as the JSON the row writes)."""
        keep = elig & (p >= PROB_FLOOR)
        # round(x, 5) as numpy does it: the integer k nearest x * 1e5, then k / 1e5
        other = np.rint(np.where(elig & ~keep, p, 0.0).sum(1) * 1e5).astype(np.int64)
        rows, cols = np.nonzero(keep)
        kv = np.rint(p[rows, cols] * 1e5).astype(np.int64)
        mk = np.rint(marg * 1e5).astype(np.int64)
        text = _repr5_table(np.concatenate([kv, other, mk.ravel()]))
        bounds = np.searchsorted(rows, np.arange(p.shape[0] + 1)).tolist()
        names, keys, job_key = self.course_list, self._course_key, self._job_key
        cols_arr, mk_arr = cols, mk
        ok_arr = (marg >= 1e-5) & np.concatenate([np.ones((len(slots), 1), bool), slots >= 0], axis=1)
        cols, ks, vals = cols.tolist(), kv.tolist(), (kv / 100000.0).tolist()
        ok = ok_arr.tolist()
        mk, mv, other = mk.tolist(), (mk / 100000.0).tolist(), other.tolist()
        width = ok_arr.shape[1]
        slot_ranks = np.array([self._slot_ranks(sn, width) for sn in slot_names])
        # every (row, course) pair of the batch at once, then a slice per row
        pair_names = list(map(names.__getitem__, cols))
        pair_js = list(map(str.__add__, map(keys.__getitem__, cols), map(text.__getitem__, ks)))
        out = []
        for k in range(p.shape[0]):
            lo, hi = bounds[k], bounds[k + 1]
            course = dict(zip(pair_names[lo:hi], vals[lo:hi]))
            course_js = ", ".join(pair_js[lo:hi])
            sn = slot_names[k]
            job, job_js = {}, []
            for j, good in enumerate(ok[k]):
                if good:
                    job[sn[j]] = mv[k][j]
                    job_js.append(job_key[sn[j]] + text[mk[k][j]])
            probs = _Probs(course=course, course_other=other[k] / 100000.0, job=job)
            probs.json = f'{{"course": {{{course_js}}}, "course_other": {text[other[k]]}, "job": {{{", ".join(job_js)}}}}}'
            out.append(probs)
        return out, self._argmax_rows(rows, cols_arr, kv, mk_arr, ok_arr, slot_ranks, p.shape[0])

    def _argmax_rows(self, rows, cols, kv, mk, ok, slot_ranks, m):
        """Per row, what :func:`oracle_values` reads off the recorded probabilities: the most
        likely course (ties: the smallest id) and its rounded probability, the same for the next
        job (a slot). A row with no course recorded gets course -1."""
        C = self.n_courses + 1
        best_c, max_c = np.full(m, -1), np.zeros(m, dtype=np.int64)
        if rows.size:
            score = kv * C + (C - 1 - self._course_rank[cols])
            starts = np.searchsorted(rows, np.arange(m))
            has = np.zeros(m, dtype=bool)
            has[rows] = True
            top = np.maximum.reduceat(score, starts[has])
            max_c[has] = top // C
            best_c[has] = self._rank_course[C - 1 - top % C]
        R = slot_ranks.max() + 2
        jscore = np.where(ok, mk * R + (R - 1 - slot_ranks), -1)
        best_j = jscore.argmax(1)
        return best_c, max_c, best_j, mk[np.arange(m), best_j]

    def _contexts(self, h, hop, goal, elig, gain, jobs: dict) -> list[Context]:
        """:meth:`GapRetriever.context` of every row (the same values: the same sums, the same
        rounding, the same order), for the batch at once."""
        cfg, cc = self.cfg, self.context_cfg
        if not (cfg.hop_weight == 1.0 and cfg.goal_weight == cc.goal_weight and cc.prereq_weight == 0.5):
            gain = self._gains(h, hop, goal, 1.0, cc.goal_weight, cc.prereq_weight)
        score = np.where(elig & (gain > 0), gain, -np.inf)
        score[np.isfinite(score)] = _round9(score[np.isfinite(score)])
        width = min(cc.max_best + cc.options, score.shape[1])
        # the best ``width`` courses, best first, ties in catalog order (a stable sort): sorted
        # among the best ``width`` found by a partition, unless ties cross its edge
        if width < score.shape[1]:
            part = np.argpartition(-score, width - 1, axis=1)[:, :width]
            sp = np.take_along_axis(score, part, axis=1)
            order = np.take_along_axis(part, np.lexsort((part, -sp), axis=1), axis=1)
            cut = sp.min(1)
            bad = np.isfinite(cut) & ((score >= cut[:, None]).sum(1) > width)
            if bad.any():
                order[bad] = np.argsort(-score[bad], axis=1, kind="stable")[:, :width]
        else:
            order = np.argsort(-score, axis=1, kind="stable")
        top = np.take_along_axis(score, order, axis=1)
        finite = np.isfinite(top)
        n_best = np.minimum(((top == top[:, :1]) & finite).sum(1), cc.max_best)
        thr = cc.move_threshold - 1e-9
        cov0, cov_sum, add, total = jobs["cov0"], jobs["cov_sum0"], jobs["add0"], jobs["total0"]
        add = np.take_along_axis(add, order, axis=1)
        cov = np.where(add > 0, (cov_sum[:, None] + add) / total[:, None], cov0[:, None])
        ready_sel = ((_round9(cov) >= thr) | (_round9(cov0) >= thr)[:, None]).tolist()
        near = (np.abs(cov - thr) < _NEAR) | (np.abs(cov0 - thr) < _NEAR)[:, None]
        near_rows, near_sel = set(np.flatnonzero(near.any(1)).tolist()), near.tolist()
        out, get = [], self.course_list.__getitem__
        # the finite scores come first in ``order``: the ids are a prefix of each row
        take = np.minimum(finite.sum(1), n_best + cc.options).tolist()
        n_best, order, hops = n_best.tolist(), order.tolist(), hop.tolist()
        for k in range(len(hops)):
            nb, ids = n_best[k], order[k][: take[k]]
            if k in near_rows:
                ready = []
                for i, c in enumerate(ids):
                    rd = ready_sel[k][i]
                    if near_sel[k][i]:  # at the threshold: the exact sum
                        rd = round(self._cover_after(h[k], int(jobs["hop_job"][k]), c), 9) >= thr
                    if rd:
                        ready.append(c)
            else:
                ready = [c for c, rd in zip(ids, ready_sel[k]) if rd]
            out.append(
                Context(
                    self.job_list[hops[k]],
                    list(map(get, ids[:nb])),
                    list(map(get, ids[nb:])),
                    list(map(get, ready)),
                )
            )
        return out


BATCH_USERS = 256  # users generated together (the output does not depend on it)
_CACHE_MAX = 200_000  # strings cached by the row writer; cleared when full
_JSON = json.JSONEncoder(ensure_ascii=False).encode
START, START_OWN, START_PREV = 1 << 20, (1 << 20) + 1, (1 << 20) + 2  # step codes of the start draws
_NEAR = 1e-7  # sums this close to a threshold are decided by the exact sum
_M64 = (1 << 64) - 1


class _Probs(dict):
    """A row's recorded probabilities with the JSON the row writes for them (``json``), made
    with them (the row writer checks it is there; change the dict and drop it)."""

    __slots__ = ("json",)


_REPR5: list[str] = []


def _repr5_table(ks: np.ndarray) -> list[str] | dict[int, str]:
    """``repr(k / 1e5)`` indexed by k for every k of ``ks`` (the probabilities written are rounded
    to 5 decimals): a table of 0..100000, made once."""
    if not _REPR5:
        _REPR5.extend(repr(k / 100000.0) for k in range(100001))
    if ks.size and (ks.min() < 0 or ks.max() > 100000):  # not a probability: a table of its own
        return {k: repr(k / 100000.0) for k in np.unique(ks).tolist()}
    return _REPR5


def _mix64_int(z: int) -> int:
    """splitmix64's finaliser on a Python int."""
    z &= _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (wrapping arithmetic)."""
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uniforms(seed: int, users: np.ndarray, step: int, purpose: int) -> np.ndarray:
    """Counter-based uniform numbers in [0, 1): one per user, a hash of (seed, user, step,
    purpose), so a user's numbers do not depend on which other users are generated with it."""
    key = _mix64_int(_mix64_int(int(seed) * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) ^ (step << 12 | purpose))
    z = np.asarray(users, dtype=np.int64).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(key)
    z = _mix64(_mix64(z) ^ np.uint64(_mix64_int(key + 1)))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _oracle_rows(visible, traits, pick: np.ndarray, choice: np.ndarray) -> list[tuple]:
    """:func:`oracle_values` of every row, from the argmaxes of its recorded probabilities."""
    cols = []
    for best_c, max_c, best_j, max_j in (visible, traits):
        job_hit = (best_j == choice).astype(float)
        cols.append([(best_c == pick).astype(float), max_c / 100000.0, job_hit, max_j / 100000.0, job_hit])
    moves = (choice > 0).tolist()
    flat = np.stack([c for group in cols for c in group], axis=1).tolist()
    return [(m, row if m else row[:4] + row[5:9], False) for m, row in zip(moves, flat)]


def _draw(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Per row, the index drawn from the (unnormalised) distribution ``p`` by the uniform ``u``:
    the first index whose cumulative share exceeds ``u`` (never one of probability 0)."""
    cdf = np.cumsum(p, axis=1)
    pick = (cdf <= (u * cdf[:, -1])[:, None]).sum(1)
    last = p.shape[1] - 1 - np.argmax(p[:, ::-1] > 0, axis=1)
    return np.minimum(pick, last)


def _pattern_dist(
    ready: np.ndarray, move_p: np.ndarray, lateral_prob: float, lat_w: np.ndarray | None = None
) -> np.ndarray:
    """[stay, hop, *laterals] from which next jobs are within reach (``ready``: (m, N, X), slot
    0 the hop): the hop with ``move_p``, then ``lateral_prob`` of staying shared evenly by the
    laterals within reach; with ``lat_w`` ((m, N - 1) weights, 0 for no job: graph laterals) shared
    by every lateral in proportion to its weight, ready or not. Returns (m, 1 + N, X)."""
    hop = np.where(ready[:, 0], move_p[:, None], 0.0)
    stay = 1.0 - hop
    share = lateral_prob * stay
    if lat_w is None:
        lat = ready[:, 1:]
        n_lat = lat.sum(1)
        each = np.where(lat, (share / np.maximum(n_lat, 1))[:, None], 0.0)
    else:
        total = lat_w.sum(1)
        n_lat = np.broadcast_to((total > 0)[:, None], stay.shape)
        each = share[:, None] * (lat_w / np.maximum(total, 1e-300)[:, None])[:, :, None]
    stay = np.where(n_lat > 0, stay - share, stay)
    return np.concatenate([stay[:, None], hop[:, None], each], axis=1)


def _round9(x: np.ndarray) -> np.ndarray:
    """``round(x, 9)`` element by element (Python's rounding: numpy's differs within an ulp of
    a half, where Python's is used)."""
    y = x * 1e9
    out = np.rint(y) / 1e9
    frac = np.abs(y - np.floor(y) - 0.5)
    risky = np.isfinite(y) & (frac < 1e-4)
    if risky.any():
        out[risky] = [round(v, 9) for v in x[risky].tolist()]
    return out


def _pad(rows: list[list], fill, dtype=np.intp) -> np.ndarray:
    """Ragged rows as one array, padded with ``fill`` (at least one column)."""
    width = max([1, *map(len, rows)])
    out = np.full((len(rows), width), fill, dtype=dtype)
    for k, row in enumerate(rows):
        out[k, : len(row)] = row
    return out


def _family_provider_bonus(catalog: Catalog, bonus: float) -> dict[str, np.ndarray]:
    """The provider variant: per job family, ``bonus`` on the courses of its provider (families
    and providers in name order, the n-th family takes the n-th provider, cycling); {} when off."""
    if not bonus:
        return {}
    providers = sorted({c.provider for c in catalog.courses.values()})
    families = sorted({j.family for j in catalog.jobs.values()})
    own = [c.provider for c in catalog.courses.values()]
    out = {}
    for n, fam in enumerate(families):
        mine = providers[n % len(providers)]
        out[fam] = np.array([bonus if p == mine else 0.0 for p in own])
    return out


def event_to_texts(ev: Event, catalog: Catalog, context: GapRetriever | None = None) -> tuple[Profile, Step]:
    """The structured event as the text format's input and target (with the catalog context of
    ``context``, when given: see ``data_prep/context.py``)."""
    cat = catalog
    profile = Profile(
        goal=cat.jobs[ev.goal].title if ev.goal_stated else "",
        job=cat.jobs[ev.job].title,
        history=[cat.jobs[j].title for j in ev.history],
        skills=cat.skill_names(ev.skills),
        courses=[cat.courses[c].title for c in ev.courses],
    )
    if context is not None:
        add_context(profile, _context_of(ev, context), cat)
    step = Step(
        next_course=cat.courses[ev.next_course].title,
        skills_gained=cat.skill_names(ev.skills_gained),
        next_job=STAY if ev.next_job == STAY else cat.jobs[ev.next_job].title,
    )
    return profile, step


def event_to_row(ev: Event, catalog: Catalog, context: GapRetriever | None = None) -> dict:
    """One dataset row: texts, the structured fields behind them and the generator's probabilities
    (and the catalog context's ids, with ``context``)."""
    cat = catalog
    profile, step = event_to_texts(ev, cat)
    ctx = _context_of(ev, context) if context is not None else None
    if ctx is not None:
        add_context(profile, ctx, cat)
    start, current = cat.jobs[ev.start_job], cat.jobs[ev.job]
    row = {
        "user_id": ev.user_id,
        "step": ev.step,
        "input_text": serialise_input(profile),
        "target_text": serialise_target(step),
        "goal": profile.goal,
        "job": profile.job,
        "history": profile.history,
        "skills": profile.skills,
        "courses": profile.courses,
        "next_course": step.next_course,
        "skills_gained": step.skills_gained,
        "next_job": step.next_job,
        "goal_id": _goal_id(ev),
        "job_id": ev.job,
        "history_ids": ev.history,
        "skill_ids": ev.skills,
        "course_ids": ev.courses,
        "next_course_id": ev.next_course,
        "skills_gained_ids": ev.skills_gained,
        "next_job_id": ev.next_job,
        "start_family": start.family,
        "start_level": start.level,
        "job_family": current.family,
        "job_level": current.level,
        "user_type": ev.user_type,
        "probs": ev.probs,
        "probs_visible": ev.probs_visible,
        "job_given_course": ev.job_given_course,
    }
    if ctx is not None:
        row["next_step_id"], row["best_ids"], row["option_ids"] = ctx.next_step, ctx.best, ctx.options
        row["ready_ids"] = ctx.ready_after
    return row


def _context_of(ev: Event, context: GapRetriever) -> Context:
    """The event's catalog context: the generator's, else the retriever's."""
    if ev.context is not None:
        return ev.context
    return context.context(ev.job, _goal_id(ev), ev.skills, ev.courses)


def _goal_id(ev: Event) -> str:
    """The goal as the row states it: "" for a person who stated none."""
    return ev.goal if ev.goal_stated else ""


def argmax_key(dist: dict[str, float]) -> str:
    """Most likely key; ties broken by key so the oracle is deterministic."""
    return min(dist.items(), key=lambda kv: (-kv[1], kv[0]))[0] if dist else ""


def entropy(dist: dict[str, float]) -> float:
    return -sum(p * math.log(p) for p in dist.values() if p > 0)


class RowWriter:
    """``json.dumps(event_to_row(ev, catalog), ensure_ascii=False)``, faster: the JSON and text
    format fragments of every catalog name are made once and joined per row.

    JSON escapes character by character, so the JSON of a text is the join of the JSON of its
    parts. Names the text format would reject (and anything unexpected) go through
    :func:`event_to_row`, which raises the same error as before.
    """

    def __init__(self, catalog: Catalog, context: GapRetriever | None = None):
        self.catalog, self.context = catalog, context

        def js(value) -> str:
            return json.dumps(value, ensure_ascii=False)

        def text(value: str) -> str | None:  # the text-format value, JSON-escaped, without quotes
            try:
                return js(_escape(check_value(value, "name")))[1:-1]
            except Exception:
                return None

        self._skill = {i: (js(s.name), js(i), text(s.name)) for i, s in catalog.skills.items()}
        self._course = {i: (js(c.title), js(i), text(c.title)) for i, c in catalog.courses.items()}
        self._job = {
            i: (js(j.title), js(i), text(j.title), js(j.family), js(j.level)) for i, j in catalog.jobs.items()
        }
        self._stay = (js(STAY), text(STAY))
        self._str: dict[str, str] = {}
        self._key = {i: f"{js(i)}: " for i in [*catalog.courses, *catalog.jobs, STAY]}
        # one dict per fragment (name JSON, id JSON, text) for the joins of a row's lists
        self._fragments = {
            kind: tuple({i: v[k] for i, v in table.items()} for k in range(3))
            for kind, table in (("skill", self._skill), ("course", self._course), ("job", self._job))
        }
        # ids whose names the text format rejects: their rows take the plain path
        self._bad = {
            i for table in (self._skill, self._course, self._job) for i, v in table.items() if not v[2]
        }

    def _js(self, value: str) -> str:
        out = self._str.get(value)
        if out is None:
            if len(self._str) > _CACHE_MAX:
                self._str.clear()
            out = self._str[value] = json.dumps(value, ensure_ascii=False)
        return out

    def line(self, ev: Event) -> str:
        """One JSONL line (with its newline) for the event."""
        try:
            return self._line(ev)
        except (KeyError, TypeError):
            return json.dumps(event_to_row(ev, self.catalog, self.context), ensure_ascii=False) + "\n"

    def _line(self, ev: Event) -> str:
        sk_n, sk_i, sk_t = self._fragments["skill"]
        co_n, co_i, co_t = self._fragments["course"]
        jo_n, jo_i, jo_t = self._fragments["job"]
        ctx = _context_of(ev, self.context) if self.context is not None else None
        if self._bad:
            ids = {ev.goal, ev.job, ev.next_course, ev.next_job, *ev.history, *ev.skills, *ev.courses}
            ids |= set(ev.skills_gained)
            if ctx is not None:
                ids |= {ctx.next_step, *ctx.best, *ctx.options, *ctx.ready_after}
            if ids & self._bad:
                raise KeyError("not a plain name")
        hist, skills, courses, gained = ev.history, ev.skills, ev.courses, ev.skills_gained
        J = self._job
        job, start = J[ev.job], J[ev.start_job]
        # a person who states no goal: an empty goal in the text and the row
        goal = J[ev.goal] if ev.goal_stated else ('""', '""', "")
        nc = self._course[ev.next_course]
        stay = ev.next_job == STAY
        nj = self._stay if stay else J[ev.next_job][::2]
        # the text format: "name: value" ("name:" when empty), " | " between fields
        input_text = (
            (f"goal: {goal[2]} | job: {job[2]} | " if goal[2] else f"goal: | job: {job[2]} | ")
            + (f"history: {' > '.join([jo_t[x] for x in hist])}" if hist else "history:")
            + (f" | skills: {', '.join([sk_t[x] for x in skills])}" if skills else " | skills:")
            + (f" | courses: {'; '.join([co_t[x] for x in courses])}" if courses else " | courses:")
        )
        ctx_json = ""
        if ctx is not None:
            step, best, options, ready = ctx.next_step, ctx.best, ctx.options, ctx.ready_after
            input_text += (
                (f" | next_step: {jo_t[step]}" if step else " | next_step:")
                + (f" | best: {'; '.join([co_t[x] for x in best])}" if best else " | best:")
                + (f" | options: {'; '.join([co_t[x] for x in options])}" if options else " | options:")
                + (f" | ready_after: {'; '.join([co_t[x] for x in ready])}" if ready else " | ready_after:")
            )
            ctx_json = (
                f', "next_step_id": {jo_i[step] if step else chr(34) * 2}, '
                f'"best_ids": [{", ".join([co_i[x] for x in best])}], '
                f'"option_ids": [{", ".join([co_i[x] for x in options])}], '
                f'"ready_ids": [{", ".join([co_i[x] for x in ready])}]'
            )
        target_text = (
            f"next_course: {nc[2]} | "
            + (f"skills_gained: {', '.join([sk_t[x] for x in gained])}" if gained else "skills_gained:")
            + f" | next_job: {nj[1]}"
        )
        js = self._js
        return (
            f'{{"user_id": {json.dumps(ev.user_id, ensure_ascii=False)}, "step": {int(ev.step)}, '
            f'"input_text": "{input_text}", "target_text": "{target_text}", '
            f'"goal": {goal[0]}, "job": {job[0]}, "history": [{", ".join([jo_n[x] for x in hist])}], '
            f'"skills": [{", ".join([sk_n[x] for x in skills])}], '
            f'"courses": [{", ".join([co_n[x] for x in courses])}], '
            f'"next_course": {nc[0]}, "skills_gained": [{", ".join([sk_n[x] for x in gained])}], '
            f'"next_job": {nj[0] if stay else J[ev.next_job][0]}, '
            f'"goal_id": {goal[1]}, "job_id": {job[1]}, "history_ids": [{", ".join([jo_i[x] for x in hist])}], '
            f'"skill_ids": [{", ".join([sk_i[x] for x in skills])}], '
            f'"course_ids": [{", ".join([co_i[x] for x in courses])}], '
            f'"next_course_id": {nc[1]}, "skills_gained_ids": [{", ".join([sk_i[x] for x in gained])}], '
            f'"next_job_id": {js(ev.next_job)}, "start_family": {start[3]}, "start_level": {start[4]}, '
            f'"job_family": {job[3]}, "job_level": {job[4]}, "user_type": {js(ev.user_type)}, '
            f'"probs": {self._probs(ev.probs)}, "probs_visible": {self._probs(ev.probs_visible)}, '
            f'"job_given_course": {_JSON(ev.job_given_course)}'
            f"{ctx_json}}}\n"
        )

    def _probs(self, probs: dict) -> str:
        js = getattr(probs, "json", None)  # made by the generator with the numbers
        return js if js is not None else _JSON(probs)  # what json.dumps writes (its C encoder)


def oracle_values(ev: Event) -> tuple[bool, list[float], bool]:
    """What the oracle ceiling adds for one row (:func:`oracle_values_of_probs`; the generator's
    own when it made them)."""
    own = getattr(ev, "oracle", None)  # events of other generators have none
    return own if own is not None else oracle_values_of_probs(ev)


def oracle_values_of_probs(ev: Event) -> tuple[bool, list[float], bool]:
    """What the oracle ceiling adds for one row, in its order: for ``probs_visible`` then
    ``probs``: next-course hit and expected accuracy, next-job hit and expected accuracy, and
    (moves only) next-job hit. Also whether a job expectation was a numpy float (the original
    sum then became one and was rounded as one)."""
    is_move = ev.next_job != STAY
    out: list[float] = []
    numpy_job = False
    for probs in (ev.probs_visible, ev.probs):
        course, job = probs["course"], probs["job"]
        out.append(float(_argmax(course) == ev.next_course))
        out.append(max(course.values()))
        best = _argmax(job)
        out.append(float(best == ev.next_job))
        top = max(job.values())
        numpy_job |= type(top) is not float
        out.append(float(top))
        if is_move:
            out.append(float(best == ev.next_job))
    return is_move, out, numpy_job


def _argmax(dist: dict[str, float]) -> str:
    """:func:`argmax_key`: the most likely key, ties broken by key."""
    if not dist:
        return ""
    top = max(dist.values())
    best = [k for k, v in dist.items() if v == top]
    return best[0] if len(best) == 1 else min(best)
