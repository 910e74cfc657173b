"""The generator's tables, built once per catalog (:class:`SynthesisTables`, a part of
:class:`~careerpath.data.synthesis.Synthesiser`): what each course teaches and requires as arrays and
sparse matrices, the type preferences per course, the jobs' weighted skills, next jobs, start jobs
and goals, and the cached next hop on the way to a goal."""

from __future__ import annotations

import json

import numpy as np
from scipy import sparse

from careerpath.core.catalog import Catalog
from careerpath.core.textformat import STAY
from careerpath.data.synthesis_numeric import _pad


class SynthesisTables:
    """The per-catalog tables of :class:`~careerpath.data.synthesis.Synthesiser` (which sets
    ``catalog``, ``prog``, ``cfg``, the id lists and orders before calling the builders)."""

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
        # courses x skills, 0/1 in float32, for the eligibility counts (:meth:`Synthesiser._active`):
        # per course and user the number of skills it teaches, and of its prerequisites, not held
        self.teach_count = teach[:, :S].astype(np.float32).tocsr()
        rows = [i for i, c in enumerate(courses) for _ in dict.fromkeys(c.prerequisites)]
        cols = [order[s] for c in courses for s in dict.fromkeys(c.prerequisites)]
        self.prereq_count = sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(C, S)
        )
        required_by: list[list[int]] = [[] for _ in range(S + 1)]
        for i, c in enumerate(courses):
            for s in dict.fromkeys(c.prerequisites):
                required_by[order[s]].append(i)
        # the skills some course requires and, per such skill, the courses requiring it (padded
        # with C, a row of zeros appended to the course values), for the best course it serves
        self.req_skills = np.array([s for s in range(S) if required_by[s]], dtype=np.intp)
        self.req_pad = _pad([required_by[s] for s in self.req_skills.tolist()], C)
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
        self._job_key = {j: json.dumps(j, ensure_ascii=False) + ": " for j in [STAY, *self.job_list]}
        self._id_rank = {j: k for k, j in enumerate(sorted([STAY, *self.job_list]))}
        # each job's rank among all ids (the oracle's ties: the smallest id), then 0 for slot -1
        self._job_rank = np.array([self._id_rank[j] for j in self.job_list] + [0], dtype=np.int64)

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
        per_user = 8 * (self.n_skills + 2 * self.teach_pad.size + self.req_pad.size)
        return max(8, int(budget_mb * 2**20 // max(per_user, 1)))


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
