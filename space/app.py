"""Hugging Face Space entry point: the careerpath chat demo.

The model comes from ``CAREERPATH_MODEL`` (a Hub id or a folder; `careerpath publish-space
--model` sets it as a Space variable). Ratings go to ``CAREERPATH_FEEDBACK_DB``, by default
``/data/feedback.sqlite`` when the Space has persistent storage, else ``feedback.sqlite``, which
a restart wipes: with ``CAREERPATH_FEEDBACK_REPO`` (a Hub dataset repo; `publish-space
--feedback-repo`) and a write token in the Space secret ``HF_TOKEN``, the store is also pushed
there every few minutes (careerpath/data/feedback_hub.py).
"""

import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from careerpath.app.demo import create_app  # noqa: E402
from careerpath.serving.recommend import settle_heap  # noqa: E402

DB = os.environ.get("CAREERPATH_FEEDBACK_DB") or (
    "/data/feedback.sqlite" if os.path.isdir("/data") else "feedback.sqlite"
)
try:
    demo, engine = create_app(os.environ.get("CAREERPATH_MODEL"), DB)
except FileNotFoundError as e:  # no model: say how to make one, without a traceback
    print(f"careerpath: {e}", file=sys.stderr)
    sys.exit(2)
if os.environ.get("CAREERPATH_FEEDBACK_REPO"):
    from careerpath.data.feedback_hub import HubFeedbackSync

    try:
        sync = HubFeedbackSync(engine.store, os.environ["CAREERPATH_FEEDBACK_REPO"])
    except Exception as e:  # no token or no access: serve anyway, and say where ratings go
        print(
            f"careerpath: ratings will not be pushed to {os.environ['CAREERPATH_FEEDBACK_REPO']} "
            f"({type(e).__name__}); add a write token as the Space secret HF_TOKEN",
            file=sys.stderr,
        )
elif not DB.startswith("/data/"):
    print(
        "careerpath: ratings are kept on this Space's disk, which a restart wipes; add persistent "
        "storage or set CAREERPATH_FEEDBACK_REPO (docs/hub.md)",
        file=sys.stderr,
    )

settle_heap()  # start-up's objects out of the collector's full passes (docs/performance.md)

if __name__ == "__main__":
    demo.launch(server_name="0.0.0.0", show_error=False, ssr_mode=False)
