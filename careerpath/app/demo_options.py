"""What an answer offers beside the pathway: the next-job options (:meth:`OptionsMixin.rank_jobs`),
courses similar to the first recommended one, and, when the person's limits keep the plan from
reaching the goal, the trade-off line with the shortest plan that still reaches it."""

from __future__ import annotations

from careerpath.app.demo_render import escape
from careerpath.app.demo_state import DEFAULT_STEPS, ChatState
from careerpath.core.progression import coverage, overlap, skill_gap
from careerpath.curation.clustering import similar_courses
from careerpath.serving.recommend import Constraints

# in a catalog without course clusters, "similar" courses share this share of their taught skills
SIMILAR_MIN_OVERLAP = 0.3


class OptionsMixin:
    """The next-jobs, similar-courses and trade-off part of
    :class:`~careerpath.app.demo_engine.DemoEngine`; it uses the engine's ``rec``
    (:class:`~careerpath.serving.recommend.Recommender`) and ``catalog``."""

    def _tradeoff(self, state: ChatState, path) -> str | None:
        """When the person's limits (fewer steps, shorter courses) keep the plan from reaching
        the goal, say so and offer the shortest plan found that still reaches it."""
        state.offer = None
        cons = state.constraints
        limited = state.max_steps < DEFAULT_STEPS or cons.max_hours is not None
        if path is None or path.reached or not limited:
            return None
        goal = path.goal["title"]
        cov = (
            path.steps[-1].goal_coverage
            if path.steps
            else coverage(set(state.profile.skills), self.catalog.jobs[state.profile.goal])
        )
        limits = []
        if cons.max_hours is not None:
            limits.append(f"courses of at most {cons.max_hours:g} hours")
        limits.append(f"at most {state.max_steps} course steps")
        head = (
            f"**Trade-off**: with {' and '.join(limits)} this plan does not reach {escape(goal)} "
            f"(it gets you to {cov:.0%} of its skills)."
        )
        best = None
        tries = _relaxations(state.max_steps, cons.max_hours)
        for steps, hours in tries:
            relaxed = Constraints(
                exclude_courses=list(cons.exclude_courses),
                exclude_providers=list(cons.exclude_providers),
                max_hours=hours,
                max_level=cons.max_level,
            )
            alt = self.rec.pathway(state.profile, max_steps=steps, constraints=relaxed)
            if alt.reached and (best is None or alt.total_hours < best[2].total_hours):
                best = (steps, hours, alt)
        if best is None:
            return head + f" No plan of up to {tries[-1][0]} course steps reaches it even without the limits."
        steps, hours, alt = best
        state.offer = (steps, hours)
        courses = [s.title for s in alt.steps if s.kind == "course"]
        limit = f", courses up to {hours:g} hours" if hours is not None else ""
        return head + (
            f" The shortest plan I found that still reaches it: {len(courses)} course(s), "
            f"{alt.total_hours:g} hours{limit} ({escape('; '.join(courses))}). "
            "Say *reach the goal* to switch to it."
        )

    def rank_jobs(self, result: dict, k: int = 3) -> list[dict]:
        """Next-job options worth showing, from the model's top jobs and the next job on the route
        to the goal: never the current job, the goal itself (the pathway is about it), a job below
        the current one's level, or one of whose required skills the person holds none. The next
        job on the route comes first, then the rest by how much of each the person holds plus how
        close its skills are to the goal's."""
        prof = result["profile"]
        skills = {s["id"] for s in prof["skills"]}
        job = self.catalog.jobs[prof["job"]["id"]] if prof["job"] else None
        goal = self.catalog.jobs[prof["goal"]["id"]] if prof["goal"] else None
        options = {j["id"]: j for j in result["next_jobs"]}
        hop = self.rec.progression.next_hop(job.id, goal.id) if job and goal else None
        if hop and hop not in options:
            options[hop] = self._job_option(hop, skills)

        def score(j: str) -> tuple:
            cand = self.catalog.jobs[j]
            return (
                j != hop,
                -(coverage(skills, cand) + (overlap(cand, goal) if goal else 0.0)),
                -options[j]["probability"],
            )

        keep = [
            j
            for j in options
            if (job is None or (j != job.id and self.catalog.jobs[j].level >= job.level))
            and (goal is None or j != goal.id)
            and coverage(skills, self.catalog.jobs[j]) > 0
        ]
        return [options[j] for j in sorted(keep, key=score)[:k]]

    def _job_option(self, job_id: str, skills: set[str]) -> dict:
        job = self.catalog.jobs[job_id]
        gap = [s for s, _ in skill_gap(skills, job)]
        reason = f"you hold {coverage(skills, job):.0%} of its required skills"
        reason += f"; missing {', '.join(self.catalog.skill_names(gap[:4]))}" if gap else "; ready now"
        return {
            "kind": "job",
            "id": job.id,
            "title": job.title,
            "probability": 0.0,
            "skills_added": self.catalog.skill_names(gap),
            "reason": reason,
            "level": job.level,
        }

    def _similar(self, course_id: str, state: ChatState) -> tuple[str, list[str]] | None:
        """Alternatives to the first recommended course: same cluster (or, in a catalog without
        clusters, at least :data:`SIMILAR_MIN_OVERLAP` Jaccard overlap of taught skills) and a
        level at most one apart."""
        if course_id not in self.catalog.courses:
            return None
        me = self.catalog.courses[course_id]
        taken = set(state.profile.courses)
        out = []
        for c in (self.catalog.courses[i] for i in similar_courses(self.catalog, course_id, 30)):
            alike = (
                c.cluster == me.cluster
                if me.cluster >= 0 and c.cluster >= 0
                else _jaccard(set(c.skills), set(me.skills)) >= SIMILAR_MIN_OVERLAP
            )
            if (
                alike
                and abs(c.level - me.level) <= 1
                and self.rec._course_allowed(c, taken, state.constraints)
            ):
                out.append(c.title)
        return (me.title, out[:3]) if out else None


def _relaxations(steps: int, hours: float | None) -> list[tuple[int, float | None]]:
    """Looser limits to try when the person's miss the goal (four pathway searches at most): one
    more step, then the default number of steps (or two more), each with the same hour cap and
    without one."""
    out: list[tuple[int, float | None]] = []
    for s in (steps + 1, max(DEFAULT_STEPS, steps + 2)):
        for h in dict.fromkeys([hours, None]):
            if (s, h) not in out:
                out.append((s, h))
    return out


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / max(len(a | b), 1)
