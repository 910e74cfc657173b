"""Hub upload against a stand-in HfApi, and export (LoRA merge) to a standalone model."""

import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from careerpath.app import export
from careerpath.core.config import load_config
from careerpath.core.context import ContextConfig, load_context_file, save_context_config
from careerpath.model import hub
from careerpath.model.modeling import load_for_inference
from careerpath.training import training
from tests.conftest import small_t5_args

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "assets" / "tiny_dataset"
TINY = ["--data.data-dir", str(DATA), *small_t5_args(max_eval=2, max_new_tokens=8)]
TINY += ["--train.max-steps", "2", "--train.checkpoint-every", "1"]
SECRET = "hf_do_not_leak_this_token_123"


class FakeHfApi:
    """Records what would be sent to the Hub, and checks the files exist at upload time."""

    calls: list = []

    def create_repo(self, **kwargs):
        self.calls.append(("create_repo", kwargs))

    def upload_folder(self, **kwargs):
        folder = Path(kwargs["folder_path"])
        kwargs["files"] = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        self.calls.append(("upload_folder", kwargs))
        return "https://huggingface.co/me/careerpath-tiny/commit/abc"


@pytest.fixture
def fake_hub(monkeypatch):
    FakeHfApi.calls = []
    monkeypatch.setattr(hub, "HfApi", FakeHfApi)
    monkeypatch.setenv("HF_TOKEN", SECRET)
    return FakeHfApi.calls


def test_push_to_hub_after_training(tmp_path, fake_hub):
    cfg = load_config(
        [
            "--train.output-dir",
            str(tmp_path / "out"),
            *TINY,
            "--hub.push-to-hub",
            "--hub.hub-model-id",
            "me/careerpath-tiny",
        ]
    )
    out = training.run_training(cfg)
    (create, kw_create), (upload, kw_upload) = fake_hub
    assert create == "create_repo" and kw_create["repo_id"] == "me/careerpath-tiny" and kw_create["exist_ok"]
    assert upload == "upload_folder"  # a staged copy of `out` (the card re-rendered for the Hub)
    local = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert set(kw_upload["files"]) == {f for f in local if not f.startswith(("checkpoints/", "logs/"))}
    assert kw_upload["repo_id"] == "me/careerpath-tiny"
    assert {"README.md", "model.safetensors", "tokenizer.json", "metrics.json"} <= set(kw_upload["files"])
    assert "checkpoints/*" in kw_upload["ignore_patterns"]  # resumable state stays local
    for path in out.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"token leaked into {path}"


def test_push_refuses_a_folder_without_card(tmp_path, fake_hub):
    with pytest.raises(FileNotFoundError, match="README.md"):
        hub.push_to_hub(tmp_path, "me/x")
    assert fake_hub == []


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lora") / "run"
    cfg = load_config(
        ["--config", str(ROOT / "configs" / "tiny_t5_lora.yaml"), "--train.output-dir", str(out), *TINY]
    )
    return training.run_training(cfg)


@pytest.mark.slow
def test_export_merges_lora_into_standalone_model(tmp_path, lora_run):
    dest = tmp_path / "merged"
    assert export.main(["--model", str(lora_run), "--out", str(dest), "--merge"]) == 0
    names = {p.name for p in dest.iterdir()}
    assert "model.safetensors" in names and "adapter_config.json" not in names
    assert not list(dest.glob("*.bin")) and "README.md" in names
    # how the recommender makes inputs (context.json) and its catalog travel with the merged model
    src = tmp_path / "run_with_context"
    shutil.copytree(lora_run, src)
    save_context_config(ContextConfig(), src, 5, 10)
    shutil.copytree(ROOT / "tests" / "assets" / "tiny_catalog", src / "catalog")
    assert export.main(["--model", str(src), "--out", str(tmp_path / "merged2"), "--merge"]) == 0
    assert load_context_file(tmp_path / "merged2") == load_context_file(src)
    assert (tmp_path / "merged2" / "catalog" / "courses.csv").read_bytes() == (
        src / "catalog" / "courses.csv"
    ).read_bytes()
    merged = AutoModelForSeq2SeqLM.from_pretrained(dest, use_safetensors=True)
    tok = AutoTokenizer.from_pretrained(dest)
    adapter, _, _ = load_for_inference(lora_run)
    enc = tok(["goal: Cloud Engineer | job: System Administrator"], return_tensors="pt")
    labels = tok(["next_course: Linux Fundamentals"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(
            merged(**enc, labels=labels).logits, adapter(**enc, labels=labels).logits, atol=1e-4
        )


def test_export_without_merge_explains(tmp_path, lora_run, capsys):
    assert export.main(["--model", str(lora_run), "--out", str(tmp_path / "x")]) == 2
    captured = capsys.readouterr()
    assert "--merge" in captured.err and captured.out == ""  # errors go to stderr (docs/cli.md)
    assert not (tmp_path / "x").exists()
