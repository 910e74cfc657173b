"""``careerpath publish-space --space-id NAME --model HUB_ID [--feedback-repo DATASET_ID]``: upload the demo as a Gradio Space.

The upload is ``space/`` (app.py, README.md with the Space front matter, requirements.txt) plus
the ``careerpath`` and ``data_prep`` packages, so the Space runs the same code as this checkout.
``--model`` (required: a Space without a model exits at start) is written into the card's
``models:`` (through ``huggingface_hub.SpaceCard``) and set as the Space variable
``CAREERPATH_MODEL``. ``--feedback-repo`` sets ``CAREERPATH_FEEDBACK_REPO``: ratings are pushed to
that dataset repo, so a Space without persistent storage keeps them (careerpath/data/feedback_hub.py).
The token comes from ``HF_TOKEN`` or ``hf auth login``; it is never printed or written into the upload.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

from careerpath.core.cli_common import print_json, upload_failed

ROOT = Path(__file__).resolve().parents[2]
SPACE_DIR = ROOT / "space"
REQUIRED_FRONT_MATTER = (
    "title",
    "emoji",
    "colorFrom",
    "colorTo",
    "sdk",
    "sdk_version",
    "app_file",
    "python_version",
    "short_description",
    "models",
    "tags",
)
SPACE_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


def read_front_matter(readme: Path) -> tuple[dict, str]:
    text = readme.read_text(encoding="utf-8")
    m = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    if not m:
        raise ValueError(f"{readme}: no '---' front matter block at the top; a Space README needs one")
    return yaml.safe_load(m.group(1)) or {}, text[m.end() :]


def check_front_matter(meta: dict) -> list[str]:
    problems = [f"missing '{k}'" for k in REQUIRED_FRONT_MATTER if k not in meta]
    if meta.get("sdk") != "gradio":
        problems.append("sdk must be 'gradio'")
    if not re.fullmatch(r"\d+\.\d+\.\d+", str(meta.get("sdk_version", ""))):
        problems.append(f"sdk_version {meta.get('sdk_version')!r} must be a full semver like 6.31.0")
    if len(str(meta.get("short_description", ""))) > 60:
        problems.append("short_description must be at most 60 characters")
    return problems


def stage(out: Path, model: str, feedback_repo: str | None = None) -> Path:
    """The folder that is uploaded: space/ files and the two packages, the card's metadata updated."""
    from huggingface_hub import SpaceCard

    if not model or not SPACE_ID.match(model):
        raise ValueError(
            f"--model {model!r}: a Space needs the Hub id of a pushed model (user-or-org/model-name); "
            "push one with `careerpath push --model outputs/tiny_t5 --repo-id user/name` first"
        )
    if feedback_repo is not None and not SPACE_ID.match(feedback_repo):
        raise ValueError(f"--feedback-repo {feedback_repo!r}: expected 'user-or-org/dataset-name'")
    read_front_matter(SPACE_DIR / "README.md")  # a clear error for a card without front matter
    card = SpaceCard.load(SPACE_DIR / "README.md")
    card.data.models = [model]
    if feedback_repo:
        card.data.datasets = [feedback_repo]
    meta = card.data.to_dict()
    problems = check_front_matter(meta)
    if problems:
        raise ValueError(f"{SPACE_DIR / 'README.md'}: " + "; ".join(problems))
    out.mkdir(parents=True, exist_ok=True)
    for f in ("app.py", "requirements.txt"):
        shutil.copy2(SPACE_DIR / f, out / f)
    card.save(out / "README.md")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in ("careerpath", "data_prep"):
        shutil.copytree(ROOT / pkg, out / pkg, ignore=ignore, dirs_exist_ok=True)
    return out


def publish(
    space_id: str, model: str, private: bool = False, api=None, feedback_repo: str | None = None
) -> str:
    """Create (or reuse) the Space and upload; returns the Space URL. ``api`` defaults to HfApi()."""
    if not SPACE_ID.match(space_id):
        raise ValueError(f"--space-id {space_id!r}: expected 'user-or-org/space-name'")
    with tempfile.TemporaryDirectory(prefix="careerpath-space-") as tmp:
        folder = stage(Path(tmp) / "space", model, feedback_repo)  # validates before anything is sent
        if api is None:
            from huggingface_hub import HfApi

            api = HfApi()
        api.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        api.add_space_variable(space_id, "CAREERPATH_MODEL", model)
        if feedback_repo:
            api.add_space_variable(space_id, "CAREERPATH_FEEDBACK_REPO", feedback_repo)
        api.upload_folder(
            repo_id=space_id,
            repo_type="space",
            folder_path=str(folder),
            commit_message="Upload careerpath demo",
        )
    return f"https://huggingface.co/spaces/{space_id}"


def build_parser() -> argparse.ArgumentParser:
    from careerpath.core.cli_common import ArgumentParser, HelpFormatter, add_json_flag

    p = ArgumentParser(
        prog="careerpath publish-space", description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter
    )
    p.add_argument("--space-id", required=True, help="user-or-org/space-name")
    p.add_argument(
        "--model",
        default=None,
        help="required: Hub model id the Space serves (sets CAREERPATH_MODEL); push it first with `careerpath push`",
    )
    p.add_argument(
        "--feedback-repo",
        default=None,
        help="Hub dataset repo the Space pushes ratings to (sets CAREERPATH_FEEDBACK_REPO; needs the Space "
        "secret HF_TOKEN with write access); without it, ratings on a Space without persistent storage are "
        "lost at restart",
    )
    p.add_argument("--private", action="store_true", help="create the Space as private")
    p.add_argument("--stage-only", default=None, metavar="DIR", help="write the upload folder here and stop")
    add_json_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    say = (
        (lambda key, value, text: print_json({key: str(value)}))
        if args.json
        else (lambda k, v, text: print(text))
    )
    try:
        if args.stage_only:
            staged = stage(Path(args.stage_only), args.model, args.feedback_repo)
            say("staged", staged, f"staged the Space in {staged}")
            return 0
        url = publish(args.space_id, args.model, args.private, feedback_repo=args.feedback_repo)
        say("url", url, f"published {url}")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # network or auth problems from huggingface_hub
        return upload_failed(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
