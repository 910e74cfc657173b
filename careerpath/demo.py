"""The chat demo: a person describes themselves, gets a pathway, and rates it.

``careerpath serve`` (and ``space/app.py`` on a Hugging Face Space) runs a Gradio 6 Blocks chat.
The conversation keeps the person's profile; follow-ups change it ("I already know statistics",
"make it shorter", "no courses from Coursify", "what about data engineer instead?"); a new
self-description ("I'm a registered nurse ...") or "start over" starts a new profile. The rules
are in :mod:`careerpath.conversation` and ``docs/demo.md``. A form in an accordion does the same
with catalog autocomplete. Each answer leads with the pathway (steps, course, skills gained, why,
hours), then the profile, the top next courses and jobs; a picture of the pathway sits in a
collapsed accordion. Likes and dislikes go to the :mod:`careerpath.feedback` store; "Download my
data" and "Delete my data" act on this session's rows only.

All the conversation logic lives in :class:`DemoEngine` (plain Python, tested directly); the
Gradio layer only wires it to components.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import os
import re
import signal
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from careerpath import conversation
from careerpath.conversation import MAX_MESSAGE_CHARS, Snapshot, classify, profile_changes
from careerpath.feedback import FeedbackError, FeedbackEvent, FeedbackStore, SessionExports, new_session_id
from careerpath.profile import ResolvedProfile
from careerpath.recommend import Constraints, Recommender
from data_prep.progression import coverage, overlap, skill_gap

log = logging.getLogger(__name__)

MAX_TURNS_KEPT = 200  # answers remembered per session for rating
DEFAULT_STEPS = 6
SHORT_HOURS = 20.0
# in a catalog without course clusters, "similar" courses share this share of their taught skills
SIMILAR_MIN_OVERLAP = 0.3
PRIVACY_NOTICE = (
    "**Privacy.** When you rate an answer we keep: a random session id, the profile as catalog "
    "entries (job, skills, courses, goal), what was shown, your rating, the model version and the "
    "time; not your words (unless the operator turned that on), never your IP address or browser. "
    "Rows are deleted after {days} days. *Download my data* makes a fresh file of them for that "
    "click, which is deleted from the server once sent; *Delete my data* deletes the rows and any "
    "download file (they are then left out of any later training). You can also type *show my "
    "data* or *delete my data*."
)
EXAMPLES = [
    "I'm a data analyst, I know SQL and Excel, I want to become a machine learning engineer",
    "I work as a nurse and want to move into health informatics",
    "make it shorter",
]

_SHORTER = re.compile(r"\b(?:shorter|quicker|faster|less time|fewer (?:steps|courses|hours))\b", re.I)
_REACH = re.compile(r"\b(?:reach (?:the|my) goal|use (?:the|that) (?:plan|shortest plan))\b", re.I)
_PROVIDER = re.compile(
    r"\b(?:no|without|not|exclude|skip|avoid|don't want|do not want)\s+(?:any\s+)?(?:courses?\s+)?(?:from|by)\s+(?P<p>[^.,;!?\n]+)",
    re.I,
)
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$])")
_MARKUP = re.compile(r"[*_`#>~|]+")


def escape(text: str) -> str:
    """User or catalog text made inert in the chat's markdown: no HTML, no markdown syntax."""
    text = _MD_SPECIAL.sub(r"\\\1", str(text).replace("\n", " "))
    return html.escape(text, quote=False)


@dataclass
class ChatState:
    """What one browser session carries between messages (a ``gr.State``)."""

    session_id: str = field(default_factory=new_session_id)
    profile: ResolvedProfile = field(default_factory=ResolvedProfile)
    constraints: Constraints = field(default_factory=Constraints)
    max_steps: int = DEFAULT_STEPS
    form: tuple = ()
    answers: dict[int, dict] = field(default_factory=dict)  # chat message index -> what was shown
    unknown_job: str | None = None  # the job the person named that the catalog does not know
    offer: tuple[int, float | None] | None = None  # (steps, hours) of a plan that reaches the goal
    api_messages: int = 0  # messages in this session's chat through the API (for rating indices)

    def fresh(self) -> ChatState:
        """A new profile in the same session: ratings already given can still be rated/deleted."""
        return ChatState(session_id=self.session_id, answers=self.answers, api_messages=self.api_messages)

    def has_profile(self) -> bool:
        p = self.profile
        return bool(p.job or p.goal or p.skills or p.courses or self.unknown_job)


@dataclass
class Answer:
    markdown: str
    image: object | None  # PIL image of the pathway, or None
    payload: dict | None  # what was shown, for feedback; None when nothing was recommended


def _say(markdown: str) -> Answer:
    return Answer(markdown, None, None)


class DemoEngine:
    """Turns chat messages into recommendations and ratings into feedback rows."""

    def __init__(
        self,
        recommender: Recommender,
        store: FeedbackStore,
        retention_days: float = 90,
        exports: SessionExports | None = None,
    ):
        self.rec = recommender
        self.store = store
        self.retention_days = retention_days
        self.catalog = recommender.catalog
        self.providers = sorted({c.provider for c in self.catalog.courses.values()})
        self._exports = exports

    @property
    def exports(self) -> SessionExports:
        """The download files (a private folder made on first use; ``build_app`` puts it in
        gradio's cache folder so that gradio serves it without making a copy)."""
        if self._exports is None:
            self._exports = SessionExports()
        return self._exports

    @exports.setter
    def exports(self, value: SessionExports) -> None:
        if self._exports is not None:
            self._exports.close()
        self._exports = value

    # -- conversation ------------------------------------------------------------------------
    def handle(self, message, state: ChatState | None, form: dict | None = None) -> tuple[Answer, ChatState]:
        """One message (and the form's values) -> the answer and the new state."""
        state = state or ChatState()
        if not isinstance(message, str):
            message = str(message or "")
        if len(message) > MAX_MESSAGE_CHARS:
            return _say(
                f"Your message has {len(message):,} characters; please keep it under "
                f"{MAX_MESSAGE_CHARS:,} (a few sentences about your job, skills and goal)."
            ), state
        intent = classify(_MARKUP.sub(" ", message))  # markdown emphasis is not part of a name
        if intent.kind == "delete_data":
            n = self.delete_data(state)
            return _say(f"Deleted {n} stored rating(s) of this session. Nothing else was kept."), state
        if intent.kind == "show_data":
            return self._show_data(state), state
        if intent.kind == "foreign":
            return _say(conversation.foreign_reply(intent.language)), state
        if intent.kind == "empty" and not self._form_changed(state, form):
            return _say(
                "Your message was empty. Tell me about yourself, e.g. "
                f"*{conversation.EXAMPLE}*, or use the form below the chat."
            ), state
        return self._converse(intent, state, form)

    def _converse(self, intent, state: ChatState, form: dict | None) -> tuple[Answer, ChatState]:
        notes: list[str] = []
        text = intent.text
        if intent.reset:
            state = state.fresh()
            notes.append("Starting over: profile and preferences cleared.")
        desc = self._self_description(text)
        new_person = None
        if (
            desc
            and state.has_profile()
            and conversation.describes_new_person(text, state.profile.job, desc[1])
        ):
            new_person = desc
            state = state.fresh()
        before = Snapshot.of(state.profile)
        matches_from, warn_from = len(state.profile.matches), len(state.profile.warnings)
        understood = intent.reset or self._apply_form(state, form)
        text, tweaked = self._apply_tweaks(text, state, notes)
        understood |= tweaked
        if text.strip():
            self.rec.resolver.from_text(text, state.profile)
        prof = state.profile
        warnings = prof.warnings[warn_from:]
        matched = prof.matches[matches_from:]
        understood |= bool(matched) or Snapshot.of(prof) != before
        self._note_job(state, desc)
        if new_person is not None and new_person[1] is None:  # the new-profile line says it
            warnings = [w for w in warnings if not w.startswith(f"unknown job {new_person[0][:60]!r}")]
        del prof.warnings[:-50]  # a long session keeps bounded state
        del prof.matches[:-100]
        if new_person is not None:
            notes.insert(0, self._new_profile_line(new_person, state))
        elif not intent.reset and before != Snapshot(None, None, (), ()):
            notes += self._update_lines(before, state.profile, matched)
        if not understood and new_person is None:
            return _say(
                "\n\n".join([*notes, *_warn_lines(warnings), conversation.not_understood_reply()])
            ), state
        if not prof.job and not prof.skills and not prof.courses and not prof.goal:
            hint = (
                "Tell me about yourself: your current job, skills you have, courses you took and the "
                "job you want, e.g. *I'm a data analyst, I know SQL and Excel, I want to become a "
                "machine learning engineer*. Or use the form below the chat."
            )
            return _say("\n\n".join([*notes, *_warn_lines(warnings), hint])), state
        return self._answer(state, notes, warnings), state

    def _self_description(self, text: str) -> tuple[str, str | None] | None:
        """``(phrase, job id or None)`` of "I'm a ...", "I work as ..." in the message, or None."""
        phrase = conversation.self_description(text)
        return (phrase, self.rec.resolver.resolve("job", phrase)[0]) if phrase else None

    def _note_job(self, state: ChatState, desc: tuple[str, str | None] | None) -> None:
        """Remember a job the person named that the catalog lacks (shown in the profile line)."""
        if desc is not None and desc[1] is None:
            state.unknown_job = desc[0][:60]
        elif state.profile.job:
            state.unknown_job = None

    def _new_profile_line(self, new_person: tuple[str, str | None], state: ChatState) -> str:
        phrase, hit = new_person
        if hit:
            title = self.catalog.jobs[hit].title
            return f"I've started a new profile for {_article(title)} {escape(title)}."
        return (
            f"I've started a new profile. I don't know the job '{escape(phrase[:60])}' (it is not in the "
            "catalog), so your current job is left empty: tell me the closest catalog job, or your "
            "skills, for a better plan."
        )

    def _update_lines(self, before: Snapshot, prof: ResolvedProfile, matched: list[dict]) -> list[str]:
        lines = []
        changes = profile_changes(before, Snapshot.of(prof), self.catalog.name)
        if changes:
            lines.append("Updated your profile: " + escape("; ".join(changes)) + ".")
        lacking = [m["name"] for m in matched if m.get("how") == "absent"]
        if lacking:
            lines.append("Noted: you don't have " + escape(", ".join(lacking)) + " yet.")
        return lines

    def _form_changed(self, state: ChatState, form: dict | None) -> bool:
        if not form:
            return False
        key = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(form.items()))
        return key != state.form

    def _apply_form(self, state: ChatState, form: dict | None) -> bool:
        """Resolve the form's values into the profile when they changed; True when they did."""
        if not self._form_changed(state, form):
            return False
        state.form = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(form.items()))
        self.rec.resolver.from_fields(
            job=form.get("job") or None,
            skills=form.get("skills") or [],
            courses=form.get("courses") or [],
            goal=form.get("goal") or None,
            prof=state.profile,
        )
        return True

    def _apply_tweaks(self, text: str, state: ChatState, notes: list[str]) -> tuple[str, bool]:
        """ "make it shorter", "reach the goal", "no courses from X": constraints; returns the text
        left to resolve and whether any tweak was understood."""
        tweaked = False
        if _REACH.search(text) and state.offer:
            state.max_steps, state.constraints.max_hours = state.offer
            state.offer = None
            notes.append(
                f"Using the shortest plan that reaches your goal (at most {state.max_steps} course steps)."
            )
            text, tweaked = _REACH.sub("", text), True
        if _SHORTER.search(text):
            state.max_steps = max(2, state.max_steps - 2)
            cur = state.constraints.max_hours
            state.constraints.max_hours = SHORT_HOURS if cur is None else max(5.0, cur / 2)
            notes.append(
                f"Shorter: courses of at most {state.constraints.max_hours:g} hours, "
                f"at most {state.max_steps} course steps."
            )
            text, tweaked = _SHORTER.sub("", text), True
        for m in _PROVIDER.finditer(text):
            raw = m.group("p").strip()
            hit = self._provider(raw)
            tweaked = True
            if hit:
                if hit not in state.constraints.exclude_providers:
                    state.constraints.exclude_providers.append(hit)
                notes.append(f"No courses from {escape(hit)}.")
            else:
                notes.append(
                    f"I don't know a provider called {escape(raw[:60])}; providers are "
                    f"{escape(', '.join(self.providers))}."
                )
        return _PROVIDER.sub("", text), tweaked

    def _answer(self, state: ChatState, notes: list[str], warnings: list[str]) -> Answer:
        prof = state.profile
        # the model is read-only at serving time: concurrent requests share it without a lock
        result = self.rec.recommend(prof, top_k=10, constraints=state.constraints)
        path = (
            # a step budget only once the person asked for shorter (no step cap by default)
            self.rec.pathway(
                prof,
                max_steps=state.max_steps if state.max_steps < DEFAULT_STEPS else None,
                constraints=state.constraints,
            )
            if prof.goal
            else None
        )
        tradeoff = self._tradeoff(state, path)
        path_d = path.as_dict() if path else None
        for step in path_d["steps"] if path_d else []:
            if step["kind"] == "course":
                step["provider"] = self.catalog.courses[step["id"]].provider
        result = {
            **result,
            "next_courses": result["next_courses"][:5],
            "next_jobs": self.rank_jobs(result),
        }
        payload = self._payload(state, result, path)
        md = render_answer(
            result,
            path_d,
            notes,
            warnings,
            self._similar(payload["item_id"], state),
            tradeoff=tradeoff,
            unknown_job=state.unknown_job,
        )
        image = pathway_image(path_d) if path_d and path_d["steps"] else None
        return Answer(md, image, payload)

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
        from data_prep.clustering import similar_courses

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

    def _provider(self, raw: str) -> str | None:
        from rapidfuzz import fuzz, process, utils

        raw = re.sub(r"\b(?:please|anymore|again|thanks?)\b", "", raw, flags=re.I).strip()
        best = process.extractOne(raw, self.providers, scorer=fuzz.WRatio, processor=utils.default_process)
        return best[0] if best and best[1] >= 85 else None

    def _payload(self, state: ChatState, result: dict, path) -> dict:
        prof = state.profile
        steps = path.steps if path else []
        first_course = next((s.id for s in steps if s.kind == "course"), None)
        item = first_course or (result["next_courses"][0]["id"] if result["next_courses"] else None)
        shown = [s.id for s in steps] + [c["id"] for c in result["next_courses"]]
        shown += [j["id"] for j in result["next_jobs"]]
        return {
            "profile": {
                "job": prof.job,
                "goal": prof.goal,
                # what the model was given: with skills assumed from the job when none were said
                "skills": [s["id"] for s in result["profile"]["skills"]],
                "courses": list(prof.courses),
            },
            "shown": list(dict.fromkeys(shown)),
            "item_kind": "course" if item else "job",
            "item_id": item or (result["next_jobs"][0]["id"] if result["next_jobs"] else ""),
            "text": None,
        }

    def remember(self, state: ChatState, message_index: int, payload: dict | None, raw_text: str) -> None:
        if payload is None:
            return
        payload = {**payload, "text": raw_text[:MAX_MESSAGE_CHARS] if self.store.keep_raw_text else None}
        state.answers[int(message_index)] = payload
        while len(state.answers) > MAX_TURNS_KEPT:
            state.answers.pop(min(state.answers))

    # -- feedback ----------------------------------------------------------------------------
    def rate(self, state: ChatState | None, message_index: int, liked: bool) -> str:
        if state is None or int(message_index) not in state.answers:
            return "Nothing to rate there: rate an answer that recommended something."
        p = state.answers[int(message_index)]
        if not p["item_id"]:
            return "Nothing to rate there."
        try:
            self.store.add(
                FeedbackEvent(
                    session_id=state.session_id,
                    item_kind=p["item_kind"],
                    item_id=p["item_id"],
                    rating=1 if liked else -1,
                    profile=p["profile"],
                    shown=p["shown"],
                    model_version=self.rec.model_version,
                    raw_text=p["text"],
                )
            )
        except FeedbackError as e:  # pragma: no cover - payloads are built from catalog ids
            log.warning("feedback rejected: %s", e)
            return "Sorry, that rating could not be stored."
        return f"Thanks, your {'like' if liked else 'dislike'} was saved."

    # -- the person's data -------------------------------------------------------------------
    def _show_data(self, state: ChatState) -> Answer:
        rows = self.store.rows(state.session_id)
        # inside a code block; backticks and angle brackets (only in operator-enabled raw text) made inert
        body = html.escape(json.dumps(rows, indent=1)[:6000].replace("`", "'"), quote=False)
        return _say(
            f"Kept about this session ({len(rows)} row(s)); use *Download my data* (in the data panel) to download "
            f"them as JSON:\n\n```json\n{body}\n```"
        )

    def export_session(self, state: ChatState | None) -> str | None:
        """A fresh JSON file of the session's rows, made for this request (the previous export of
        the session is deleted first); None without a session."""
        if state is None:
            return None
        rows = self.store.rows(state.session_id)
        return str(self.exports.write(state.session_id, {"session_id": state.session_id, "rows": rows}))

    def forget_export(self, state: ChatState | None) -> None:
        """Called once the download was served: the file leaves the server."""
        if state is not None:
            self.exports.remove(state.session_id)

    def delete_data(self, state: ChatState | None) -> int:
        """Delete the session's rows and its download file; the number of rows deleted."""
        if state is None:
            return 0
        self.exports.remove(state.session_id)
        return self.store.delete_session(state.session_id)


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


def _article(title: str) -> str:
    return "an" if title[:1].lower() in "aeiou" else "a"


def _warn_lines(warnings: list[str]) -> list[str]:
    return [f"**Note:** {escape(w)}" for w in warnings[:6]]


def render_answer(
    result: dict,
    path: dict | None,
    notes: list[str],
    warnings: list[str],
    similar: tuple | None = None,
    tradeoff: str | None = None,
    unknown_job: str | None = None,
) -> str:
    """Markdown for one answer, the plan first (a phone shows the top of an answer): notes, the
    pathway, the trade-off, the profile line, next courses, similar courses, next jobs. Every
    catalog or user string goes through :func:`escape`; no line is said twice."""
    lines = list(notes) + _warn_lines(warnings)
    lines += _pathway_lines(path)
    if tradeoff:
        lines.append(tradeoff)
    lines.append(_profile_line(result["profile"], unknown_job))
    if not result["profile"]["goal"]:
        lines.append("Say which job you want (*I want to become ...*) and I'll plan a pathway to it.")
    if result["next_courses"]:
        lines.append("**Top next courses**")
        for c in result["next_courses"][:5]:
            adds = ", ".join(escape(x) for x in c["skills_added"][:4])
            what = f"adds {adds}" if adds else "revision"
            lines.append(
                f"- **{escape(c['title'])}** ({escape(c['provider'])}, {c['hours']:g} h): {what}{_why(c['reason'])}"
            )
    if similar:
        lines.append(f"**Similar to {escape(similar[0])}**: " + ", ".join(escape(t) for t in similar[1]))
    if result["next_jobs"]:
        goal = result["profile"]["goal"]
        lines.append(
            f"**Next job options** (towards {escape(goal['title'])})" if goal else "**Next job options**"
        )
        for j in result["next_jobs"][:3]:
            chance = f" ({j['probability']:.0%})" if j["probability"] else ""
            lines.append(f"- **{escape(j['title'])}**{chance}: {escape(j['reason'])}")
    lines.append(
        "_Rate this answer with the thumbs up or down below it: it helps improve the recommendations._"
    )
    return "\n\n".join(dict.fromkeys(lines))


def _pathway_lines(path: dict | None) -> list[str]:
    if not path or not path["goal"]:
        return []
    head = f"**Pathway to {escape(path['goal']['title'])}**: {escape(path['note'])}"
    if path["steps"]:
        head += f"; {len(path['steps'])} step(s), {path['total_hours']:g} hours of courses"
    lines = [head]
    for i, s in enumerate(path["steps"], 1):
        if s["kind"] == "course":
            c = f" from {escape(s['provider'])}" if s.get("provider") else ""
            gained = ", ".join(escape(x) for x in s["skills_gained"]) or "nothing new"
            lines.append(
                f"{i}\\. Take **{escape(s['title'])}**{c} ({s['hours']:g} h). Gains: {gained}{_why(s['reason'])}. "
                f"Goal covered: {s['goal_coverage']:.0%}"
            )
        else:
            lines.append(f"{i}\\. Move to **{escape(s['title'])}**. Why: {escape(s['reason'])}")
    return lines


def _why(reason: str) -> str:
    """The part of a course's reason that the skills it adds do not already say: "covers Git,
    needed for your goal X" after "adds Git" becomes ", needed for your goal X"; a plain "adds
    ..." reason says nothing more. What follows a ";" (e.g. "first learn Python") is kept."""
    head, _, tail = reason.partition("; ")
    if head.startswith("covers ") and ", needed for " in head:
        head = "needed for " + head.split(", needed for ", 1)[1]
    elif head.startswith(("adds ", "revises ")):
        head = ""
    parts = [p for p in (head, tail) if p]
    return ", " + escape("; ".join(parts)) if parts else ""


def _profile_line(prof: dict, unknown_job: str | None) -> str:
    skills = [s["name"] for s in prof["skills"]]
    shown = ", ".join(escape(s) for s in skills[:10]) + (
        f" and {len(skills) - 10} more" if len(skills) > 10 else ""
    )
    if prof["job"]:
        job = escape(prof["job"]["title"])
    elif unknown_job:
        job = f"(not in the catalog: {escape(unknown_job)})"
    else:
        job = "(not given)"
    assumed = (
        " (assumed from your job; tell me your skills to change them)" if prof.get("skills_assumed") else ""
    )
    return (
        f"**Your profile**: job {job} · "
        f"goal {escape(prof['goal']['title']) if prof['goal'] else '(not given)'} · "
        f"skills {shown or '(none yet)'}{assumed}"
    )


_BLUE, _GREEN = (47, 111, 222), (26, 154, 92)
_FONTS: dict[int, object] = {}
_LABELS: dict[tuple[str, int], object] = {}  # rendered text, by text and size


def _font(size: int):
    """Pillow's bundled font at ``size`` px (made once per size: loading it is the slow part)."""
    from PIL import ImageFont

    if size not in _FONTS:
        _FONTS[size] = ImageFont.load_default(size=size)
    return _FONTS[size]


def _label(text: str, size: int):
    """``text`` rendered once as a grey-level mask (FreeType takes about 1 ms a string; course
    titles, step numbers and ticks recur from answer to answer)."""
    from PIL import Image, ImageDraw

    key = (text, size)
    mask = _LABELS.get(key)
    if mask is None:
        font = _font(size)
        left, top, right, bottom = font.getbbox(text, anchor="lt")
        mask = Image.new("L", (max(1, right), max(1, bottom)))
        ImageDraw.Draw(mask).text((0, 0), text, fill=255, font=font, anchor="lt")
        if len(_LABELS) > 4096:
            _LABELS.clear()
        _LABELS[key] = mask
    return mask


def _write(draw, xy: tuple[int, int], text: str, size: int, fill, anchor: str) -> None:
    """``text`` at ``xy``; ``anchor``: l/m/r (horizontal) then t/m (vertical), as Pillow's."""
    mask = _label(text, size)
    x, y = xy
    x -= {"l": 0, "m": mask.width // 2, "r": mask.width}[anchor[0]]
    y -= {"t": 0, "m": mask.height // 2}[anchor[1]]
    draw.bitmap((x, y), mask, fill=fill)


def pathway_image(path: dict):
    """A timeline of the pathway (courses and job moves, goal coverage) as a PIL image: one bar per
    step, as long as the share of the goal's skills held after it, labelled with the step.

    Drawn with Pillow directly, labels rendered once and reused: a few ms on one core, where
    matplotlib took about 0.4 s, most of the time of a demo answer (docs/performance.md)."""
    from PIL import Image, ImageDraw

    steps = path["steps"]
    goal = path["goal"]["title"]
    row, top, left, right, bottom = 40, 34, 34, 16, 52
    width = 630
    height = top + row * len(steps) + bottom
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    plot_w = width - left - right
    _write(draw, (width // 2, 10), f"Pathway to {goal}"[:90], 13, "black", "mt")
    y0, y1 = top, top + row * len(steps)
    draw.rectangle((left, y0, left + plot_w, y1), outline=(90, 90, 90))
    for k in range(6):  # x axis: share of the goal's skills, 0 to 1
        x = left + round(plot_w * k / 5)
        draw.line((x, y1, x, y1 + 4), fill=(90, 90, 90))
        _write(draw, (x, y1 + 6), f"{k / 5:.1f}", 11, "black", "mt")
    axis = f"share of {goal}'s skills covered after each step"[:100]
    _write(draw, (left + plot_w // 2, y1 + 24), axis, 11, "black", "mt")
    for i, s in enumerate(steps):
        yc = y0 + row * i + row // 2
        share = min(max(float(s["goal_coverage"]), 0.02), 1.0)
        color = _BLUE if s["kind"] == "course" else _GREEN
        draw.rectangle((left + 1, yc - 13, left + round(plot_w * share), yc + 13), fill=color)
        _write(draw, (left - 6, yc), str(i + 1), 11, "black", "rm")
        label = ("course: " if s["kind"] == "course" else "move: ") + s["title"]
        label += f"  ({s['hours']:g} h)" if s["hours"] else ""
        ink = "white" if share > 0.5 else "black"
        _write(draw, (left + 7, yc), label[:70], 11, ink, "lm")
    return img


# ---------------------------------------------------------------------------------------------- gradio


CSS = """
/* rating controls big enough for a finger (the default icons are 18 px) */
#careerpath-chat button[aria-label="Like"], #careerpath-chat button[aria-label="Dislike"] {
  min-width: 44px; min-height: 44px; padding: 8px;
}
#careerpath-chat button[aria-label="Like"] svg, #careerpath-chat button[aria-label="Dislike"] svg {
  width: 24px; height: 24px;
}
"""
# Downloads the export made for this click: fetched completely before the next step deletes it
# from the server (so the file is never served twice and never left behind).
DOWNLOAD_JS = """
async (file) => {
  if (!file || !file.url) { return []; }
  const response = await fetch(file.url);
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = file.orig_name || "careerpath-my-data.json";
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
  return [];
}
"""
# After an answer: show the top of the newest answer (the pathway), not its end.
SCROLL_JS = """
() => {
  const bots = document.querySelectorAll('#careerpath-chat [data-testid="bot"]');
  if (bots.length) { bots[bots.length - 1].scrollIntoView({block: "start", behavior: "instant"}); }
  return [];
}
"""


def _message_text(message) -> str:
    if isinstance(message, dict):  # multimodal or block-style message
        return str(message.get("text", ""))
    return message if isinstance(message, str) else str(message or "")


def _form(job_v, skills_v, courses_v, goal_v) -> dict:
    form = {"job": job_v, "skills": skills_v or [], "courses": courses_v or [], "goal": goal_v}
    return {k: v for k, v in form.items() if v}


def user_bubble(text: str) -> dict:
    """The person's message as they typed it: escaped, so markdown and HTML show as text."""
    return {"role": "user", "content": escape(text[:MAX_MESSAGE_CHARS]) or " "}


def build_app(engine: DemoEngine, concurrency: int = 2, title: str = "careerpath"):
    """The Gradio Blocks app around ``engine``.

    The chat is a ``gr.Chatbot`` with a textbox (not ``gr.ChatInterface``), so that an empty
    message is dropped before it makes a bubble and the person's own text is shown escaped.
    Endpoints: ``/chat`` (message and form -> answer), ``/feedback``, ``/my_data`` (a fresh
    export file) and ``/delete_my_data``.
    """
    import gradio as gr
    from gradio.utils import get_upload_folder

    # exports live in gradio's cache folder, so gradio serves them in place (no copy to clean up)
    engine.exports = SessionExports(get_upload_folder())
    cat = engine.catalog
    job_titles = sorted(j.title for j in cat.jobs.values())
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        gr.Markdown(
            f"# {title}: your learning and career pathway\n"
            "Describe your job, skills and the job you want; follow up to refine "
            "(*I already know statistics*, *make it shorter*, *no courses from ...*, "
            "*what about data engineer instead?*). Describing someone else (*I'm a nurse ...*) or "
            "*start over* starts a new profile. English only."
        )
        state = gr.State(None)
        pending = gr.State("")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                chatbot = gr.Chatbot(
                    label="careerpath",
                    elem_id="careerpath-chat",
                    height="65vh",
                    min_height=320,
                    latex_delimiters=[],
                    autoscroll=False,
                )
                textbox = gr.Textbox(
                    placeholder="I'm a ..., I know ..., I want to become ...",
                    show_label=False,
                    submit_btn=True,
                    max_length=MAX_MESSAGE_CHARS,
                    lines=1,
                    max_lines=6,
                )
                gr.Examples([[e] for e in EXAMPLES[:2]], inputs=[textbox], label="Examples")
                with gr.Accordion("Or fill in a form (with autocomplete from the catalog)", open=False):
                    job = gr.Dropdown(job_titles, label="Current job", value=None, allow_custom_value=True)
                    skills = gr.Dropdown(
                        sorted(s.name for s in cat.skills.values()),
                        label="Skills",
                        multiselect=True,
                        value=[],
                    )
                    courses = gr.Dropdown(
                        sorted(c.title for c in cat.courses.values()),
                        label="Courses taken",
                        multiselect=True,
                        value=[],
                    )
                    goal = gr.Dropdown(job_titles, label="Goal job", value=None, allow_custom_value=True)
                    form_btn = gr.Button("Plan with the form")
            with gr.Column(scale=2, min_width=320):
                status = gr.Markdown("")
                with gr.Accordion("Pathway picture", open=False):
                    # png: gradio encodes each answer's picture; WebP (its default) took about 30 ms
                    image = gr.Image(label="Pathway", type="pil", interactive=False, format="png")
                with gr.Accordion("Your data", open=False):
                    gr.Markdown(PRIVACY_NOTICE.format(days=f"{engine.retention_days:g}"))
                    download = gr.Button("Download my data (JSON)")
                    delete = gr.Button("Delete my data")
                    export_file = gr.File(label="Export", visible="hidden", interactive=False)
        form_inputs = [job, skills, courses, goal]

        def take_message(text, history):
            """Puts the person's message in the chat at once; an empty one is dropped."""
            text = _message_text(text)
            if not text.strip():  # nothing to add to the chat; the box is left as it is
                return gr.skip(), gr.skip(), ""
            return "", [*(history or []), user_bubble(text)], text

        def respond(text, history, job_v, skills_v, courses_v, goal_v, st):
            if not text.strip():
                return gr.skip(), gr.skip(), gr.skip()
            history = list(history or [])
            try:
                answer, st = engine.handle(text, st, _form(job_v, skills_v, courses_v, goal_v))
                engine.remember(st, len(history), answer.payload, text)
                reply = answer.markdown
                image_v = answer.image if answer.image is not None else gr.skip()
            except Exception:  # never show a traceback to a stranger
                ref = uuid.uuid4().hex[:8]
                log.exception("chat handler failed (ref %s)", ref)
                reply, image_v = f"Sorry, something went wrong on our side (reference {ref}).", gr.skip()
            return [*history, {"role": "assistant", "content": reply}], image_v, st

        def respond_to_form(history, job_v, skills_v, courses_v, goal_v, st):
            history = [*(history or []), {"role": "user", "content": "(the form)"}]
            return respond("plan it with the form", history, job_v, skills_v, courses_v, goal_v, st)

        submitted = textbox.submit(
            take_message,
            [textbox, chatbot],
            [textbox, chatbot, pending],
            queue=False,
            api_visibility="undocumented",
            trigger_mode="always_last",  # a message sent while an answer is pending waits, not lost
        )
        submitted.then(
            respond,
            [pending, chatbot, *form_inputs, state],
            [chatbot, image, state],
            concurrency_limit=concurrency,
            concurrency_id="chat",
            api_visibility="undocumented",
            trigger_mode="always_last",  # the next message's answer runs after this one, not never
        ).then(None, None, None, js=SCROLL_JS, trigger_mode="always_last")
        form_btn.click(
            respond_to_form,
            [chatbot, *form_inputs, state],
            [chatbot, image, state],
            concurrency_limit=concurrency,
            concurrency_id="chat",
            api_visibility="undocumented",
        ).then(None, None, None, js=SCROLL_JS)

        # the same conversation as an API endpoint, for gradio_client and the load benchmark
        api_message = gr.Textbox(visible=False, label="message")
        api_answer = gr.Markdown(visible=False, label="answer")
        api_btn = gr.Button(visible=False)

        def chat(message, job, skills, courses, goal, st):
            st = st or ChatState()
            answer, st = engine.handle(_message_text(message), st, _form(job, skills, courses, goal))
            st.api_messages += 2  # the message and its answer, as in a chat window
            engine.remember(st, st.api_messages - 1, answer.payload, _message_text(message))
            return answer.markdown, st

        api_btn.click(
            chat,
            [api_message, *form_inputs, state],
            [api_answer, state],
            api_name="chat",
            concurrency_limit=concurrency,
            concurrency_id="chat",
        )

        def on_like(st, data):
            index = data.index if isinstance(data.index, int) else data.index[0]
            return engine.rate(st, index, bool(data.liked))

        on_like.__annotations__["data"] = gr.LikeData  # gradio injects event data by the real type

        chatbot.like(
            on_like,
            inputs=[state],
            outputs=[status],
            api_visibility="undocumented",
            concurrency_limit=16,
            concurrency_id="feedback",
        )
        idx = gr.Number(visible=False, precision=0, label="message_index")
        liked = gr.Checkbox(visible=False, label="liked")
        rate_btn = gr.Button(visible=False)

        def rate_answer(st, message_index, liked):
            return engine.rate(st, int(message_index or 0), bool(liked))

        rate_btn.click(
            rate_answer,
            inputs=[state, idx, liked],
            outputs=[status],
            api_name="feedback",
            concurrency_limit=16,
            concurrency_id="feedback",
        )

        def my_data(st):
            st = st or ChatState()
            return engine.export_session(st), st

        def served(st):
            engine.forget_export(st)
            return None

        def delete_my_data(st):
            return f"Deleted {engine.delete_data(st)} stored rating(s) and any download file."

        download.click(my_data, [state], [export_file, state], api_name="my_data").then(
            None, [export_file], None, js=DOWNLOAD_JS
        ).then(served, [state], [export_file], api_visibility="undocumented")
        delete.click(delete_my_data, [state], [status], api_name="delete_my_data").then(
            lambda: None, None, [export_file], api_visibility="undocumented"
        )
    demo.queue(default_concurrency_limit=concurrency, max_size=256)
    _close_with(demo, engine.exports)
    return demo


def _close_with(demo, exports: SessionExports) -> None:
    """``demo.launch`` brings the demo's CSS (gradio 6 takes CSS at launch, not in ``Blocks``);
    ``demo.close()`` (also run at interpreter exit) removes every export file."""
    launch, close = demo.launch, demo.close

    def launch_with_css(*args, **kwargs):
        kwargs.setdefault("css", CSS)
        return launch(*args, **kwargs)

    def close_and_clean(*args, **kwargs):
        try:
            return close(*args, **kwargs)
        finally:
            exports.close()

    demo.launch, demo.close = launch_with_css, close_and_clean


# ---------------------------------------------------------------------------------------------- entry


def resolve_model(spec: str | None) -> Path:
    """A local model folder, or a Hub id downloaded with huggingface_hub; a clear error otherwise."""
    spec = spec or os.environ.get("CAREERPATH_MODEL") or "outputs/tiny_t5"
    path = Path(spec)
    if path.is_dir():
        return path
    from careerpath.hub import is_hub_id, resolve_model_dir

    if is_hub_id(spec):
        return resolve_model_dir(spec)
    raise FileNotFoundError(
        f"no model at {spec!r}. Train one first with `careerpath quickstart` (about 7 minutes on CPU), "
        "then `careerpath serve --model outputs/tiny_t5`; or set CAREERPATH_MODEL to a model folder or Hub id"
    )


def create_app(
    model: str | None = None,
    db: str | None = None,
    keep_raw_text: bool = False,
    concurrency: int = 2,
    retention_days: float = 90,
    use_embeddings: bool = True,
):
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    model_dir = resolve_model(model)
    rec = Recommender.from_pretrained(model_dir, use_embeddings=use_embeddings)
    store = FeedbackStore(
        db or os.environ.get("CAREERPATH_FEEDBACK_DB", "outputs/feedback.sqlite"), keep_raw_text
    )
    if retention_days:
        store.purge(retention_days)
    engine = DemoEngine(rec, store, retention_days=retention_days)
    return build_app(engine, concurrency=concurrency), engine


def build_parser() -> argparse.ArgumentParser:
    from careerpath.cli_common import ArgumentParser, HelpFormatter

    p = ArgumentParser(
        prog="careerpath serve",
        description="open the chat demo on a trained model",
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "--model", default=None, help="model folder or Hub id (default: $CAREERPATH_MODEL or outputs/tiny_t5)"
    )
    p.add_argument(
        "--db",
        default=None,
        help="feedback store (default: $CAREERPATH_FEEDBACK_DB or outputs/feedback.sqlite)",
    )
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to listen on every interface")
    p.add_argument("--port", type=int, default=7860, help="port to listen on")
    p.add_argument("--concurrency", type=int, default=2, help="chat requests served at once (CPU cores)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per request")
    p.add_argument(
        "--keep-raw-text", action="store_true", help="also store the chat text with ratings (off by default)"
    )
    p.add_argument(
        "--retention-days", type=float, default=90, help="delete ratings older than this at start-up"
    )
    p.add_argument("--no-embeddings", action="store_true", help="resolve titles without sentence embeddings")
    return p


def main(argv: list[str] | None = None) -> int:
    """``careerpath serve [--model DIR|HUB_ID] [--db PATH] [--port 7860]``; logging is set up by the CLI."""
    args = build_parser().parse_args(argv)
    import torch

    torch.set_num_threads(max(1, args.threads))
    try:
        demo, _ = create_app(
            args.model,
            args.db,
            args.keep_raw_text,
            args.concurrency,
            args.retention_days,
            not args.no_embeddings,
        )
    except (FileNotFoundError, ValueError) as e:  # ValueError covers FeedbackError and damaged models
        print(f"error: {e}", file=sys.stderr)
        return 2
    # a plain `kill` ends the process through sys.exit, so atexit removes the export files
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    demo.launch(server_name=args.host, server_port=args.port, show_error=False, ssr_mode=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
