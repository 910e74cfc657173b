"""The demo's Gradio 6 page around a :class:`~careerpath.app.demo_engine.DemoEngine`: the layout (chat,
form with catalog autocomplete, pathway picture, data panel) and the event wiring (chat, the
``/chat`` API, likes and ``/feedback``, download and delete of the person's data). The handlers
here only move values between components and the engine; all the conversation logic is in the
engine. Gradio is imported inside the functions, so that ``careerpath serve --help`` stays quick."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from careerpath.app.demo_engine import DemoEngine
from careerpath.app.demo_feedback import PRIVACY_NOTICE
from careerpath.app.demo_render import user_bubble
from careerpath.app.demo_state import ChatState
from careerpath.data.feedback import SessionExports
from careerpath.serving.conversation import MAX_MESSAGE_CHARS

log = logging.getLogger(__name__)

EXAMPLES = [
    "I'm a data analyst, I know SQL and Excel, I want to become a machine learning engineer",
    "I work as a nurse and want to move into health informatics",
    "make it shorter",
]

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


@dataclass
class _Page:
    """The components the event handlers read and write."""

    state: object  # gr.State holding the ChatState
    pending: object  # gr.State: the message being answered
    chatbot: object
    textbox: object
    form_inputs: list  # job, skills, courses, goal dropdowns
    form_btn: object
    status: object
    image: object
    download: object
    delete: object
    export_file: object


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
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        page = _layout(engine, title)
        _wire_chat(page, engine, concurrency)
        _wire_api(page, engine, concurrency)
        _wire_ratings(page, engine)
        _wire_data(page, engine)
    demo.queue(default_concurrency_limit=concurrency, max_size=256)
    _close_with(demo, engine.exports)
    return demo


def _layout(engine: DemoEngine, title: str) -> _Page:
    """The visible page: the chat and the form on the left, the picture and the data panel on the
    right (under each other on a narrow screen)."""
    import gradio as gr

    cat = engine.catalog
    job_titles = sorted(j.title for j in cat.jobs.values())
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
    return _Page(
        state=state,
        pending=pending,
        chatbot=chatbot,
        textbox=textbox,
        form_inputs=[job, skills, courses, goal],
        form_btn=form_btn,
        status=status,
        image=image,
        download=download,
        delete=delete,
        export_file=export_file,
    )


def _wire_chat(page: _Page, engine: DemoEngine, concurrency: int) -> None:
    """A message shows in the chat at once, then its answer (and picture) follows; the form's
    button asks for a plan from the form's values."""
    import gradio as gr

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

    submitted = page.textbox.submit(
        take_message,
        [page.textbox, page.chatbot],
        [page.textbox, page.chatbot, page.pending],
        queue=False,
        api_visibility="undocumented",
        trigger_mode="always_last",  # a message sent while an answer is pending waits, not lost
    )
    submitted.then(
        respond,
        [page.pending, page.chatbot, *page.form_inputs, page.state],
        [page.chatbot, page.image, page.state],
        concurrency_limit=concurrency,
        concurrency_id="chat",
        api_visibility="undocumented",
        trigger_mode="always_last",  # the next message's answer runs after this one, not never
    ).then(None, None, None, js=SCROLL_JS, trigger_mode="always_last")
    page.form_btn.click(
        respond_to_form,
        [page.chatbot, *page.form_inputs, page.state],
        [page.chatbot, page.image, page.state],
        concurrency_limit=concurrency,
        concurrency_id="chat",
        api_visibility="undocumented",
    ).then(None, None, None, js=SCROLL_JS)


def _wire_api(page: _Page, engine: DemoEngine, concurrency: int) -> None:
    """The same conversation as an API endpoint, for gradio_client and the load benchmark."""
    import gradio as gr

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
        [api_message, *page.form_inputs, page.state],
        [api_answer, page.state],
        api_name="chat",
        concurrency_limit=concurrency,
        concurrency_id="chat",
    )


def _wire_ratings(page: _Page, engine: DemoEngine) -> None:
    """Thumbs up or down under an answer, and the same as the ``/feedback`` endpoint."""
    import gradio as gr

    def on_like(st, data):
        index = data.index if isinstance(data.index, int) else data.index[0]
        return engine.rate(st, index, bool(data.liked))

    on_like.__annotations__["data"] = gr.LikeData  # gradio injects event data by the real type

    page.chatbot.like(
        on_like,
        inputs=[page.state],
        outputs=[page.status],
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
        inputs=[page.state, idx, liked],
        outputs=[page.status],
        api_name="feedback",
        concurrency_limit=16,
        concurrency_id="feedback",
    )


def _wire_data(page: _Page, engine: DemoEngine) -> None:
    """*Download my data* (a fresh file, deleted from the server once sent) and *Delete my data*."""

    def my_data(st):
        st = st or ChatState()
        return engine.export_session(st), st

    def served(st):
        engine.forget_export(st)
        return None

    def delete_my_data(st):
        return f"Deleted {engine.delete_data(st)} stored rating(s) and any download file."

    page.download.click(my_data, [page.state], [page.export_file, page.state], api_name="my_data").then(
        None, [page.export_file], None, js=DOWNLOAD_JS
    ).then(served, [page.state], [page.export_file], api_visibility="undocumented")
    page.delete.click(delete_my_data, [page.state], [page.status], api_name="delete_my_data").then(
        lambda: None, None, [page.export_file], api_visibility="undocumented"
    )


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
