"""What one step records per row (:class:`StepRecords`, a part of
:class:`~careerpath.data.synthesis.Synthesiser`): the rounded probabilities with the JSON the row writer
writes for them, the argmaxes the oracle ceiling reads off them, and the catalog context of every
row's input, computed for the batch with the same sums, rounding and order as
:class:`~careerpath.core.context.GapRetriever`."""

from __future__ import annotations

import json
from itertools import compress

import numpy as np

from careerpath.core.context import Context
from careerpath.core.textformat import STAY
from careerpath.data.synthesis_config import PROB_FLOOR
from careerpath.data.synthesis_numeric import _NEAR, _repr5_table, _round9


class _Probs(dict):
    """A row's recorded probabilities with the JSON the row writes for them (``json``), made
    with them (the row writer checks it is there; change the dict and drop it). A record made
    for the data build alone (``dicts=False``) holds only the JSON: :func:`probs_dict` reads the
    dict back from it (the same keys, order and floats: each number is ``repr`` of a float). The
    same for an event's ``job_given_course``."""

    __slots__ = ("json",)


def probs_dict(probs: dict) -> dict:
    """``probs`` as a dict with its entries: a record holding only its JSON is read back from it."""
    js = getattr(probs, "json", None)
    return json.loads(js) if js is not None and not probs else probs


def _oracle_rows(visible, traits, pick: np.ndarray, choice: np.ndarray) -> list[tuple]:
    """:func:`oracle_values` of every row, from the argmaxes of its recorded probabilities."""
    cols = []
    for best_c, max_c, best_j, max_j in (visible, traits):
        job_hit = (best_j == choice).astype(float)
        cols.append([(best_c == pick).astype(float), max_c / 100000.0, job_hit, max_j / 100000.0, job_hit])
    moves = (choice > 0).tolist()
    flat = np.stack([c for group in cols for c in group], axis=1).tolist()
    return [(m, row if m else row[:4] + row[5:9], False) for m, row in zip(moves, flat)]


def _slices(keys: np.ndarray, nums: np.ndarray, lengths: np.ndarray, bounds: list[int]) -> list[str]:
    """Per row ``", ".join(key + num for its pairs)``, the pairs of row ``k`` being
    ``bounds[k]:bounds[k + 1]``: one join of the whole batch, then a slice per row."""
    if keys.size == 0:
        return [""] * (len(bounds) - 1)
    parts = np.empty((keys.size, 3), dtype=object)
    parts[:, 0], parts[:, 1], parts[:, 2] = keys, nums, ", "
    whole = "".join(parts.ravel().tolist())
    ends = np.concatenate([[0], np.cumsum(lengths + 2)]).tolist()  # where each pair starts
    return [whole[ends[lo] : ends[hi] - 2] if hi > lo else "" for lo, hi in zip(bounds, bounds[1:])]


class StepRecords:
    """The per-step records of :class:`~careerpath.data.synthesis.Synthesiser` (reads its tables and
    :meth:`~careerpath.data.synthesis_steps.StepModel._gains`)."""

    def _slot_names(self, row: tuple) -> list[str]:
        names = self._slot_cache.get(row)
        if names is None:
            names = self._slot_cache[row] = [STAY, *(self.job_list[x] for x in row if x >= 0)]
        return names

    def _recorded(
        self,
        p: np.ndarray,
        marg: np.ndarray,
        slots: np.ndarray,
        slot_names,
        dicts: bool = True,
    ) -> list[dict]:
        """The rounded probabilities written per row: the courses at or above PROB_FLOOR, the mass
        of the rest, and the next jobs at or above 1e-5 (each also as the JSON the row writes).
        ``dicts=False``: the JSON alone (what the data build writes; the dicts cost about 6% of
        its time), the dict left empty for :func:`probs_dict`."""
        # p is 0 wherever a course is not eligible (its rows are distributions over the eligible
        # courses), so the eligible courses at or above the floor are those of p at or above it,
        # and the rest's mass is the sum of p where it is below (the same numbers summed)
        keep = p >= PROB_FLOOR
        # round(x, 5) as numpy does it: the integer k nearest x * 1e5, then k / 1e5
        other = np.rint(np.where(keep, 0.0, p).sum(1) * 1e5).astype(np.int64)
        rows, cols = np.nonzero(keep)
        kv = np.rint(p[rows, cols] * 1e5).astype(np.int64)
        mk = np.rint(marg * 1e5).astype(np.int64)
        text = _repr5_table(np.concatenate([kv, other, mk.ravel()]))
        bounds = np.searchsorted(rows, np.arange(p.shape[0] + 1)).tolist()
        names, keys, job_key = self.course_list, self._course_key, self._job_key
        ok_arr = (marg >= 1e-5) & np.concatenate([np.ones((len(slots), 1), bool), slots >= 0], axis=1)
        other = other.tolist()
        # the rank of each slot's id among all ids: stay, then the slots' jobs (-1 padding ranks 0;
        # the slots are -1 padded at the end, so this lines up with each row's names)
        stay_rank = np.full((len(slots), 1), self._id_rank[STAY], dtype=np.int64)
        slot_ranks = np.concatenate([stay_rank, self._job_rank[slots]], axis=1)
        # the same for every (row, next-job slot) pair recorded, in slot order within a row
        jrows, jslots = np.nonzero(ok_arr)
        jbounds = np.searchsorted(jrows, np.arange(p.shape[0] + 1)).tolist()
        jk = mk[jrows, jslots]
        argmax = self._argmax_rows(rows, cols, kv, mk, ok_arr, slot_ranks, p.shape[0])
        if not dicts and isinstance(text, list):  # the JSON alone, joined for the batch at once
            return self._json_only(text, cols, kv, other, bounds, jrows, jslots, jk, jbounds, slots), argmax
        cols, ks = cols.tolist(), kv.tolist()
        # every (row, course) pair of the batch at once, then a slice per row
        if dicts:
            pair_names, vals = list(map(names.__getitem__, cols)), (kv / 100000.0).tolist()
        pair_js = list(map(str.__add__, map(keys.__getitem__, cols), map(text.__getitem__, ks)))
        job_names = list(map(list.__getitem__, map(slot_names.__getitem__, jrows.tolist()), jslots.tolist()))
        job_vals = (jk / 100000.0).tolist() if dicts else None
        job_js = list(
            map(str.__add__, map(job_key.__getitem__, job_names), map(text.__getitem__, jk.tolist()))
        )
        out = []
        for k in range(p.shape[0]):
            lo, hi = bounds[k], bounds[k + 1]
            jlo, jhi = jbounds[k], jbounds[k + 1]
            probs = (
                _Probs(
                    course=dict(zip(pair_names[lo:hi], vals[lo:hi])),
                    course_other=other[k] / 100000.0,
                    job=dict(zip(job_names[jlo:jhi], job_vals[jlo:jhi])),
                )
                if dicts
                else _Probs()
            )
            probs.json = (
                f'{{"course": {{{", ".join(pair_js[lo:hi])}}}, "course_other": {text[other[k]]}, '
                f'"job": {{{", ".join(job_js[jlo:jhi])}}}}}'
            )
            out.append(probs)
        return out, argmax

    def _json_only(self, text, cols, kv, other, bounds, jrows, jslots, jk, jbounds, slots) -> list[_Probs]:
        """:meth:`_recorded`'s records without dicts (``text`` the 0..100000 table): the same JSON,
        made by joining every (key, number, separator) of the batch once and slicing each row's
        part out by character offsets (the lengths summed in numpy), not a join per row."""
        course_key, key_len, num, num_len, job_key, job_key_len = self._json_tables(text)
        # the job of each recorded slot: 0 for staying, else 1 + its index
        jid = np.zeros(jslots.shape, dtype=np.int64)
        moved = jslots > 0
        jid[moved] = slots[jrows[moved], jslots[moved] - 1] + 1
        out_c = _slices(course_key[cols], num[kv], key_len[cols] + num_len[kv], bounds)
        out_j = _slices(job_key[jid], num[jk], job_key_len[jid] + num_len[jk], jbounds)
        out = []
        for k in range(len(other)):
            probs = _Probs()
            probs.json = (
                f'{{"course": {{{out_c[k]}}}, "course_other": {text[other[k]]}, "job": {{{out_j[k]}}}}}'
            )
            out.append(probs)
        return out

    def _json_tables(self, text: list[str]):
        """Object arrays of the JSON fragments :meth:`_json_only` joins (``text``: the numbers'
        table), with their lengths (made once)."""
        tables = getattr(self, "_json_table_cache", None)
        if tables is None:
            course_key = np.array(self._course_key, dtype=object)
            num = np.array(text, dtype=object)
            job_key = np.array([self._job_key[j] for j in [STAY, *self.job_list]], dtype=object)
            lengths = [np.array([len(x) for x in a], dtype=np.int64) for a in (course_key, num, job_key)]
            tables = self._json_table_cache = (course_key, lengths[0], num, lengths[1], job_key, lengths[2])
        return tables

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

    def _contexts(self, h, hop, goal, elig, gain, jobs: dict, names: bool = True) -> list:
        """:meth:`GapRetriever.context` of every row (the same values: the same sums, the same
        rounding, the same order), for the batch at once. ``names=False``: each as catalog
        indices, (next step, best, options, ready after), for the row writer's index tables."""
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
                ready = list(compress(ids, ready_sel[k]))
            if names:
                out.append(
                    Context(
                        self.job_list[hops[k]],
                        list(map(get, ids[:nb])),
                        list(map(get, ids[nb:])),
                        list(map(get, ready)),
                    )
                )
            else:
                out.append((hops[k], ids[:nb], ids[nb:], ready))
        return out
