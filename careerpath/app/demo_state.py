"""What one chat session carries between messages (:class:`ChatState`) and what one answer is
(:class:`Answer`): the plain data the demo's engine, feedback and Gradio layers pass around."""

from __future__ import annotations

from dataclasses import dataclass, field

from careerpath.core.profile import ResolvedProfile
from careerpath.data.feedback import new_session_id
from careerpath.serving.recommend import Constraints

DEFAULT_STEPS = 6


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


def say(markdown: str) -> Answer:
    """An answer that is only text: no picture, nothing to rate."""
    return Answer(markdown, None, None)
