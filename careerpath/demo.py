"""The chat demo: a person describes themselves, gets a pathway, and rates it.

``careerpath serve`` (and ``space/app.py`` on a Hugging Face Space) runs a Gradio 6
``ChatInterface``. The conversation keeps the person's profile; follow-ups change it ("I already
know statistics", "make it shorter", "no courses from Coursify", "what about data engineer
instead?", "start over"). A form in an accordion does the same with catalog autocomplete. Each
answer shows the pathway (steps, course, skills gained, why, hours), the top next jobs and a
picture of the pathway. Likes and dislikes go to the :mod:`careerpath.feedback` store.

All the conversation logic lives in :class:`DemoEngine` (plain Python, tested directly); the
Gradio layer only wires it to components.
"""

from __future__ import annotations

import argparse
import html
import io
import json
import logging
import os
import re
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from careerpath.feedback import FeedbackError, FeedbackEvent, FeedbackStore, new_session_id
from careerpath.profile import ResolvedProfile
from careerpath.recommend import Constraints, Recommender

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000
MAX_TURNS_KEPT = 200  # answers remembered per session for rating
DEFAULT_STEPS = 6
SHORT_HOURS = 20.0
PRIVACY_NOTICE = (
    "**Privacy.** When you rate an answer we keep: a random session id, the profile as catalog "
    "entries (job, skills, courses, goal), what was shown, your rating, the model version and the "
    "time; not your words (unless the operator turned that on), never your IP address or browser. "
    "Rows are deleted after {days} days. Type *show my data* to see them, *delete my data* to "
    "delete them (they are then left out of any later training)."
)
EXAMPLES = [
    "I'm a data analyst, I know SQL and Excel, I want to become a machine learning engineer",
    "I work as a nurse and want to move into health informatics",
    "make it shorter",
]

_RESET = re.compile(
    r"^\s*(?:start over|restart|reset|new profile|clear(?: everything)?|forget (?:it|everything))\b", re.I
)
_SHORTER = re.compile(r"\b(?:shorter|quicker|faster|less time|fewer (?:steps|courses|hours))\b", re.I)
_PROVIDER = re.compile(
    r"\b(?:no|without|not|exclude|skip|avoid|don't want|do not want)\s+(?:any\s+)?(?:courses?\s+)?(?:from|by)\s+(?P<p>[^.,;!?\n]+)",
    re.I,
)
_SHOW_DATA = re.compile(
    r"\b(?:show|see|what do you (?:keep|store|know)|download)\b.*\b(?:my data|about me)\b", re.I
)
_DELETE_DATA = re.compile(r"\b(?:delete|erase|remove|forget)\s+(?:all\s+)?(?:of\s+)?my data\b", re.I)
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")
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


@dataclass
class Answer:
    markdown: str
    image: object | None  # PIL image of the pathway, or None
    payload: dict | None  # what was shown, for feedback; None when nothing was recommended


class DemoEngine:
    """Turns chat messages into recommendations and ratings into feedback rows."""

    def __init__(self, recommender: Recommender, store: FeedbackStore, retention_days: float = 90):
        self.rec = recommender
        self.store = store
        self.retention_days = retention_days
        self.catalog = recommender.catalog
        self.providers = sorted({c.provider for c in self.catalog.courses.values()})

    # -- conversation ------------------------------------------------------------------------
    def handle(self, message, state: ChatState | None, form: dict | None = None) -> tuple[Answer, ChatState]:
        state = state or ChatState()
        if not isinstance(message, str):
            message = str(message or "")
        if len(message) > MAX_MESSAGE_CHARS:
            return (
                Answer(
                    f"Your message has {len(message):,} characters; please keep it under "
                    f"{MAX_MESSAGE_CHARS:,} (a few sentences about your job, skills and goal).",
                    None,
                    None,
                ),
                state,
            )
        notes: list[str] = []
        text = _MARKUP.sub(" ", message).strip()  # markdown emphasis is not part of a name
        if _DELETE_DATA.search(text):
            n = self.store.delete_session(state.session_id)
            return Answer(
                f"Deleted {n} stored rating(s) of this session. Nothing else was kept.", None, None
            ), state
        if _SHOW_DATA.search(text):
            rows = self.store.rows(state.session_id)
            # inside a code block; backticks and angle brackets (only in operator-enabled raw text) made inert
            body = html.escape(json.dumps(rows, indent=1)[:6000].replace("`", "'"), quote=False)
            return (
                Answer(
                    f"Kept about this session ({len(rows)} row(s)); use the *Your data* panel to download "
                    f"them as JSON:\n\n```json\n{body}\n```",
                    None,
                    None,
                ),
                state,
            )
        if _RESET.search(text):
            state = ChatState(session_id=state.session_id, answers=state.answers)
            notes.append("Starting over: profile and preferences cleared.")
            text = _RESET.sub("", text).strip(" ,.;:!-")
        warn_from = len(state.profile.warnings)
        if form:
            key = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(form.items()))
            if key != state.form:
                state.form = key
                self.rec.resolver.from_fields(
                    job=form.get("job") or None,
                    skills=form.get("skills") or [],
                    courses=form.get("courses") or [],
                    goal=form.get("goal") or None,
                    prof=state.profile,
                )
        if _SHORTER.search(text):
            state.max_steps = max(2, state.max_steps - 2)
            cur = state.constraints.max_hours
            state.constraints.max_hours = SHORT_HOURS if cur is None else max(5.0, cur / 2)
            notes.append(
                f"Shorter: courses of at most {state.constraints.max_hours:g} hours, "
                f"at most {state.max_steps} course steps."
            )
        for m in _PROVIDER.finditer(text):
            raw = m.group("p").strip()
            hit = self._provider(raw)
            if hit:
                if hit not in state.constraints.exclude_providers:
                    state.constraints.exclude_providers.append(hit)
                notes.append(f"No courses from {escape(hit)}.")
            else:
                notes.append(
                    f"I don't know a provider called {escape(raw[:60])}; providers are "
                    f"{escape(', '.join(self.providers))}."
                )
        text = _PROVIDER.sub("", text)
        if text.strip():
            self.rec.resolver.from_text(text, state.profile)
        warnings = state.profile.warnings[warn_from:]
        del state.profile.warnings[:-50]  # a long session keeps bounded state
        del state.profile.matches[:-100]
        prof = state.profile
        if not prof.job and not prof.skills and not prof.courses:
            hint = (
                "Tell me about yourself: your current job, skills you have, courses you took and the "
                "job you want, e.g. *I'm a data analyst, I know SQL and Excel, I want to become a "
                "machine learning engineer*. Or use the form below the chat."
            )
            return Answer("\n\n".join([*notes, *_warn_lines(warnings), hint]), None, None), state
        # the model is read-only at serving time: concurrent requests share it without a lock
        result = self.rec.recommend(prof, top_k=5, constraints=state.constraints)
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
        path_d = path.as_dict() if path else None
        for step in path_d["steps"] if path_d else []:
            if step["kind"] == "course":
                step["provider"] = self.catalog.courses[step["id"]].provider
        payload = self._payload(state, result, path)
        md = render_answer(result, path_d, notes, warnings, self._similar(payload["item_id"], state))
        image = pathway_image(path_d) if path_d and path_d["steps"] else None
        return Answer(md, image, payload), state

    def _similar(self, course_id: str, state: ChatState) -> tuple[str, list[str]] | None:
        """Alternatives to the first recommended course (same cluster first, then skill overlap)."""
        from data_prep.clustering import similar_courses

        if course_id not in self.catalog.courses:
            return None
        allowed = [
            self.catalog.courses[c].title
            for c in similar_courses(self.catalog, course_id, 12)
            if self.rec._course_allowed(
                self.catalog.courses[c], set(state.profile.courses), state.constraints
            )
        ]
        return (self.catalog.courses[course_id].title, allowed[:3]) if allowed else None

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

    def export_session(self, state: ChatState | None) -> str:
        """The session's rows as a JSON file (path), for the privacy panel's download."""
        rows = self.store.rows(state.session_id) if state else []
        fd, path = tempfile.mkstemp(prefix="careerpath-my-data-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"session_id": state.session_id if state else None, "rows": rows}, f, indent=1)
        return path


def _warn_lines(warnings: list[str]) -> list[str]:
    return [f"**Note:** {escape(w)}" for w in warnings[:6]]


def render_answer(
    result: dict, path: dict | None, notes: list[str], warnings: list[str], similar: tuple | None = None
) -> str:
    """Markdown for one answer; every catalog or user string goes through :func:`escape`."""
    prof = result["profile"]
    lines = list(notes) + _warn_lines(warnings)
    skills = [s["name"] for s in prof["skills"]]
    shown = ", ".join(escape(s) for s in skills[:10]) + (
        f" and {len(skills) - 10} more" if len(skills) > 10 else ""
    )
    lines.append(
        f"**Your profile**: job {escape(prof['job']['title']) if prof['job'] else '(not given)'} · "
        f"goal {escape(prof['goal']['title']) if prof['goal'] else '(not given)'} · "
        f"skills {shown or '(none yet)'}"
        + (
            " (assumed from your job; tell me your skills to change them)"
            if prof.get("skills_assumed")
            else ""
        )
    )
    if path and path["goal"]:
        head = f"**Pathway to {escape(path['goal']['title'])}**: {escape(path['note'])}"
        if path["steps"]:
            head += f"; {len(path['steps'])} step(s), {path['total_hours']:g} hours of courses"
        lines.append(head)
        for i, s in enumerate(path["steps"], 1):
            if s["kind"] == "course":
                c = f" from {escape(s['provider'])}" if s.get("provider") else ""
                gained = ", ".join(escape(x) for x in s["skills_gained"]) or "nothing new"
                lines.append(
                    f"{i}\\. Take **{escape(s['title'])}**{c} ({s['hours']:g} h). Gains: {gained}. "
                    f"Why: {escape(s['reason'])}. Goal covered: {s['goal_coverage']:.0%}"
                )
            else:
                lines.append(f"{i}\\. Move to **{escape(s['title'])}**. Why: {escape(s['reason'])}")
    elif not prof["goal"]:
        lines.append("Say which job you want (*I want to become ...*) and I'll plan a pathway to it.")
    if result["next_courses"]:
        lines.append("**Top next courses**")
        for c in result["next_courses"][:5]:
            adds = ", ".join(escape(x) for x in c["skills_added"][:4]) or "revision"
            lines.append(
                f"- **{escape(c['title'])}** ({escape(c['provider'])}, {c['hours']:g} h): adds {adds}. "
                f"{escape(c['reason'])}"
            )
    if similar:
        lines.append(f"**Similar to {escape(similar[0])}**: " + ", ".join(escape(t) for t in similar[1]))
    if result["next_jobs"]:
        lines.append("**Next job options**")
        for j in result["next_jobs"][:3]:
            lines.append(f"- **{escape(j['title'])}** ({j['probability']:.0%}): {escape(j['reason'])}")
    lines.append(
        "_Rate this answer with the thumbs up or down below it: it helps improve the recommendations._"
    )
    return "\n\n".join(lines)


def pathway_image(path: dict):
    """A timeline of the pathway (courses and job moves, goal coverage) as a PIL image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    steps = path["steps"]
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.45 * len(steps)), dpi=90)
    y = list(range(len(steps)))[::-1]
    for yi, s in zip(y, steps):
        color = "#2f6fde" if s["kind"] == "course" else "#1a9a5c"
        width = max(s["goal_coverage"], 0.02)
        ax.barh(yi, width, color=color, alpha=0.85)
        label = ("course: " if s["kind"] == "course" else "move: ") + s["title"]
        label += f"  ({s['hours']:g} h)" if s["hours"] else ""
        ax.text(
            0.01,
            yi,
            label[:70],
            va="center",
            ha="left",
            fontsize=8,
            color="white" if width > 0.5 else "black",
        )
    ax.set_yticks(y, [str(i + 1) for i in range(len(steps))])
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"share of {path['goal']['title']}'s skills covered after each step")
    ax.set_title(f"Pathway to {path['goal']['title']}", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


# ---------------------------------------------------------------------------------------------- gradio


def _message_text(message) -> str:
    if isinstance(message, dict):  # multimodal or block-style message
        return str(message.get("text", ""))
    return message if isinstance(message, str) else str(message or "")


def build_app(engine: DemoEngine, concurrency: int = 2, title: str = "careerpath"):
    """The Gradio Blocks app around ``engine``."""
    import gradio as gr

    cat = engine.catalog
    job_titles = sorted(j.title for j in cat.jobs.values())
    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        gr.Markdown(
            f"# {title}: your learning and career pathway\n"
            "Describe your job, skills and the job you want; follow up to refine "
            "(*I already know statistics*, *make it shorter*, *no courses from ...*, "
            "*what about data engineer instead?*, *start over*)."
        )
        state = gr.State(None)
        with gr.Row():
            with gr.Column(scale=3):
                job = gr.Dropdown(
                    job_titles,
                    label="Current job",
                    value=None,
                    allow_custom_value=True,
                    filterable=True,
                    render=False,
                )
                skills = gr.Dropdown(
                    sorted(s.name for s in cat.skills.values()),
                    label="Skills",
                    multiselect=True,
                    value=[],
                    filterable=True,
                    render=False,
                )
                courses = gr.Dropdown(
                    sorted(c.title for c in cat.courses.values()),
                    label="Courses taken",
                    multiselect=True,
                    value=[],
                    filterable=True,
                    render=False,
                )
                goal = gr.Dropdown(
                    job_titles,
                    label="Goal job",
                    value=None,
                    allow_custom_value=True,
                    filterable=True,
                    render=False,
                )
                image = gr.Image(label="Pathway", type="pil", render=False, interactive=False)

                def respond(message, history, job_v, skills_v, courses_v, goal_v, st):
                    text = _message_text(message)
                    try:
                        form = {
                            "job": job_v,
                            "skills": skills_v or [],
                            "courses": courses_v or [],
                            "goal": goal_v,
                        }
                        form = {k: v for k, v in form.items() if v}
                        answer, st = engine.handle(text, st, form)
                        engine.remember(st, len(history or []) + 1, answer.payload, text)
                        return answer.markdown, answer.image, st
                    except Exception:  # never show a traceback to a stranger
                        ref = uuid.uuid4().hex[:8]
                        log.exception("chat handler failed (ref %s)", ref)
                        return f"Sorry, something went wrong on our side (reference {ref}).", None, st

                chat = gr.ChatInterface(
                    respond,
                    additional_inputs=[job, skills, courses, goal, state],
                    additional_inputs_accordion=gr.Accordion(
                        "Or fill in a form (with autocomplete from the catalog)", open=False, render=False
                    ),
                    chatbot=gr.Chatbot(height=520, label="careerpath", render=False),
                    additional_outputs=[image, state],
                    examples=[[e, None, None, None, None, None] for e in EXAMPLES[:2]],
                    run_examples_on_click=False,
                    cache_examples=False,
                    concurrency_limit=concurrency,
                    api_name="chat",
                    fill_height=False,
                )
            with gr.Column(scale=2):
                image.render()
                status = gr.Markdown("")
                with gr.Accordion("Your data", open=False):
                    gr.Markdown(PRIVACY_NOTICE.format(days=f"{engine.retention_days:g}"))
                    download = gr.DownloadButton("Download my data (JSON)")
                    delete = gr.Button("Delete my data")

        def on_like(st, data):
            index = data.index if isinstance(data.index, int) else data.index[0]
            return engine.rate(st, index, bool(data.liked))

        on_like.__annotations__["data"] = gr.LikeData  # gradio injects event data by the real type

        chat.chatbot.like(
            on_like,
            inputs=[state],
            outputs=[status],
            api_visibility="undocumented",
            concurrency_limit=16,
            concurrency_id="feedback",
        )
        # the same as an API endpoint, for gradio_client and the load benchmark
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
        download.click(engine.export_session, inputs=[state], outputs=[download], api_name="my_data")
        delete.click(
            lambda st: f"Deleted {engine.store.delete_session(st.session_id) if st else 0} stored rating(s).",
            inputs=[state],
            outputs=[status],
            api_name="delete_my_data",
        )
    demo.queue(default_concurrency_limit=concurrency, max_size=256)
    return demo


# ---------------------------------------------------------------------------------------------- entry


def resolve_model(spec: str | None) -> Path:
    """A local model folder, or a Hub id downloaded with huggingface_hub; a clear error otherwise."""
    spec = spec or os.environ.get("CAREERPATH_MODEL") or "outputs/tiny_t5"
    path = Path(spec)
    if path.is_dir():
        return path
    if re.fullmatch(r"[\w.-]+/[\w.-]+", spec) and not path.exists():
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(spec))
        except Exception as e:
            raise FileNotFoundError(
                f"model {spec!r}: not a local folder and could not be downloaded from the Hub ({type(e).__name__}); "
                "train one with `careerpath quickstart` and pass --model outputs/tiny_t5"
            ) from None
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="careerpath serve", description="open the chat demo on a trained model")
    p.add_argument(
        "--model", default=None, help="model folder or Hub id (default: $CAREERPATH_MODEL or outputs/tiny_t5)"
    )
    p.add_argument(
        "--db",
        default=None,
        help="feedback store (default: $CAREERPATH_FEEDBACK_DB or outputs/feedback.sqlite)",
    )
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to listen on every interface")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--concurrency", type=int, default=2, help="chat requests served at once (CPU cores)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per request")
    p.add_argument(
        "--keep-raw-text", action="store_true", help="also store the chat text with ratings (off by default)"
    )
    p.add_argument(
        "--retention-days", type=float, default=90, help="delete ratings older than this at start-up"
    )
    p.add_argument("--no-embeddings", action="store_true", help="resolve titles without sentence embeddings")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
    demo.launch(server_name=args.host, server_port=args.port, show_error=False, ssr_mode=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
