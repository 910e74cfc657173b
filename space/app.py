"""Hugging Face Space entry point: the careerpath chat demo.

The model comes from ``CAREERPATH_MODEL`` (a Hub id or a folder; `careerpath publish-space
--model` sets it as a Space variable). Ratings go to ``CAREERPATH_FEEDBACK_DB``, by default
``/data/feedback.sqlite`` when the Space has persistent storage, else ``feedback.sqlite``.
"""

import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from careerpath.demo import create_app  # noqa: E402

DB = os.environ.get("CAREERPATH_FEEDBACK_DB") or (
    "/data/feedback.sqlite" if os.path.isdir("/data") else "feedback.sqlite"
)
try:
    demo, engine = create_app(os.environ.get("CAREERPATH_MODEL"), DB)
except FileNotFoundError as e:  # no model: say how to make one, without a traceback
    print(f"careerpath: {e}", file=sys.stderr)
    sys.exit(2)

if __name__ == "__main__":
    demo.launch(server_name="0.0.0.0", show_error=False, ssr_mode=False)
