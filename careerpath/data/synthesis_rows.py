"""Events as dataset rows: :func:`event_to_texts` (the text format's input and target),
:func:`event_to_row` (the row's fields) and :class:`RowWriter`, which writes the same JSON line
faster from fragments made once per catalog name."""

from __future__ import annotations

import json
from typing import NamedTuple

from careerpath.core.catalog import Catalog
from careerpath.core.context import Context, GapRetriever, add_context
from careerpath.core.textformat import (
    STAY,
    Profile,
    Step,
    _escape,
    check_value,
    serialise_input,
    serialise_target,
)
from careerpath.data.synthesis_config import Event
from careerpath.data.synthesis_record import probs_dict

_CACHE_MAX = 200_000  # strings cached by the row writer; cleared when full
_JSON = json.JSONEncoder(ensure_ascii=False).encode
_NO_GOAL = ('""', '""', "")  # the goal fragments of a person who states none


class RowTables(NamedTuple):
    """A :class:`RowWriter`'s fragments by catalog index (:meth:`RowWriter.index_tables`), for rows
    made without events."""

    fragments: tuple  # skills, courses, jobs: each (name JSON, id JSON, text) lists
    jobs: list  # per job: (name JSON, id JSON, text, family JSON, level JSON)
    courses: list  # per course: (name JSON, id JSON, text)
    next_jobs: list  # per job as the next job: (name JSON, text, id JSON)
    stay: tuple  # staying, as the next job
    no_goal: tuple  # the goal of a person who states none


def event_to_texts(ev: Event, catalog: Catalog, context: GapRetriever | None = None) -> tuple[Profile, Step]:
    """The structured event as the text format's input and target (with the catalog context of
    ``context``, when given: see ``careerpath/core/context.py``)."""
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
        "probs": probs_dict(ev.probs),
        "probs_visible": probs_dict(ev.probs_visible),
        "job_given_course": probs_dict(ev.job_given_course),
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
        # the next job's (name JSON, text, id JSON)
        self._next = {i: (v[0], v[2], v[1]) for i, v in self._job.items()}
        self._stay_next = (js(STAY), text(STAY), js(STAY))
        self._str: dict[str, str] = {}
        self._key = {i: f"{js(i)}: " for i in [*catalog.courses, *catalog.jobs, STAY]}
        # skills, courses, jobs: one dict per fragment (name JSON, id JSON, text) for the joins of a
        # row's lists
        self._by_id = tuple(
            tuple({i: v[k] for i, v in table.items()} for k in range(3))
            for table in (self._skill, self._course, self._job)
        )
        self._index_key: tuple | None = None
        self._index: RowTables | None = None
        # ids whose names the text format rejects: their rows take the plain path
        self._bad = {
            i for table in (self._skill, self._course, self._job) for i, v in table.items() if not v[2]
        }

    def index_tables(self, skills: list[str], courses: list[str], jobs: list[str]) -> RowTables | None:
        """The fragments by catalog index of ``skills``, ``courses`` and ``jobs`` (ids in the
        generator's order), for rows made without events
        (:meth:`~careerpath.data.synthesis.Synthesiser.batch_rows`). None when an id is not this
        writer's catalog's or a name is one the text format rejects (made once per order)."""
        key = (tuple(skills), tuple(courses), tuple(jobs))
        if self._index_key != key:
            self._index_key, self._index = key, None
            if not self._bad and all(i in self._skill for i in skills):
                if all(i in self._course for i in courses) and all(i in self._job for i in jobs):
                    frags = tuple(
                        tuple([table[k][i] for i in order] for k in range(3))
                        for table, order in zip(self._by_id, (skills, courses, jobs))
                    )
                    self._index = RowTables(
                        frags,
                        [self._job[i] for i in jobs],
                        [self._course[i] for i in courses],
                        [self._next[i] for i in jobs],
                        self._stay_next,
                        _NO_GOAL,
                    )
        return self._index

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
        ctx = _context_of(ev, self.context) if self.context is not None else None
        if self._bad:
            ids = {ev.goal, ev.job, ev.next_course, ev.next_job, *ev.history, *ev.skills, *ev.courses}
            ids |= set(ev.skills_gained)
            if ctx is not None:
                ids |= {ctx.next_step, *ctx.best, *ctx.options, *ctx.ready_after}
            if ids & self._bad:
                raise KeyError("not a plain name")
        J, (_, jo_i, jo_t) = self._job, self._by_id[2]
        # a person who states no goal: an empty goal in the text and the row
        goal = J[ev.goal] if ev.goal_stated else _NO_GOAL
        nj = ev.next_job
        if ctx is not None:
            step = ctx.next_step
            ctx = ((jo_t[step], jo_i[step]) if step else None, ctx.best, ctx.options, ctx.ready_after)
        uid = ev.user_id
        # the generator's ids (u0000042) need no escaping: json.dumps only for other ids
        uid = f'"{uid}"' if uid.isalnum() and uid.isascii() else json.dumps(uid, ensure_ascii=False)
        return self.compose(
            self._by_id,
            uid,
            int(ev.step),
            goal,
            J[ev.job],
            J[ev.start_job],
            self.joined(ev.history, self._by_id[2], " > "),
            self.joined(ev.courses, self._by_id[1], "; "),
            (ev.skills, ev.skills_gained),
            self._course[ev.next_course],
            self._stay_next if nj == STAY else self._next[nj],
            self._js(ev.user_type),
            (self._probs(ev.probs), self._probs(ev.probs_visible), self._probs(ev.job_given_course)),
            ctx,
        )

    @staticmethod
    def joined(keys, table, sep: str) -> tuple[str, str, str]:
        """The texts of ``keys`` joined by ``sep``, their name JSONs and their id JSONs joined by
        ", " (``table``: a (name JSON, id JSON, text) table the keys index)."""
        names, ids, texts = table
        return (
            sep.join([texts[x] for x in keys]),
            ", ".join([names[x] for x in keys]),
            ", ".join([ids[x] for x in keys]),
        )

    @staticmethod
    def appended(joins: tuple[str, str, str], key, table, sep: str) -> tuple[str, str, str]:
        """:meth:`joined` of the keys of ``joins`` and then ``key``, from ``joins`` itself."""
        names, ids, texts = table
        if not joins[1]:  # no keys yet (a name JSON is never empty)
            return texts[key], names[key], ids[key]
        return joins[0] + sep + texts[key], joins[1] + ", " + names[key], joins[2] + ", " + ids[key]

    def compose(
        self, fragments, uid, step, goal, job, start, history, courses, lists, nc, nj, user_type, probs, ctx
    ) -> str:
        """The JSON line of a row from its fragments.

        ``fragments``: the (name JSON, id JSON, text) tables of skills, courses and jobs (dicts by
        id, or :class:`RowTables` lists by catalog index) that the keys of ``lists`` (skills,
        skills gained) and of ``ctx`` index; ``history`` and ``courses``: :meth:`joined`;
        ``goal``, ``job``, ``start``: a job's (name JSON, id JSON, text, family JSON, level JSON)
        (an unstated goal: empty); ``nc``: the next course's (name JSON, id JSON, text); ``nj``:
        the next job's (name JSON, text, id JSON); ``user_type``: its JSON; ``probs``: the JSON of
        probs, probs_visible and job_given_course; ``ctx``: None, or the next step's (text, id
        JSON) (None when empty), then the best, options and ready-after courses."""
        (sk_n, sk_i, sk_t), (co_n, co_i, co_t), _ = fragments
        skills, gained = lists
        # the text format: "name: value" ("name:" when empty), " | " between fields; a list's
        # names JSON is empty only when the list is
        input_text = (
            (f"goal: {goal[2]} | job: {job[2]} | " if goal[2] else f"goal: | job: {job[2]} | ")
            + (f"history: {history[0]}" if history[1] else "history:")
            + (f" | skills: {', '.join([sk_t[x] for x in skills])}" if skills else " | skills:")
            + (f" | courses: {courses[0]}" if courses[1] else " | courses:")
        )
        ctx_json = ""
        if ctx is not None:
            step_of, best, options, ready = ctx
            input_text += (
                (f" | next_step: {step_of[0]}" if step_of else " | next_step:")
                + (f" | best: {'; '.join([co_t[x] for x in best])}" if best else " | best:")
                + (f" | options: {'; '.join([co_t[x] for x in options])}" if options else " | options:")
                + (f" | ready_after: {'; '.join([co_t[x] for x in ready])}" if ready else " | ready_after:")
            )
            ctx_json = (
                f', "next_step_id": {step_of[1] if step_of else chr(34) * 2}, '
                f'"best_ids": [{", ".join([co_i[x] for x in best])}], '
                f'"option_ids": [{", ".join([co_i[x] for x in options])}], '
                f'"ready_ids": [{", ".join([co_i[x] for x in ready])}]'
            )
        target_text = (
            f"next_course: {nc[2]} | "
            + (f"skills_gained: {', '.join([sk_t[x] for x in gained])}" if gained else "skills_gained:")
            + f" | next_job: {nj[1]}"
        )
        return (
            f'{{"user_id": {uid}, "step": {step}, '
            f'"input_text": "{input_text}", "target_text": "{target_text}", '
            f'"goal": {goal[0]}, "job": {job[0]}, "history": [{history[1]}], '
            f'"skills": [{", ".join([sk_n[x] for x in skills])}], '
            f'"courses": [{courses[1]}], '
            f'"next_course": {nc[0]}, "skills_gained": [{", ".join([sk_n[x] for x in gained])}], '
            f'"next_job": {nj[0]}, '
            f'"goal_id": {goal[1]}, "job_id": {job[1]}, "history_ids": [{history[2]}], '
            f'"skill_ids": [{", ".join([sk_i[x] for x in skills])}], '
            f'"course_ids": [{courses[2]}], '
            f'"next_course_id": {nc[1]}, "skills_gained_ids": [{", ".join([sk_i[x] for x in gained])}], '
            f'"next_job_id": {nj[2]}, "start_family": {start[3]}, "start_level": {start[4]}, '
            f'"job_family": {job[3]}, "job_level": {job[4]}, "user_type": {user_type}, '
            f'"probs": {probs[0]}, "probs_visible": {probs[1]}, '
            f'"job_given_course": {probs[2]}'
            f"{ctx_json}}}\n"
        )

    def _probs(self, probs: dict) -> str:
        js = getattr(probs, "json", None)  # made by the generator with the numbers
        return js if js is not None else _JSON(probs)  # what json.dumps writes (its C encoder)
