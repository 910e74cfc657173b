"""The README stays a user's page: short, its generated sections refreshable, its test command CI's, its links alive."""

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
sys.path.insert(0, str(ROOT / "scripts"))
import update_readme  # noqa: E402

MARKERS = ("results", "example")
# the vocabulary of a lab notebook, not of a user's guide
INTERNAL = re.compile(
    r"seed steps? \d|\bissue #?\d|this version|previous (default|version|model)|\bstop \d", re.I
)
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_readme_is_short_and_speaks_to_users():
    text = README.read_text()
    assert len(text.splitlines()) < 300
    assert not INTERNAL.findall(text), INTERNAL.findall(text)
    first_screen = "\n".join(text.splitlines()[:25])
    for reader in ("Learners", "Course providers and L&D teams", "Researchers"):
        assert reader in first_screen


def test_generated_sections_have_one_pair_of_markers_each():
    text = README.read_text()
    for name in MARKERS:
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        assert text.count(start) == 1 and text.count(end) == 1, name
        assert text.index(start) < text.index(end), name


def test_update_readme_replaces_only_between_markers():
    text = "intro\n<!-- results:start -->\nold table\n<!-- results:end -->\noutro\n"
    new = update_readme.replace(text, "results", "| new | table |")
    assert new == "intro\n<!-- results:start -->\n| new | table |\n<!-- results:end -->\noutro\n"
    assert update_readme.replace(new, "results", "| new | table |") == new  # refreshing twice changes nothing
    with pytest.raises(SystemExit, match="no example markers"):
        update_readme.replace(text, "example", "x")


def test_example_command_shown_is_the_one_run():
    """The README shows `$ careerpath recommend ...` with exactly the arguments the script passes."""
    text = README.read_text()
    block = text.split("<!-- example:start -->")[1].split("<!-- example:end -->")[0]
    shown = next(line for line in block.splitlines() if line.startswith("$ careerpath recommend "))
    for arg in update_readme.EXAMPLE_ARGS:
        assert (f'"{arg}"' if " " in arg else arg) in shown


def test_readme_test_command_is_what_ci_runs():
    readme = README.read_text()
    line = next(x for x in readme.splitlines() if x.startswith("python3 -m venv .venv && ") and "pytest" in x)
    ci = [x.strip() for x in (ROOT / ".ci" / "run").read_text().splitlines()]
    steps = ci[ci.index("python3 -m venv .venv") :]
    steps = [x for x in steps if x and not x.startswith("#")]
    assert " && ".join(steps) == line


@pytest.mark.parametrize(
    "page",
    [README, ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_relative_links_point_to_files_that_exist(page):
    broken = [
        target
        for target in LINK.findall(page.read_text())
        if "://" not in target and not target.startswith("mailto:") and not (page.parent / target).exists()
    ]
    assert not broken, f"{page.relative_to(ROOT)}: broken links {broken}"
