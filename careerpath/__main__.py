"""``python -m careerpath ...``: the same as the ``careerpath`` command (useful without an install)."""

from careerpath.app.cli import main

raise SystemExit(main())
