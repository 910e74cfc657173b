"""The Hugging Face Space folder and `careerpath publish-space`, against a local stand-in Hub."""

import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from careerpath.app import cli
from careerpath.app.space_publish import ROOT, SPACE_DIR, check_front_matter, publish, read_front_matter


def test_front_matter_is_complete_and_pins_the_installed_gradio():
    meta, body = read_front_matter(SPACE_DIR / "README.md")
    assert check_front_matter(meta) == []
    assert meta["sdk_version"] == version("gradio")
    assert f"gradio=={meta['sdk_version']}" in (SPACE_DIR / "requirements.txt").read_text()
    assert f'"gradio=={meta["sdk_version"]}"' in (ROOT / "pyproject.toml").read_text()
    assert (SPACE_DIR / meta["app_file"]).exists() and body.strip()


def test_space_requirements_name_every_runtime_dependency():
    """The Space installs from its own requirements.txt: a dependency missing there (the planner's
    solver, say) would fail only when a visitor asks for a pathway."""
    import re
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower() for d in deps}
    lines = (SPACE_DIR / "requirements.txt").read_text().splitlines()
    listed = {
        re.split(r"[<>=!~\[ ;]", ln, maxsplit=1)[0].lower() for ln in lines if ln and not ln.startswith("-")
    }
    assert names - listed == set()


def test_front_matter_problems_are_named():
    problems = check_front_matter({"sdk": "streamlit", "sdk_version": "6"})
    assert "sdk must be 'gradio'" in problems and any("full semver" in p for p in problems)
    assert "missing 'emoji'" in problems


class StandInHub:
    """Records what publish-space asks of huggingface_hub and keeps the uploaded files."""

    def __init__(self, root: Path):
        self.root, self.calls, self.variables = root, [], {}

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", repo_id, kw["repo_type"], kw["space_sdk"]))

    def add_space_variable(self, repo_id, key, value):
        self.variables[key] = value

    def upload_folder(self, repo_id, repo_type, folder_path, commit_message):
        self.calls.append(("upload_folder", repo_id, repo_type))
        shutil.copytree(folder_path, self.root / repo_id, dirs_exist_ok=True)


@pytest.mark.slow
def test_publish_uploads_app_packages_and_model_setting(tmp_path, monkeypatch):
    hub = StandInHub(tmp_path)
    url = publish("someone/careerpath-demo", model="someone/careerpath-tiny", api=hub)
    assert url == "https://huggingface.co/spaces/someone/careerpath-demo"
    assert hub.calls == [
        ("create_repo", "someone/careerpath-demo", "space", "gradio"),
        ("upload_folder", "someone/careerpath-demo", "space"),
    ]
    assert hub.variables == {"CAREERPATH_MODEL": "someone/careerpath-tiny"}
    up = tmp_path / "someone/careerpath-demo"
    for f in (
        "app.py",
        "README.md",
        "requirements.txt",
        "careerpath/app/demo.py",
        "careerpath/core/catalog.py",
    ):
        assert (up / f).exists(), f
    assert not list(up.rglob("__pycache__"))
    meta, _ = read_front_matter(up / "README.md")
    assert meta["models"] == ["someone/careerpath-tiny"] and check_front_matter(meta) == []
    # the uploaded app imports with nothing but the uploaded folder on the path
    code = "import sys; sys.path.insert(0, '.'); import careerpath.app.demo, careerpath.core.catalog; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], cwd=up, capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_publish_space_cli_rejects_bad_ids(capsys):
    assert cli.main(["publish-space", "--space-id", "no slash here"]) == 2
    assert "user-or-org/space-name" in capsys.readouterr().err


@pytest.mark.slow
def test_space_app_starts_with_a_clear_message_without_a_model(tmp_path):
    env = {"CAREERPATH_MODEL": str(tmp_path / "nothing"), "PATH": "", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, str(SPACE_DIR / "app.py")], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert out.returncode == 2 and "careerpath quickstart" in out.stderr
    assert "Traceback" not in out.stderr


def test_publish_space_refuses_without_a_model_before_any_upload(tmp_path, capsys):
    hub = StandInHub(tmp_path)
    for bad in (None, "", "not-an-id"):
        try:
            publish("someone/demo", model=bad, api=hub)
        except ValueError as e:
            assert "careerpath push" in str(e)
        else:
            raise AssertionError(f"published without a model ({bad!r})")
    assert hub.calls == [] and hub.variables == {}
    assert cli.main(["publish-space", "--space-id", "someone/demo"]) == 2
    assert "--model" in capsys.readouterr().err


def test_publish_space_card_and_feedback_repo_variable(tmp_path):
    from huggingface_hub import SpaceCard

    hub = StandInHub(tmp_path)
    publish("someone/demo", model="someone/tiny", api=hub, feedback_repo="someone/demo-feedback")
    assert hub.variables == {
        "CAREERPATH_MODEL": "someone/tiny",
        "CAREERPATH_FEEDBACK_REPO": "someone/demo-feedback",
    }
    card = SpaceCard.load(tmp_path / "someone/demo" / "README.md")
    assert card.data.models == ["someone/tiny"] and card.data.datasets == ["someone/demo-feedback"]
    assert card.data.sdk == "gradio" and check_front_matter(card.data.to_dict()) == []
    assert "careerpath" in card.text
