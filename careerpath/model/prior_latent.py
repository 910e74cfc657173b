"""The course prior as a mixture of learner classes read from past choices (a latent-class
conditional logit over the courses each person could take): :class:`LatentClassPrior`, the hours
spline it weighs courses by, and its fit on packed option arrays. See :mod:`careerpath.model.prior`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from careerpath.core.catalog import Catalog
from careerpath.core.context import GapRetriever
from careerpath.model.prior_base import (
    COURSE_FEATURES,
    EXCLUDED,
    KINDS,
    PRIOR_FILE,
    CoursePrior,
    one_thread,
)
from careerpath.model.timeline import Timeline, skills_before

CLASS_FEATURES = ("gap", *COURSE_FEATURES)  # x: gap score, log(1 + hours), hours / 10, level - 1
KNOT_QUANTILES = (0.25, 0.5, 0.75, 0.9)  # of the catalog's course hours: where the hours spline bends
PAST_MEMO = 20_000  # past choices kept by LatentClassPrior.past_choices (about 1 KB each)
NOW_MEMO = 256  # states whose options LatentClassPrior.vector keeps for the next step's past choice


def hinge_name(knot: float) -> str:
    """The feature max(hours - knot, 0) / 10 of a course (a bend of the hours spline)."""
    return f"hours>{knot:g}"


def catalog_knots(catalog: Catalog) -> list[float]:
    """The knots of the hours spline: the :data:`KNOT_QUANTILES` of the catalog's course hours."""
    hours = np.array([max(float(c.hours), 0.0) for c in catalog.courses.values()])
    if hours.size == 0:
        return []
    return sorted({round(float(q), 1) for q in np.quantile(hours, KNOT_QUANTILES)})


def _lse(x: np.ndarray, axis: int = 0) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(axis)


class LatentClassPrior(CoursePrior):
    """The course prior as a mixture of a few learner classes (a latent-class conditional logit).

    Each class k weighs a course's features x = (gap score, log(1 + hours), hours / 10, level - 1,
    and max(hours - knot, 0) / 10 for each knot of a piecewise-linear hours spline: people's dislike
    of long courses need not be smooth) by its own beta_k. A person takes, with probability ``detour``, any course they can take,
    uniformly; otherwise one that closes some of the gap (a *useful* one), by a softmax of
    beta_k . x over those:

        p_k(c | options) = detour / |options| + (1 - detour) [c useful] softmax_useful(beta_k . x)_c

    (uniform when no option is useful). The class is hidden; the courses the person took reveal
    it. Their past options are rebuilt from the profile alone: the skills before the first course
    are the skills now less what the courses taken teach, and each course adds what it teaches;
    the job held at each course is read from the jobs the profile lists (a
    :class:`~careerpath.model.timeline.Timeline`; today's job without one), the goal is today's. So a
    real person's profile is read exactly as a training row is (no train/serve skew), and

        w_k ∝ share_k prod_i p_k(course_i | options_i),    prior(c) = log sum_k w_k p_k(c | options now).

    The mean-taste log-linear :class:`CoursePrior` cannot tell "took long courses because only
    long ones were on offer" from "prefers long courses"; the option sets can.
    """

    KIND = "latent_class"
    MAX_CLASSES = 8

    def __init__(
        self,
        retriever: GapRetriever,
        classes: list[dict[str, float]],
        detour: float,
        knots=(),
        timeline: Timeline | None = None,
    ):
        knots = [float(k) for k in knots]
        names = (*CLASS_FEATURES, *map(hinge_name, knots))
        ok = 1 <= len(classes) <= self.MAX_CLASSES and 0.0 < float(detour) < 1.0
        ok = ok and all(math.isfinite(k) for k in knots) and len(set(names)) == len(names)
        for c in classes:
            ok = ok and isinstance(c, dict) and set(c) == {"share", *names}
            ok = ok and all(math.isfinite(float(v)) for v in c.values()) and float(c["share"]) > 0
        if not ok:
            raise ValueError(
                f"a latent-class course prior needs 1..{self.MAX_CLASSES} classes, each with a positive "
                f"share and finite {', '.join(names)}, and a detour in (0, 1); "
                f"got classes={classes!r}, detour={detour!r}, knots={knots!r}"
            )
        super().__init__(retriever, {"gap": 0.0})
        self.classes = [{k: float(v) for k, v in c.items()} for c in classes]
        self.detour = float(detour)
        self.knots, self.feature_names, self.timeline = knots, names, timeline
        hours = np.maximum([float(c.hours) for c in self.catalog.courses.values()], 0.0)
        # the course part of x of every course, [n_courses, len(names) - 1]
        self._course_x = np.column_stack([self._phi, *((np.maximum(hours - k, 0.0) / 10.0) for k in knots)])
        self._beta = np.array([[c[f] for f in names] for c in self.classes])
        share = np.array([c["share"] for c in self.classes])
        self._log_share = np.log(share / share.sum())
        self._teaches = {c.id: frozenset(c.skills) for c in self.catalog.courses.values()}
        # past choices' options by the state they were made in, with their log-probability per
        # class: a pathway asks again at each step for the same earlier choices (the guide, then the
        # plan's probabilities)
        self._past: dict[tuple, tuple[int, np.ndarray, int, np.ndarray | None]] = {}
        # the options of the states :meth:`vector` was asked about: the guide's next step takes one
        # of them, and that choice's options are the ones its state had
        self._now: dict[tuple, tuple[int, np.ndarray, np.ndarray, np.ndarray]] = {}
        self.weights = {"detour": self.detour} | {
            f"class{k}.{name}": v for k, c in enumerate(self.classes, 1) for name, v in c.items()
        }

    # -- the prior of one profile ------------------------------------------------------------
    def _options(self, job: str, goal: str, skills, taken, chosen: int | None = None):
        """(number of options, positions of the useful ones, their x [u, features], the options mask)."""
        ok = self.eligible(skills, taken)
        if chosen is not None:  # a past choice was an option, whatever the rebuilt state says
            ok[chosen] = True
        gap = self.gap(job, goal, skills, taken)
        useful = np.flatnonzero(ok & (gap > 0))
        return int(ok.sum()), useful, np.column_stack([gap[useful], self._course_x[useful]]), ok

    def past_choices(
        self, job: str, goal: str, skills, taken=(), history=()
    ) -> list[tuple[int, np.ndarray, int]]:
        """Per course taken, in order: (number of options then, x of the useful options, the
        choice's position among them or -1 when it closed none of the gap), rebuilt from the
        profile (see the class docstring)."""
        return [hit[:3] for hit in self._past_choices(job, goal, skills, taken, history, False)]

    def _past_choices(self, job: str, goal: str, skills, taken, history, logp: bool) -> list[tuple]:
        """:meth:`past_choices`, each with its :meth:`_choice_logp` when ``logp`` (else maybe None),
        remembered by the state the choice was made in."""
        pos = [self._course_pos[c] for c in taken if c in self._course_pos]
        ids = [self.course_ids[j] for j in pos]
        before = skills_before(self._teaches, skills, ids)
        then = self.timeline.jobs(job, goal, skills, ids, history) if self.timeline else [job] * len(pos)
        out = []
        for i, c in enumerate(pos):
            held = frozenset(before[i])
            key = (then[i], goal, held, tuple(ids[:i]), c)
            hit = stored = self._past.get(key)
            if hit is None:
                now = self._now.get(key[:4])
                if now is not None and now[3][c]:  # the options of a state vector() was asked about
                    n, useful, x = now[:3]
                else:
                    n, useful, x, _ = self._options(then[i], goal, held, ids[:i], c)
                at = np.flatnonzero(useful == c)
                hit = (n, x, int(at[0]) if at.size else -1, None)
            if logp and hit[3] is None:
                hit = (*hit[:3], self._choice_logp(*hit[:3]))
            if hit is not stored:
                if len(self._past) >= PAST_MEMO:
                    self._past.clear()
                self._past[key] = hit
            out.append(hit)
        return out

    def _choice_logp(self, n: int, x: np.ndarray, at: int) -> np.ndarray:
        """log p_k(the choice | its options), one number per class."""
        if x.shape[0] == 0:
            return np.full(len(self.classes), -math.log(n))
        base = math.log(self.detour / n)
        if at < 0:
            return np.full(len(self.classes), base)
        z = x @ self._beta.T
        return np.logaddexp(base, math.log1p(-self.detour) + z[at] - _lse(z, axis=0))

    def posterior(self, job: str, goal: str, skills, taken=(), history=()) -> np.ndarray:
        """P(class | the courses taken), one number per class."""
        lp = self._log_share.copy()
        for hit in self._past_choices(job, goal, skills, taken, history, True):
            lp = lp + hit[3]
        return np.exp(lp - _lse(lp))

    def vector(self, job: str, goal: str, skills, taken=(), history=()) -> np.ndarray:
        """float32 [n_courses]: log P(next course) under the prior, EXCLUDED where impossible."""
        w = self.posterior(job, goal, skills, taken, history)
        key = (job, goal, frozenset(skills), tuple(taken))
        if len(self._now) >= NOW_MEMO:
            self._now.clear()
        n, useful, x, ok = self._now[key] = self._options(job, goal, key[2], taken)
        out = np.full(len(self.course_ids), EXCLUDED)
        if n == 0:
            return out.astype(np.float32)
        if useful.size == 0:
            out[ok] = -math.log(n)
            return out.astype(np.float32)
        p = np.where(ok, self.detour / n, 0.0)
        z = x @ self._beta.T
        soft = np.exp(z - z.max(axis=0))
        p[useful] += (1.0 - self.detour) * (soft / soft.sum(axis=0)) @ w
        out[ok] = np.log(p[ok])
        return out.astype(np.float32)

    # -- fitting, saving, loading -----------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        retriever: GapRetriever,
        rows: list[dict],
        max_rows: int = 6000,
        classes: int = 3,
        restarts: int = 3,
        spline: bool = True,
        timeline: bool = True,
    ) -> LatentClassPrior:
        """Maximum likelihood of the rows' next courses given each row's rebuilt past choices
        (EM-free: L-BFGS on the marginal likelihood, ``restarts`` seeded starts, the best kept).
        ``spline``: hinge features at :func:`catalog_knots`; ``timeline``: past options at the
        job held then (:meth:`Timeline.fit` on the same rows), else today's job. Classes come out
        ordered by their level weight, so a refit names them alike."""
        knots = catalog_knots(retriever.catalog) if spline else []
        names = (*CLASS_FEATURES, *map(hinge_name, knots))
        tl = Timeline.fit(retriever, rows) if timeline else None
        unit = cls(retriever, [dict.fromkeys(names, 0.0) | {"share": 1.0}], 0.5, knots, tl)
        events, owner, current = [], [], []
        for row in rows[:max_rows]:
            c = unit._course_pos.get(row.get("next_course_id", ""))
            args = (
                row.get("job_id", ""),
                row.get("goal_id", ""),
                row.get("skill_ids", []),
                row.get("course_ids", []),
            )
            if c is None or not unit.eligible(args[2], args[3])[c]:
                continue  # a choice the prior calls impossible cannot inform it
            r = len(current)
            for ev in unit.past_choices(*args, row.get("history_ids", ())):
                events.append(ev)
                owner.append(r)
            n, useful, x, _ = unit._options(*args)
            at = np.flatnonzero(useful == c)
            current.append(len(events))
            events.append((n, x, int(at[0]) if at.size else -1))
            owner.append(-1)
        if not current:
            raise ValueError("no row to fit the course prior on (rows need next_course_id and *_id fields)")
        t = _EventTensors(events, owner, current)
        best = None
        with one_thread():
            for seed in range(restarts):
                params, loss = t.fit(classes, seed)
                if best is None or loss < best[1]:
                    best = (params, loss)
        beta, share, detour = best[0]
        order = np.argsort(beta[:, names.index("level")], kind="stable")
        fitted = [
            {"share": max(round(float(share[k]), 5), 1e-5)}
            | {f: round(float(beta[k, i]), 5) for i, f in enumerate(names)}
            for k in order
        ]
        return cls(retriever, fitted, round(float(detour), 5), knots, tl)

    def save(self, folder: str | Path) -> None:
        data = {
            "kind": self.KIND,
            "model_scale": self.model_scale,
            "detour": self.detour,
            "knots": self.knots,
            "timeline": self.timeline.to_dict() if self.timeline else None,
            "classes": self.classes,
            "form": (
                "log sum_k w_k p_k(c); p_k(c) = detour/|options| + (1-detour) [c useful] softmax over useful "
                "courses of gap*gap score + log_hours*log(1+hours) + hours*hours/10 + level*(level-1) "
                "+ sum over knots of hours>knot*max(hours-knot,0)/10; "
                "w_k: share_k times the likelihood of the courses taken (options rebuilt from the profile, "
                "each at the job held then: careerpath/model/timeline.py)"
            ),
        }
        (Path(folder) / PRIOR_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_dict(cls, retriever: GapRetriever, data: dict) -> LatentClassPrior:
        """The prior a ``course_prior.json`` of this kind describes (:meth:`CoursePrior.load` reads it)."""
        tl = data.get("timeline")
        tl = Timeline(retriever, **tl) if tl else None
        prior = cls(retriever, data["classes"], data["detour"], data.get("knots", ()), tl)
        prior.model_scale = float(data.get("model_scale", 1.0))
        if not 0.0 <= prior.model_scale <= 4.0:
            raise ValueError(f"model_scale {prior.model_scale} is outside [0, 4]")
        return prior


class _EventTensors:
    """Every choice of the fitting rows, packed: the useful options of all events in one array
    (``seg``: each option's event; no padding, so a large catalog's long option lists cost what
    they hold), past choices (``owner``: their row) and each row's next course (``current``)."""

    def __init__(self, events: list, owner: list[int], current: list[int]):
        sizes = [x.shape[0] for _, x, _ in events]
        self.x = torch.from_numpy(np.concatenate([x for _, x, _ in events], axis=0)).to(torch.float64)
        self.seg = torch.repeat_interleave(torch.arange(len(events)), torch.tensor(sizes, dtype=torch.long))
        if not self.x.shape[0]:  # no event has a useful option: one inert row keeps the shapes valid
            self.x, self.seg = (
                torch.zeros(1, events[0][1].shape[1], dtype=torch.float64),
                torch.zeros(1, dtype=torch.long),
            )
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        at = np.array([a for _, _, a in events], dtype=np.int64)
        # the chosen option's place in the packed array (-1: the choice closed none of the gap)
        self.at = torch.from_numpy(np.where(at >= 0, starts + at, -1))
        self.n = torch.tensor([n for n, _, _ in events], dtype=torch.float64)
        self.any = torch.tensor(sizes) > 0
        self.events = len(events)
        own = torch.tensor(owner)
        self.past = (own >= 0).nonzero(as_tuple=True)[0]
        self.past_row = own[self.past]
        self.current = torch.tensor(current)

    def logp(self, beta, d) -> torch.Tensor:
        """[events, classes] log p_k(choice | options)."""
        k = beta.shape[0]
        z = self.x @ beta.T  # [options, classes]
        idx = self.seg[:, None].expand(-1, k)
        top = torch.full((self.events, k), -torch.inf, dtype=z.dtype).scatter_reduce(
            0, idx, z.detach(), reduce="amax", include_self=True
        )
        top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))  # events without options
        total = torch.zeros((self.events, k), dtype=z.dtype).index_add(
            0, self.seg, torch.exp(z - top[self.seg])
        )
        lse = torch.log(total.clamp(min=1e-300)) + top
        ls = z[self.at.clamp(min=0)] - lse
        base = (torch.log(d) - torch.log(self.n))[:, None].expand(-1, k)
        chosen = torch.logaddexp(base, torch.log1p(-d) + ls)
        uniform = -torch.log(self.n)[:, None].expand(-1, k)
        return torch.where(~self.any[:, None], uniform, torch.where(self.at[:, None] >= 0, chosen, base))

    def fit(self, classes: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        beta = torch.randn(classes, self.x.shape[1], generator=g, dtype=torch.float64) * 0.5
        beta[:, 0] += 5.0  # start where the gap matters, as it must for anyone on a route
        beta.requires_grad_(True)
        share = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
        d = torch.tensor(-2.0, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS(
            [beta, share, d], max_iter=300, tolerance_grad=1e-9, line_search_fn="strong_wolfe"
        )

        def loss_fn():
            lp = self.logp(beta, torch.sigmoid(d))
            post = torch.log_softmax(share, 0).expand(len(self.current), -1).clone()
            post = post.index_add(0, self.past_row, lp[self.past])
            return -torch.logsumexp(torch.log_softmax(post, 1) + lp[self.current], 1).mean()

        def closure():
            opt.zero_grad()
            loss = loss_fn()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            loss = float(loss_fn())
        return (
            beta.detach().numpy(),
            torch.softmax(share, 0).detach().numpy(),
            float(torch.sigmoid(d.detach())),
        ), loss


KINDS[LatentClassPrior.KIND] = LatentClassPrior  # CoursePrior.load reads files of this kind
