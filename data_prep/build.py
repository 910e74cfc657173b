"""``python -m data_prep.build [flags]``: the dataset build, the same as ``careerpath data build``
(``careerpath/app/cli_data.py``; the build itself is ``careerpath/data/build.py``)."""

from __future__ import annotations

import sys

from careerpath.app.cli import main


def run(argv: list[str] | None = None) -> int:
    return main(["data", "build", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(run())
