"""One step's probabilities for a batch (:class:`StepModel`, a part of
:class:`~careerpath.data.synthesis.Synthesiser`): the value of each course (the importance-weighted gap
its skills close), P(next course) per hidden type and mixed over the type posterior, and the
next-job distribution now, after a given course and averaged over the courses."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from careerpath.core.progression import coverage
from careerpath.data.synthesis_numeric import _NEAR


class StepModel:
    """The per-step probability computations of :class:`~careerpath.data.synthesis.Synthesiser`
    (reads the tables of :class:`~careerpath.data.synthesis_tables.SynthesisTables`)."""

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

    def _gains(self, h: np.ndarray, hop: np.ndarray, goal: np.ndarray, hw: float, gw: float, pw: float):
        """Per user and course: the sum of the values of the skills it teaches. A skill's value is
        its importance-weighted gap (``hw`` x the next hop's weight + ``gw`` x the goal's) when
        missing, else ``pw`` x the best such value of a course it is a prerequisite of; 0 when
        held. Summed in each course's skill order (as :class:`GapRetriever` sums)."""
        # computed skills x users (and courses x users): every gather below then copies whole
        # contiguous rows, and each maximum is over a course's (or a skill's) padded list, not a
        # ``reduceat`` across columns; the same numbers bit for bit (maxima are exact and the sums
        # keep each course's skill order), 1.7x faster than users x skills
        m, S, tp = h.shape[0], self.n_skills, self.teach_pad
        r = np.arange(m)[:, None]
        held = h.T
        want = np.zeros((S + 1, m))
        want[self.job_sk[hop], r] = hw * self.job_w[hop]
        want[self.job_sk[goal], r] += gw * self.job_w[goal]
        want[S] = 0.0
        want[held] = 0.0
        # per course the best of the skills it teaches (padding: skill S, worth 0), then a row of 0
        # for the prerequisite lists' padding
        course_want = np.empty((self.n_courses + 1, m))
        np.copyto(course_want[:-1], want[tp[:, 0]])
        for t in range(1, tp.shape[1]):
            np.maximum(course_want[:-1], want[tp[:, t]], out=course_want[:-1])
        np.maximum(course_want, 0.0, out=course_want)
        course_want[-1] = 0.0
        prereq_value = np.zeros((S + 1, m))
        if self.req_skills.size:
            rp = self.req_pad
            best = course_want[rp[:, 0]]
            for t in range(1, rp.shape[1]):
                np.maximum(best, course_want[rp[:, t]], out=best)
            prereq_value[self.req_skills] = pw * best
        value = np.where(want > 0, want, prereq_value)
        value[held] = 0.0
        gain = value[tp[:, 0]]
        for t in range(1, tp.shape[1]):
            gain += value[tp[:, t]]
        return np.ascontiguousarray(gain.T)

    def _slots(self, job, hop) -> tuple[np.ndarray, np.ndarray | None]:
        """(the next jobs a move can go to: the hop, then the job's other next jobs in the graph's
        order, -1 padded; with graph moves, each slot's weight 1 / (rank among the job's next jobs
        + 1), the hop included, a hop the graph does not list none; else None)."""
        nxt = self.next_pad[job]
        rank = np.where(nxt == hop[:, None], 0, np.where(nxt >= 0, 1, 2))
        order = np.argsort(rank, axis=1, kind="stable")
        slots = np.take_along_axis(nxt, order, axis=1)
        slots[:, 0] = hop
        lat_w = None
        if self.cfg.lateral_moves == "graph":
            listed = np.take_along_axis(nxt, order, axis=1) == slots
            lat_w = np.where((slots >= 0) & listed, 1.0 / (order + 1.0), 0.0)
            lat_w[:, 1:] = np.where(slots[:, 1:] != hop[:, None], lat_w[:, 1:], 0.0)
        return slots, lat_w

    def _job_dists(self, job, hop, h) -> dict:
        """The next jobs a move can go to (slots: the hop, then the job's other next jobs) and the
        distribution over [stay, *slots]: now, after a given course, and averaged over courses.

        Only the (row, course) pairs after which another next job comes within reach are looked
        at; every other course leaves the distribution as it is now."""
        cfg, m, S = self.cfg, job.size, self.n_skills
        slots, lat_w = self._slots(job, hop)
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


def _pattern_dist(
    ready: np.ndarray, move_p: np.ndarray, lateral_prob: float, lat_w: np.ndarray | None = None
) -> np.ndarray:
    """[stay, hop, *laterals] from which next jobs are within reach (``ready``: (m, N, X), slot
    0 the hop): the hop with ``move_p``, then ``lateral_prob`` of staying shared evenly by the
    laterals within reach; with ``lat_w`` ((m, N) weights, 0 for no job: graph moves) shared by
    every next job, the hop included, in proportion to its weight, ready or not. Returns
    (m, 1 + N, X)."""
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
        spread = share[:, None] * (lat_w / np.maximum(total, 1e-300)[:, None])[:, :, None]
        hop, each = hop + spread[:, 0], spread[:, 1:]
    stay = np.where(n_lat > 0, stay - share, stay)
    return np.concatenate([stay[:, None], hop[:, None], each], axis=1)
