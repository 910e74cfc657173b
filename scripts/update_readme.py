"""Refresh the README's result sections from the repo's own outputs (never typed by hand).

    careerpath quickstart            # writes outputs/ (dataset, model, report)
    python scripts/update_readme.py  # copies the report's tables and a real `careerpath recommend` run

Replaces what lies between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` markers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "I'm a data analyst, I know SQL and Excel, I want to become a data scientist"
# the example run, exactly as the README shows it
EXAMPLE_ARGS = ["--model", "outputs/tiny_t5", "--text", EXAMPLE, "--top-k", "3", "--max-steps", "8"]


def section(text: str, heading: str) -> str:
    """The body of a ``## heading`` section of report.md."""
    m = re.search(rf"^## {heading}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if not m:
        raise SystemExit(f"report.md has no '## {heading}' section; rerun careerpath evaluate")
    return m.group(1).strip()


def replace(readme: str, name: str, body: str) -> str:
    pattern = rf"(<!-- {name}:start -->\n).*?(\n<!-- {name}:end -->)"
    if not re.search(pattern, readme, re.S):
        raise SystemExit(f"README.md has no {name} markers")
    return re.sub(pattern, lambda m: m.group(1) + body + m.group(2), readme, flags=re.S)


def main() -> None:
    report = (ROOT / "outputs" / "report" / "report.md").read_text()
    goal = re.search(r"^Reached: .*$", report, re.M)
    results = (
        "Produced by `careerpath quickstart` (its evaluation step is `careerpath evaluate --model outputs/tiny_t5 "
        "--data outputs/data --out outputs/report`), test split of the default dataset:\n\n"
        + section(report, "Ranking")
        + "\n\nGeneration (greedy decoding, first 300 test examples):\n\n"
        + section(report, "Generation \\(model\\)")
        + (f"\n\nGoal reach of planned pathways (60 test users): {goal.group(0)}" if goal else "")
    )
    cmd = [sys.executable, "-m", "careerpath.app.cli", "recommend", *EXAMPLE_ARGS]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    shown = " ".join(f'"{a}"' if " " in a else a for a in EXAMPLE_ARGS)
    example = f"```\n$ careerpath recommend {shown}\n{out.rstrip()}\n```"
    path = ROOT / "README.md"
    readme = replace(replace(path.read_text(), "results", results), "example", example)
    tmp = path.with_name(".README.md.tmp")
    tmp.write_text(readme)
    os.replace(tmp, path)  # a failed refresh never leaves a half-written README
    print("README.md updated")


if __name__ == "__main__":
    main()
