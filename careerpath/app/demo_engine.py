"""The demo's conversation engine: :class:`DemoEngine` turns a chat message (and the form's values)
into the next :class:`~careerpath.app.demo_state.Answer` and session state. It reads the message's
intent (:mod:`careerpath.serving.conversation`), applies follow-ups ("make it shorter", "no courses from
X", "reach the goal", a new self-description) to the profile, and assembles the answer: the
recommendation, the pathway, its markdown and picture. Plain Python, tested directly; the Gradio
layer (:mod:`careerpath.app.demo_app`) only wires it to components."""

from __future__ import annotations

import re

from careerpath.app.demo_feedback import FeedbackMixin
from careerpath.app.demo_options import OptionsMixin
from careerpath.app.demo_picture import pathway_image
from careerpath.app.demo_render import article, escape, render_answer, warn_lines
from careerpath.app.demo_state import DEFAULT_STEPS, Answer, ChatState, say
from careerpath.core.profile import ResolvedProfile
from careerpath.data.feedback import FeedbackStore, SessionExports
from careerpath.serving import conversation
from careerpath.serving.conversation import MAX_MESSAGE_CHARS, Snapshot, classify, profile_changes
from careerpath.serving.recommend import Recommender

SHORT_HOURS = 20.0

_SHORTER = re.compile(r"\b(?:shorter|quicker|faster|less time|fewer (?:steps|courses|hours))\b", re.I)
_REACH = re.compile(r"\b(?:reach (?:the|my) goal|use (?:the|that) (?:plan|shortest plan))\b", re.I)
_PROVIDER = re.compile(
    r"\b(?:no|without|not|exclude|skip|avoid|don't want|do not want)\s+(?:any\s+)?(?:courses?\s+)?(?:from|by)\s+(?P<p>[^.,;!?\n]+)",
    re.I,
)
_MARKUP = re.compile(r"[*_`#>~|]+")


class DemoEngine(FeedbackMixin, OptionsMixin):
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

    # -- conversation ------------------------------------------------------------------------
    def handle(self, message, state: ChatState | None, form: dict | None = None) -> tuple[Answer, ChatState]:
        """One message (and the form's values) -> the answer and the new state."""
        state = state or ChatState()
        if not isinstance(message, str):
            message = str(message or "")
        if len(message) > MAX_MESSAGE_CHARS:
            return say(
                f"Your message has {len(message):,} characters; please keep it under "
                f"{MAX_MESSAGE_CHARS:,} (a few sentences about your job, skills and goal)."
            ), state
        intent = classify(_MARKUP.sub(" ", message))  # markdown emphasis is not part of a name
        if intent.kind == "delete_data":
            n = self.delete_data(state)
            return say(f"Deleted {n} stored rating(s) of this session. Nothing else was kept."), state
        if intent.kind == "show_data":
            return self._show_data(state), state
        if intent.kind == "foreign":
            return say(conversation.foreign_reply(intent.language)), state
        if intent.kind == "empty" and not self._form_changed(state, form):
            return say(
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
            return say(
                "\n\n".join([*notes, *warn_lines(warnings), conversation.not_understood_reply()])
            ), state
        if not prof.job and not prof.skills and not prof.courses and not prof.goal:
            hint = (
                "Tell me about yourself: your current job, skills you have, courses you took and the "
                "job you want, e.g. *I'm a data analyst, I know SQL and Excel, I want to become a "
                "machine learning engineer*. Or use the form below the chat."
            )
            return say("\n\n".join([*notes, *warn_lines(warnings), hint])), state
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
            return f"I've started a new profile for {article(title)} {escape(title)}."
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

    def _provider(self, raw: str) -> str | None:
        """The catalog provider ``raw`` names (fuzzy, at least 85/100), or None."""
        from rapidfuzz import fuzz, process, utils

        raw = re.sub(r"\b(?:please|anymore|again|thanks?)\b", "", raw, flags=re.I).strip()
        best = process.extractOne(raw, self.providers, scorer=fuzz.WRatio, processor=utils.default_process)
        return best[0] if best and best[1] >= 85 else None

    # -- the answer --------------------------------------------------------------------------
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
            self._similar(payload["item_id"], state) if payload else None,
            tradeoff=tradeoff,
            unknown_job=state.unknown_job,
        )
        image = pathway_image(path_d) if path_d and path_d["steps"] else None
        return Answer(md, image, payload)
