"""The chat demo: a person describes themselves, gets a pathway, and rates it.

``careerpath serve`` (and ``space/app.py`` on a Hugging Face Space) runs a Gradio 6 Blocks chat.
The conversation keeps the person's profile; follow-ups change it ("I already know statistics",
"make it shorter", "no courses from Coursify", "what about data engineer instead?"); a new
self-description ("I'm a registered nurse ...") or "start over" starts a new profile. The rules
are in :mod:`careerpath.serving.conversation` and ``docs/demo.md``. A form in an accordion does the same
with catalog autocomplete. Each answer leads with the pathway (steps, course, skills gained, why,
hours), then the profile, the top next courses and jobs; a picture of the pathway sits in a
collapsed accordion. Likes and dislikes go to the :mod:`careerpath.data.feedback` store; "Download my
data" and "Delete my data" act on this session's rows only.

This module is the entry point (``careerpath serve``: :func:`main`, :func:`create_app`) and the
demo's public API. The pieces, each in its own module:

- :mod:`careerpath.app.demo_engine`: :class:`DemoEngine`, all the conversation logic (plain Python,
  tested directly), with :mod:`careerpath.app.demo_options` (next jobs, similar courses, trade-off)
  and :mod:`careerpath.app.demo_feedback` (ratings, show/download/delete my data);
- :mod:`careerpath.app.demo_state`: :class:`ChatState` (a session) and :class:`Answer`;
- :mod:`careerpath.app.demo_render`: the answer's markdown, everything escaped;
- :mod:`careerpath.app.demo_picture`: the pathway picture;
- :mod:`careerpath.app.demo_app`: the Gradio page, which only wires the engine to components.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from careerpath.app.demo_app import build_app
from careerpath.app.demo_engine import DemoEngine
from careerpath.app.demo_feedback import MAX_TURNS_KEPT
from careerpath.app.demo_picture import pathway_image
from careerpath.app.demo_render import escape, user_bubble
from careerpath.app.demo_state import Answer, ChatState
from careerpath.core.cli_common import ArgumentParser, HelpFormatter, is_hub_id
from careerpath.data.feedback import FeedbackStore
from careerpath.model.hub import resolve_model_dir
from careerpath.serving.conversation import MAX_MESSAGE_CHARS
from careerpath.serving.recommend import Recommender, settle_heap

__all__ = [
    "MAX_MESSAGE_CHARS",
    "MAX_TURNS_KEPT",
    "Answer",
    "ChatState",
    "DemoEngine",
    "build_app",
    "build_parser",
    "create_app",
    "escape",
    "main",
    "pathway_image",
    "resolve_model",
    "user_bubble",
]


def resolve_model(spec: str | None) -> Path:
    """A local model folder, or a Hub id downloaded with huggingface_hub; a clear error otherwise."""
    spec = spec or os.environ.get("CAREERPATH_MODEL") or "outputs/tiny_t5"
    path = Path(spec)
    if path.is_dir():
        return path
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
    settle_heap()
    # a plain `kill` ends the process through sys.exit, so atexit removes the export files
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    demo.launch(server_name=args.host, server_port=args.port, show_error=False, ssr_mode=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
