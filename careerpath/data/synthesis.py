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

This module holds :class:`Synthesiser` (starting states and the step loop) and re-exports the
public names of its parts:

- ``synthesis_config``: :class:`SynthesisConfig`, the preference types, :class:`Event`;
- ``synthesis_numeric``: counter-based random numbers (:func:`uniforms`), draws, exact rounding;
- ``synthesis_tables``: the per-catalog arrays (what courses teach and need, jobs' skills, goals);
- ``synthesis_steps``: one step's course and next-job probabilities for a batch;
- ``synthesis_record``: the rounded probabilities, oracle argmaxes and catalog context recorded;
- ``synthesis_rows``: events as dataset rows (:func:`event_to_row`, :class:`RowWriter`);
- ``synthesis_oracle``: the oracle ceiling's values of a row (:func:`oracle_values`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from careerpath.core.catalog import Catalog
from careerpath.core.context import ContextConfig
from careerpath.core.progression import Progression
from careerpath.core.textformat import STAY
from careerpath.data.synthesis_config import (
    DEFAULT_TYPES,
    LATERAL_MOVES,
    PROB_FLOOR,
    Event,
    PreferenceType,
    SynthesisConfig,
)
from careerpath.data.synthesis_numeric import _draw, uniforms
from careerpath.data.synthesis_oracle import argmax_key, entropy, oracle_values, oracle_values_of_probs
from careerpath.data.synthesis_record import StepRecords, _oracle_rows, _Probs
from careerpath.data.synthesis_rows import RowWriter, event_to_row, event_to_texts
from careerpath.data.synthesis_steps import StepModel
from careerpath.data.synthesis_tables import SynthesisTables, _family_provider_bonus

__all__ = [
    "BATCH_USERS",
    "DEFAULT_TYPES",
    "LATERAL_MOVES",
    "PROB_FLOOR",
    "STAY",
    "Event",
    "PreferenceType",
    "RowWriter",
    "SynthesisConfig",
    "Synthesiser",
    "_family_provider_bonus",
    "argmax_key",
    "entropy",
    "event_to_row",
    "event_to_texts",
    "oracle_values",
    "oracle_values_of_probs",
    "uniforms",
]

BATCH_USERS = 256  # users generated together (the output does not depend on it)
START, START_OWN, START_PREV = 1 << 20, (1 << 20) + 1, (1 << 20) + 2  # step codes of the start draws


class Synthesiser(SynthesisTables, StepModel, StepRecords):
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

    def batch(self, ids: np.ndarray, dicts: bool = True) -> list[list[Event]]:
        """The trajectories of the users ``ids``, generated together. ``dicts=False``: each event's
        ``probs`` and ``probs_visible`` hold only the JSON the row writes (the data build's rows
        and oracle values are the same; ``synthesis_record.probs_dict`` gives the dicts)."""
        ids = np.asarray(ids, dtype=np.int64)
        st = self._start(ids)
        return self._run(ids, st, dicts)

    def batch_rows(self, ids: np.ndarray, writer: RowWriter) -> list[tuple[list[str], list[tuple]]] | None:
        """Per user of ``ids``, its rows as ``writer`` writes them (``writer.line`` of each event of
        :meth:`batch`, the same bytes) and their :func:`oracle_values`, made without the events:
        the writer's fragments are looked up by catalog index. None when the writer cannot (a
        catalog name the text format rejects, or a writer for another catalog, or one that would
        compute a context the generator does not): then use :meth:`batch`."""
        tables = writer.index_tables(self.skill_list, self.course_list, self.job_list)
        if tables is None or (writer.context is not None and self.context_cfg is None):
            return None
        ids = np.asarray(ids, dtype=np.int64)
        rows = (
            writer.compose,
            tables,
            [writer._js(t.name) for t in self.cfg.types],
            writer.context is not None,
        )
        return self._run(ids, self._start(ids), False, rows)

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
        history = [[p, j] if h else [j] for p, j, h in zip(prev.tolist(), job.tolist(), has_prev.tolist())]
        return {"job": job, "goal": goal, "kind": kind, "held": held, "utype": utype, "history": history}

    def _run(self, ids: np.ndarray, st: dict, dicts: bool = True, rows: tuple | None = None) -> list:
        """Step all users of the batch together until each reaches its goal, runs out of eligible
        courses or of steps; returns each user's events (with ``rows``, :meth:`batch_rows`'s
        row writer's ``compose``, its tables, the user types' JSON and whether rows carry the
        context: each user's rows and oracle values)."""
        cfg, n, C = self.cfg, ids.size, self.n_courses
        job, goal, held, utype = st["job"].copy(), st["goal"].copy(), st["held"], st["utype"]
        stated = st["kind"] == 0
        start_job = job.copy()
        taken = np.zeros((n, C), dtype=bool)
        post = np.tile(self.priors, (n, 1))
        state = {
            "job": job,
            "goal": goal,
            "stated": stated,
            "start_job": start_job,
            "utype": utype,
            "history": st["history"],
            "courses": [[] for _ in range(n)],
            "events": [[] for _ in range(n)],
            "oracles": [[] for _ in range(n)],
            "rows": rows,
        }
        alive = np.ones(n, dtype=bool)
        ab = cfg.abandon_prob
        for step in range(cfg.max_steps):
            active = self._active(alive, job, goal, held, taken)
            if active is None:
                break
            a, hop, h, elig, n_el = active
            g = goal[a]
            gain = self._gains(h, hop, g, cfg.hop_weight, cfg.goal_weight, 0.5)
            # a variant's provider taste follows the family of the job held now, which the text shows
            # (the start job is not always told apart from a previous one in a profile's history)
            fam_row = self.job_family_row[job]
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
            ctx = self._contexts(h, hop, g, elig, gain, jobs, rows is None) if self.context_cfg else None
            slot_names = [self._slot_names(row) for row in map(tuple, slots.tolist())]
            rec_t, arg_t = self._recorded(p_type, marg_type, slots, slot_names, dicts)
            rec_v, arg_v = self._recorded(p_vis, marg_vis, slots, slot_names, dicts)
            drawn = {"pick": pick, "choice": choice, "abandoned": abandoned, "dist": dist}
            recorded = {
                "slots": slots,
                "slot_names": slot_names,
                "probs": rec_t,
                "probs_visible": rec_v,
                "context": ctx,
                "oracle": _oracle_rows(arg_v, arg_t, pick, choice),
                "dicts": dicts,
            }
            self._emit(step, ids, a, h, drawn, recorded, state)
            # the Bayes update of the type posterior from the course choice the text will show: an
            # abandoned course is never listed in a later profile, so it teaches the visible
            # posterior (the oracle "from the text", probs_visible) nothing
            upd = np.where(abandoned[:, None], post[a], post[a] * col)
            post[a] = upd / upd.sum(1, keepdims=True)
            learn = a[~abandoned]
            taken[learn, pick[~abandoned]] = True
            held[np.repeat(learn, self.teach_pad.shape[1]), self.teach_pad[pick[~abandoned]].ravel()] = True
        if rows is not None:
            return list(zip(state["events"], state["oracles"]))
        return state["events"]

    def _active(self, alive, job, goal, held, taken):
        """The users who take a course this step (not at the goal, with a next hop towards it and
        an eligible course), with their next hop, skills held and eligible courses; marks them in
        ``alive`` (and no one else). None when there are none."""
        a = np.flatnonzero(alive & (job != goal) & (goal >= 0))
        hop = self.hops(job[a], goal[a])
        a, hop = a[hop >= 0], hop[hop >= 0]
        h, tk = held[a], taken[a]
        # every prerequisite held and something left to learn: per course the skills not held among
        # its prerequisites and among what it teaches, counted by two sparse products (exact in
        # float32), instead of gathering users x courses x skills
        missing = np.ascontiguousarray(~h[:, :-1].T, dtype=np.float32)  # skills x users
        elig = ~tk & ((self.prereq_count @ missing) == 0).T & ((self.teach_count @ missing) > 0).T
        n_el = elig.sum(1)
        keep = n_el > 0
        alive[:] = False
        if not keep.all():
            a, hop, h, tk, elig, n_el = a[keep], hop[keep], h[keep], tk[keep], elig[keep], n_el[keep]
        if a.size == 0:
            return None
        alive[a] = True
        return a, hop, h, elig, n_el

    def _emit(
        self,
        step: int,
        ids: np.ndarray,
        a: np.ndarray,
        h: np.ndarray,
        drawn: dict,
        recorded: dict,
        state: dict,
    ):
        """Append one event per active user ``a`` (what it held, took and moved to this step; with
        ``state["rows"]``, its row and oracle values instead) and move its state on: the course
        taken unless abandoned, the new job and, without a stated goal, the new job's default
        next."""
        cfg, m = self.cfg, a.size
        names, skill_names, job_names = self.course_list, self.skill_list, self.job_list
        job, goal, stated, utype = state["job"], state["goal"], state["stated"], state["utype"]
        history, courses, events, start_job = (
            state["history"],
            state["courses"],
            state["events"],
            state["start_job"],
        )
        pick, choice, abandoned, dist = drawn["pick"], drawn["choice"], drawn["abandoned"], drawn["dist"]
        slots, slot_names = recorded["slots"], recorded["slot_names"]
        rec_t, rec_v, ctx, oracle = (
            recorded["probs"],
            recorded["probs_visible"],
            recorded["context"],
            recorded["oracle"],
        )
        dist_r = np.round(dist, 6).tolist()
        dicts, job_key = recorded["dicts"], self._job_key
        held_rows, held_cols = np.nonzero(h[:, :-1])
        bounds = np.searchsorted(held_rows, np.arange(m + 1)).tolist()
        held_cols = held_cols.tolist()
        ab_list, dist_pos = abandoned.tolist(), (dist > 0).tolist()
        taught = self.teach_pad[pick]  # what each course taken teaches and was not held
        new_skills = np.where(h[np.arange(m)[:, None], taught], -1, taught).tolist()
        new_skills = [[x for x in row if x >= 0] for row in new_skills]
        # read as lists: each user comes once a step, before its own job and goal move on
        job_l, goal_l, stated_l = job.tolist(), goal.tolist(), stated.tolist()
        ids_l, start_l, utype_l = ids.tolist(), start_job.tolist(), utype.tolist()
        slot_l = slots.tolist()
        rows = state["rows"]
        if rows is not None:  # rows made here from the writer's fragments by catalog index
            compose, tables, type_js, with_ctx = rows
            frags, job_t, course_t, next_t, stay_next, no_goal = tables
            _, jo_i, jo_t = frags[2]
            oracles, joined, appended = state["oracles"], RowWriter.joined, RowWriter.appended
            # each user's history and courses joined, kept from step to step: a course taken is
            # appended to its joins, a move joins the history again
            hist_j, courses_j = state.setdefault("joins", ({}, {}))
        for k, (b, c, ch) in enumerate(zip(a.tolist(), pick.tolist(), choice.tolist())):
            hb = held_cols[bounds[k] : bounds[k + 1]]
            sn = slot_names[k]
            gained = [] if ab_list[k] else new_skills[k]
            dk, pos = dist_r[k], dist_pos[k]
            shown = [j for j in range(len(sn)) if j == 0 or pos[j]]  # stay, then the jobs it can reach
            if dicts:
                jgc = {sn[j]: dk[j] for j in shown}
            else:  # what json.dumps writes for that dict (float repr), without the dict
                jgc = _Probs()
                jgc.json = f"{{{', '.join([job_key[sn[j]] + repr(dk[j]) for j in shown])}}}"
            if rows is not None:
                if with_ctx:
                    hop, best, options, ready = ctx[k]
                    row_ctx = ((jo_t[hop], jo_i[hop]), best, options, ready)
                else:
                    row_ctx = None
                hj = hist_j.get(b)
                if hj is None:
                    hj = hist_j[b] = joined(history[b], frags[2], " > ")
                cj = courses_j.get(b, ("", "", ""))
                events[b].append(
                    compose(
                        frags,
                        f'"u{ids_l[b]:07d}"',
                        step,
                        job_t[goal_l[b]] if stated_l[b] else no_goal,
                        job_t[job_l[b]],
                        job_t[start_l[b]],
                        hj,
                        cj,
                        (hb, gained),
                        course_t[c],
                        next_t[slot_l[k][ch - 1]] if ch else stay_next,
                        type_js[utype_l[b]],
                        (rec_t[k].json, rec_v[k].json, jgc.json),
                        row_ctx,
                    )
                )
                oracles[b].append(oracle[k])
            else:
                events[b].append(
                    Event(
                        user_id=f"u{ids_l[b]:07d}",
                        step=step,
                        goal=job_names[goal_l[b]],
                        job=job_names[job_l[b]],
                        history=list(map(job_names.__getitem__, history[b])),
                        skills=list(map(skill_names.__getitem__, hb)),
                        courses=list(map(names.__getitem__, courses[b])),
                        next_course=names[c],
                        skills_gained=list(map(skill_names.__getitem__, gained)),
                        next_job=sn[ch],
                        probs=rec_t[k],
                        probs_visible=rec_v[k],
                        user_type=cfg.types[utype_l[b]].name,
                        start_job=job_names[start_l[b]],
                        goal_stated=stated_l[b],
                        job_given_course=jgc,
                        context=ctx[k] if ctx is not None else None,
                        oracle=oracle[k],
                    )
                )
            if not ab_list[k]:
                courses[b].append(c)
                if rows is not None:
                    courses_j[b] = appended(cj, c, frags[1], "; ")
            if ch:
                new = slot_l[k][ch - 1]
                job[b] = new
                history[b].append(new)
                if rows is not None:
                    del hist_j[b]
                if not stated_l[b]:  # no goal: head where the new job most often leads
                    nxt = self.default_next[new]
                    goal[b] = nxt if nxt >= 0 else new
