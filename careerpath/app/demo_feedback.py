"""Feedback capture and the person's data in the demo: what an answer showed (kept per chat
message), a like or dislike stored as a :class:`~careerpath.data.feedback.FeedbackEvent`, and "show /
download / delete my data" acting on this session's rows only. :data:`PRIVACY_NOTICE` says what is
kept to the person."""

from __future__ import annotations

import html
import json
import logging

from careerpath.app.demo_state import Answer, ChatState, say
from careerpath.data.feedback import FeedbackError, FeedbackEvent, SessionExports
from careerpath.serving.conversation import MAX_MESSAGE_CHARS

log = logging.getLogger(__name__)

MAX_TURNS_KEPT = 200  # answers remembered per session for rating
PRIVACY_NOTICE = (
    "**Privacy.** When you rate an answer we keep: a random session id, the profile as catalog "
    "entries (job, skills, courses, goal), what was shown, your rating, the model version and the "
    "time; not your words (unless the operator turned that on), never your IP address or browser. "
    "Rows are deleted after {days} days. *Download my data* makes a fresh file of them for that "
    "click, which is deleted from the server once sent; *Delete my data* deletes the rows and any "
    "download file (they are then left out of any later training). You can also type *show my "
    "data* or *delete my data*."
)


class FeedbackMixin:
    """The rating and data half of :class:`~careerpath.app.demo_engine.DemoEngine`; it uses the
    engine's ``rec`` (:class:`~careerpath.serving.recommend.Recommender`), ``store``
    (:class:`~careerpath.data.feedback.FeedbackStore`) and ``_exports``."""

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

    # -- what was shown ----------------------------------------------------------------------
    def _payload(self, state: ChatState, result: dict, path) -> dict | None:
        """What an answer showed (profile as catalog ids, items shown, the item a rating is
        about), kept so that a later like or dislike can be stored; None when the answer
        recommended nothing to rate (no course and no job: a goal out of reach whose catalog
        offers nothing within the person's limits)."""
        prof = state.profile
        steps = path.steps if path else []
        first_course = next((s.id for s in steps if s.kind == "course"), None)
        item = first_course or (result["next_courses"][0]["id"] if result["next_courses"] else None)
        if item is None and not result["next_jobs"]:
            return None
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
            "item_id": item or result["next_jobs"][0]["id"],
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
        return say(
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
