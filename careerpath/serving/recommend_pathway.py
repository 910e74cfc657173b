"""Goal-directed pathways: the plan to show, replayed into explained steps and milestones.

:class:`PathwayPlanning` holds the pathway half of :class:`careerpath.serving.recommend.Recommender`
(which inherits it): choosing the course sequence (:mod:`careerpath.serving.planner`'s shortest plan, the
model-guided plan within ``ratio_bound`` x its hours, or the greedy skill-gap rule), replaying it
into course steps and the job moves they allow, each with its reason, and summing it up in a
:class:`Pathway`. It uses the state the Recommender builds in ``__init__`` (catalog, planner,
progression, scorer, context, the course index arrays) and its ``_constraint_mask`` and
``_course_reason``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from careerpath.core.catalog import Course
from careerpath.core.context import ContextConfig, GapRetriever, add_context
from careerpath.core.progression import coverage, skill_gap
from careerpath.core.textformat import Profile, serialise_input
from careerpath.serving.planner import PLACEHOLDER_PROVIDER, Budget, Plan, State
from careerpath.serving.recommend_types import (
    MIN_CONFIDENCE,
    RATIO_BOUND,
    SKILL_GAP_MAX_STEPS,
    Constraints,
    PathStep,
    Pathway,
    _Beam,
    milestones,
)


def _state_key(beam: _Beam, goal: str) -> tuple:
    """What a planning state's model input and course prior are made from."""
    return (beam.job, goal, frozenset(beam.skills), tuple(beam.courses), tuple(beam.history))


class PathwayPlanning:
    """The pathway methods of :class:`careerpath.serving.recommend.Recommender` (see the module docstring)."""

    def _goal_state(self, beam: _Beam, goal: str) -> tuple[list[str], float]:
        job = self.catalog.jobs[goal]
        return self.catalog.skill_names([s for s, _ in skill_gap(beam.skills, job)]), coverage(
            beam.skills, job
        )

    def _state_after(self, start: _Beam, seq: list[str], goal: str) -> _Beam:
        """The job, skills, courses and history of :meth:`_replay`'s beam, without its steps and
        their explanations (what the model is asked about at each planning step)."""
        b = _Beam(start.job, set(start.skills), list(start.courses), list(start.history))
        for k in range(len(seq) + 1):
            if k:
                b.skills |= set(self.catalog.courses[seq[k - 1]].skills)
                b.courses.append(seq[k - 1])
            _, moves = self.planner.settle(State(b.job, frozenset(b.skills)), goal)
            if moves:
                b.job = moves[-1]
                b.history += moves
        return b

    def _text_of(self, beam: _Beam, goal: str) -> str:
        """``ResolvedProfile(job, goal, history, skills, courses).input_text(catalog)`` of the beam
        (the same text, built without re-indexing the catalog's skills on every call; remembered:
        planning asks for the same states again, for the plan's probabilities and the demo's
        relaxed plans)."""
        key = _state_key(beam, goal)
        text = self._texts.get(key)
        if text is None:
            text = self._make_text(beam, goal)
            if len(self._texts) > 20_000:
                self._texts.clear()
            self._texts[key] = text
        return text

    def _prior_of(self, beam: _Beam, goal: str) -> np.ndarray:
        """The course prior of a planning state from its ids (what ``CoursePrior.note`` stores for
        its text), remembered like :meth:`_text_of`."""
        key = _state_key(beam, goal)
        row = self._priors.get(key)
        if row is None:
            row = self.scorer.prior.vector(
                beam.job or "", goal or "", beam.skills, beam.courses, beam.history
            )
            if len(self._priors) > 4096:  # a float32 per course: 2 KB each for the bundled catalog
                self._priors.clear()
            self._priors[key] = row
        return row

    def _make_text(self, beam: _Beam, goal: str) -> str:
        cat = self.catalog
        history = list(beam.history)
        if beam.job and (not history or history[-1] != beam.job):
            history.append(beam.job)
        profile = Profile(
            goal=cat.jobs[goal].title if goal else "",
            job=cat.jobs[beam.job].title if beam.job else "",
            history=[cat.jobs[j].title for j in history],
            skills=[cat.skills[s].name for s in sorted(beam.skills, key=self._skill_pos.__getitem__)],
            courses=[cat.courses[c].title for c in beam.courses],
        )
        if self.context is not None:
            add_context(profile, self.context.context(beam.job, goal, beam.skills, beam.courses), cat)
        return serialise_input(profile)

    def _maybe_move(self, beam: _Beam, goal: str, source: str) -> None:
        """Every job move the catalog's move rule allows now (:meth:`Planner.settle`), as steps."""
        state, moves = self.planner.settle(State(beam.job, frozenset(beam.skills)), goal)
        for hop in moves:
            job = self.catalog.jobs[hop]
            came_from, beam.job = beam.job, hop
            beam.history.append(hop)
            gap, cov = self._goal_state(beam, goal)
            what = "your goal" if hop == goal else f"a step towards {self.catalog.jobs[goal].title}"
            reason = f"you now hold {coverage(beam.skills, job):.0%} of its required skills; {what}"
            if (came_from, hop) in self._move_why:
                reason += f"; {self._move_why[came_from, hop]}"
            beam.steps.append(
                PathStep("job", hop, job.title, [], gap, round(cov, 3), 0.0, None, reason, source)
            )

    def _allowed(self, taken: set[str], cons: Constraints) -> bytes:
        """1 where a course may be planned (constraints, not taken): a hashable mask."""
        ruled_out = self._constraint_mask(cons)
        return bytes(int(not ruled_out[i] and c not in taken) for i, c in enumerate(self.catalog.courses))

    def _guide(self, start: _Beam, goal: str) -> Callable[[State, list[str]], np.ndarray]:
        """The model's course log-probabilities (with its priors) for a planning state."""

        def scores(state: State, seq: list[str]) -> np.ndarray:
            beam = self._state_after(start, seq, goal)
            if self.scorer._courses_prior_only():  # the prior alone: no input text to build
                return self.scorer.courses_from_prior(self._prior_of(beam, goal)[None])[0]
            text = self._text_of(beam, goal)
            if self.scorer.prior is not None:
                self.scorer.prior.note(text, beam.job, goal, beam.skills, beam.courses, beam.history)
            return self.scorer.score_courses([text])[0]

        return scores

    def _replay(
        self, start: _Beam, seq: list[str], goal: str, sources: list[str], probs: list[float | None]
    ) -> _Beam:
        """The steps of a course sequence from ``start``: each course, then the moves it allows."""
        b = _Beam(
            start.job, set(start.skills), list(start.courses), list(start.history), 0.0, list(start.steps)
        )
        self._maybe_move(b, goal, sources[0] if sources else "model")
        for k, cid in enumerate(seq):
            c = self.catalog.courses[cid]
            src = sources[k] if k < len(sources) else "model"
            gained = [s for s in c.skills if s not in b.skills]
            before = State(b.job, frozenset(b.skills))
            b.skills |= set(c.skills)
            b.courses.append(cid)
            gap, cov = self._goal_state(b, goal)
            important, reason = self._worth(before, c, goal, seq[k + 1 :])
            p = probs[k] if k < len(probs) else None
            b.unsure = b.unsure or (p is not None and p < MIN_CONFIDENCE)
            b.steps.append(
                PathStep(
                    "course",
                    cid,
                    c.title,
                    self.catalog.skill_names(gained),
                    gap,
                    round(cov, 3),
                    c.hours,
                    None if p is None else round(p, 4),
                    reason,
                    src,
                    c.provider,
                    self.catalog.skill_names(important),
                    c.provider == PLACEHOLDER_PROVIDER,
                )
            )
            self._maybe_move(b, goal, src)
        return b

    def _worth(self, state: State, c: Course, goal: str, later: list[str]) -> tuple[list[str], str]:
        """The skills ``c`` adds that the goal or the next job rates important, and why it is taken
        (a course adding none is a prerequisite of a later one, or not worth taking)."""
        names, jobs = self.catalog.skill_names, self.catalog.jobs
        new = [s for s in c.skills if s not in state.skills]
        by_job: dict[str, list[str]] = {}
        for s in new:
            for job_id in dict.fromkeys((goal, *self.planner.targets(state.job, goal))):
                if s in self.planner.important(job_id):
                    by_job.setdefault(job_id, []).append(s)
                    break
        if by_job:
            parts = []
            for job_id, hit in by_job.items():
                label = "your goal" if job_id == goal else "your next move,"
                weights = ", ".join(f"{jobs[job_id].skills[s]:.2f}" for s in hit)
                parts.append(
                    f"{', '.join(names(hit))}, which {label} {jobs[job_id].title} rates important "
                    f"(weight {weights})"
                )
            hits = [s for s in new if any(s in v for v in by_job.values())]
            return hits, "adds " + "; and ".join(parts)
        for cid in later:
            need = [s for s in new if s in self.catalog.courses[cid].prerequisites]
            if need:
                return (
                    [],
                    f"adds {', '.join(names(need))}, a prerequisite of {self.catalog.courses[cid].title}",
                )
        return [], f"adds {', '.join(names(new))}" if new else "revises skills you already have"

    def pathway(
        self,
        profile=None,
        goal: str | None = None,
        max_steps: int | None = None,
        constraints: Constraints | None = None,
        budget: Budget | None = None,
        planner: str = "model",
        ratio_bound: float = RATIO_BOUND,
        **fields,
    ) -> Pathway:
        """Ordered steps from the profile to ``goal`` (courses and job moves), grouped in milestones.

        ``planner``: "model" (default: the model's most likely worthwhile course at each step, as
        long as the plan stays within ``ratio_bound`` x the shortest plan's hours), "shortest" (the
        shortest plan in hours) or "skill-gap" (the greedy skill-gap rule, for comparison).
        ``max_steps`` / ``budget``: the most course steps, hours or months the person will spend."""
        prof = self.resolve(profile, goal=goal, **fields)
        cons = constraints or Constraints()
        budget = budget or Budget()
        if max_steps is not None:
            budget.steps = max_steps if budget.steps is None else min(budget.steps, max_steps)
        if not prof.goal:
            return Pathway(
                None, [], False, 0.0, False, False, "no goal given: say which job you want to reach"
            )
        goal_id = prof.goal
        start = _Beam(
            prof.job,
            set(prof.skills),
            list(prof.courses),
            list(prof.history) or ([prof.job] if prof.job else []),
        )
        allowed = self._allowed(set(prof.courses), cons)
        s0 = State(prof.job, frozenset(prof.skills))
        best = self.planner.shortest(s0, goal_id, allowed)
        if best is None:
            return self._unreachable(start, s0, goal_id, allowed)
        seq, sources, probs, note = self._choose(
            start, s0, goal_id, cons, allowed, best, budget, planner, ratio_bound
        )
        beam = self._replay(start, seq, goal_id, sources, probs)
        return self._finish(goal_id, beam, best, note, planner)

    def _choose(
        self,
        start,
        s0,
        goal,
        cons,
        allowed: bytes,
        best: Plan,
        budget: Budget,
        planner: str,
        ratio_bound: float,
    ):
        """(course ids, sources, model probabilities, note) of the plan to show."""
        if planner == "skill-gap":
            seq = self._skill_gap_courses(start, goal, cons)
            return seq, ["skill-gap fallback"] * len(seq), [], "skill-gap plan"
        seq, sources = list(best.courses), ["shortest plan"] * len(best.courses)
        if planner == "model":
            # past the step budget the plan is cut or replaced (below): the guide stops one step after it
            out = self.planner.guided(
                s0, goal, allowed, self._guide(start, goal), ratio_bound * best.hours, max_steps=budget.steps
            )
            if out is not None:
                seq, sources = out[0].courses, out[1]
        cap = budget.hours_cap()
        note = ""
        if budget.steps is not None and len(seq) > budget.steps:
            # the fewest-steps plan only when it can fit: else the count alone makes the note
            need = self.planner.fewest_courses(s0, goal, allowed)
            fewest = self.planner.shortest(s0, goal, allowed, mode="steps") if need <= budget.steps else None
            if fewest is not None and len(fewest.courses) <= budget.steps:
                seq, sources = fewest.courses, ["fewest steps"] * len(fewest.courses)
            else:
                if fewest is not None:
                    need = len(fewest.courses)
                elif math.isinf(need):
                    need = len(seq)
                note = f"the goal needs at least {need} course steps, more than your budget of {budget.steps}"
                seq, sources = seq[: budget.steps], sources[: budget.steps]
        if cap is not None and sum(self.catalog.courses[c].hours for c in seq) > cap + 1e-9:
            if best.hours > cap + 1e-9:
                note = f"the shortest plan needs {best.hours:g} hours, more than your budget of {cap:g}"
                seq, sources = best.courses, ["shortest plan"] * len(best.courses)
            else:
                seq, sources = best.courses, ["shortest plan"] * len(best.courses)
            keep, total = 0, 0.0
            for c in seq:
                if total + self.catalog.courses[c].hours > cap + 1e-9:
                    break
                total += self.catalog.courses[c].hours
                keep += 1
            seq, sources = seq[:keep], sources[:keep]
        probs = self._probabilities(start, goal, seq) if planner == "model" else []
        return seq, sources, probs, note

    def _skill_gap_courses(self, start: _Beam, goal: str, cons: Constraints) -> list[str]:
        """The greedy skill-gap rule's courses, with no step cap (via the route, else straight at the
        goal's own skills when that gets further)."""
        b0 = _Beam(start.job, set(start.skills), list(start.courses), list(start.history))
        self._maybe_move(b0, goal, "skill-gap fallback")
        plan = self._skill_gap_plan(b0, goal, SKILL_GAP_MAX_STEPS, cons)
        if not plan.reached(goal) and self.planner.direct_ok(b0.job, goal):
            direct = self._skill_gap_plan(b0, goal, SKILL_GAP_MAX_STEPS, cons, direct=True)
            if direct.reached(goal) or self._goal_state(direct, goal)[1] > self._goal_state(plan, goal)[1]:
                plan = direct
        return plan.courses[len(b0.courses) :]

    def _probabilities(self, start: _Beam, goal: str, seq: list[str]) -> list[float]:
        """The model's probability of each planned course at its step (one batched model call)."""
        if not seq:
            return []
        rows, b = [], _Beam(start.job, set(start.skills), list(start.courses), list(start.history))
        prior_only = self.scorer._courses_prior_only()
        self._maybe_move(b, goal, "model")
        for cid in seq:
            # the prior alone: each state's prior from its ids, as the guide reads it (no input text)
            rows.append(self._prior_of(b, goal) if prior_only else self._text_of(b, goal))
            b.skills |= set(self.catalog.courses[cid].skills)
            b.courses.append(cid)
            self._maybe_move(b, goal, "model")
        lp = self.scorer.courses_from_prior(np.stack(rows)) if prior_only else self.scorer.score_courses(rows)
        return [float(np.exp(lp[k][self._course_pos[c]])) for k, c in enumerate(seq)]

    def _unreachable(self, start: _Beam, s0: State, goal: str, allowed) -> Pathway:
        """No plan reaches the goal: say what is missing and plan as far as possible."""
        diag = self.planner.diagnose(s0, goal, allowed)
        plan = self.planner.as_far_as_possible(s0, goal, allowed)
        beam = self._replay(start, plan.courses, goal, ["as far as possible"] * len(plan.courses), [])
        missing = list(diag.missing_moves)
        if diag.unteachable:
            missing.append(
                "no course in this catalog (within your constraints) teaches "
                + ", ".join(self.catalog.skill_names(diag.unteachable))
            )
        if not missing:
            missing.append(
                "no sequence of worthwhile courses brings the required skills to the move threshold"
            )
        title = self.catalog.jobs[goal].title
        cov = coverage(beam.skills, self.catalog.jobs[goal])
        note = f"{title} cannot be reached from this catalog: {'; '.join(missing)}; planned as far as possible ({cov:.0%} of its skills)"
        return self._finish(goal, beam, None, note, "as far as possible", missing=missing)

    def _gap_rule(self) -> GapRetriever:
        """The one gap rule (:class:`~careerpath.core.context.GapRetriever`): the model's catalog
        context when it has one, else the default settings at the recommender's move threshold."""
        if self.context is not None:
            return self.context
        if getattr(self, "_default_rule", None) is None:
            cfg = ContextConfig(move_threshold=self.move_threshold)
            self._default_rule = GapRetriever(self.catalog, self.progression, cfg)
        return self._default_rule

    def _skill_gap_plan(
        self, start: _Beam, goal: str, max_steps: int, cons: Constraints, direct: bool = False
    ) -> _Beam:
        """Greedy: each step takes the allowed course closing most of the gap by the one gap rule
        (:meth:`_gap_rule`: the next job on the route, and ``goal_weight`` of the goal's; ``direct``:
        the goal's alone), less 0.001 per hour (the shorter of two equal courses)."""
        b = _Beam(
            start.job, set(start.skills), list(start.courses), list(start.history), 0.0, list(start.steps)
        )
        ruled_out = np.asarray(self._constraint_mask(cons), dtype=bool)
        rule = self._gap_rule()
        hours = np.array([c.hours for c in self._course_list], dtype=float)
        for _ in range(max_steps):
            if b.reached(goal):
                break
            job = b.job if b.job and not direct else goal
            hop = rule.next_step(job, goal) or goal
            _, score = rule.scores(job, goal, b.skills, b.courses)
            gain = np.where(ruled_out, -np.inf, score - 0.001 * hours)
            i = int(np.argmax(gain))  # ties: catalog order
            if not gain[i] > 0:
                break
            best = self._course_list[i]
            gained = self.catalog.skill_names([s for s in best.skills if s not in b.skills])
            b.skills |= set(best.skills)
            b.courses.append(best.id)
            gap, cov = self._goal_state(b, goal)
            b.steps.append(
                PathStep(
                    "course",
                    best.id,
                    best.title,
                    gained,
                    gap,
                    round(cov, 3),
                    best.hours,
                    None,
                    self._course_reason(best, b.skills - set(best.skills), hop, goal),
                    "skill-gap fallback",
                )
            )
            self._maybe_move(b, goal, "skill-gap fallback")
        return b

    def _finish(
        self,
        goal: str,
        beam: _Beam,
        best: Plan | None,
        note: str,
        planner: str,
        missing: list[str] | None = None,
    ) -> Pathway:
        steps = beam.steps
        hours = round(sum(s.hours for s in steps), 1)
        reached = beam.job == goal
        n = sum(s.kind == "course" for s in steps)
        ratio = (
            round(hours / best.hours, 3)
            if best is not None and reached and best.hours > 0
            else (1.0 if best is not None and reached else None)
        )
        placeholders = [s.title for s in steps if s.kind == "course" and s.placeholder]
        head = (
            f"goal reached in {n} course step(s), {hours:g} hours"
            + (f" ({ratio:g}x the shortest plan, {best.hours:g} hours)" if ratio is not None else "")
            if reached
            else ""
        )
        if placeholders:
            taught = sorted(
                {x for s in steps if s.kind == "course" and s.placeholder for x in s.skills_gained}
            )
            head += ("; " if head else "") + (
                f"no course in this catalog teaches {', '.join(taught)}: {len(placeholders)} placeholder "
                "course(s) stand in"
            )
        note = "; ".join(x for x in (head, note) if x)
        confident = (
            reached
            and planner == "model"
            and not beam.unsure
            and all(s.source == "model" for s in steps if s.kind == "course")
        )
        return Pathway(
            {"id": goal, "title": self.catalog.jobs[goal].title},
            steps,
            reached,
            hours,
            confident,
            planner != "model" or any(s.source != "model" for s in steps if s.kind == "course"),
            note,
            None if best is None else round(best.hours, 1),
            ratio,
            n,
            milestones(steps),
            missing or [],
            placeholders,
        )
