"""The tiny T5's output layer is a matrix of its own (transformers 5 ties T5's whatever the config
says): checked on the tensors after the build, after training and after a save/load round trip."""

from __future__ import annotations

import json

import torch
from safetensors import safe_open
from transformers import AutoModelForSeq2SeqLM

from careerpath import modeling
from careerpath.config import load_config
from careerpath.modeling import SeparateHeadT5, has_separate_head, load_for_inference
from data_prep.catalog import load_catalog
from tests.conftest import ROOT, TINY_MODEL_ARGS


def _course_rows(tok, catalog) -> list[int]:
    return [tok.convert_tokens_to_ids(" " + c.title) for c in catalog.courses.values()]


def test_build_gives_a_separate_head_with_flat_course_logits(tiny_dataset):
    cfg = load_config(
        ["--config", str(ROOT / "configs" / "tiny_t5.yaml"), "--data_dir", str(tiny_dataset)]
        + TINY_MODEL_ARGS
    )
    assert cfg.model.tie_embeddings is False
    texts = [json.loads(x)["input_text"] for x in (tiny_dataset / "train.jsonl").read_text().splitlines()]
    model, tok, _ = modeling.build(cfg, texts)
    assert isinstance(model, SeparateHeadT5) and has_separate_head(model)
    emb, head = model.get_input_embeddings().weight, model.lm_head.weight
    rows = _course_rows(tok, load_catalog(tiny_dataset / "catalog"))
    # course logits start at zero (the model starts as its prior); course inputs keep their skills
    assert torch.count_nonzero(head[rows]) == 0
    assert all(torch.count_nonzero(emb[r]) > 0 for r in rows)
    # one update moves the two matrices apart: they are not one tensor
    before = emb.detach().clone()
    with torch.no_grad():
        head.add_(1.0)
    assert torch.equal(emb, before)


def test_saved_model_keeps_both_matrices_and_loads_untied(tiny_model):
    with safe_open(str(tiny_model / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
        head, shared = f.get_tensor("lm_head.weight"), f.get_tensor("shared.weight")
    assert {"lm_head.weight", "shared.weight"} <= keys and not torch.equal(head, shared)
    config = json.loads((tiny_model / "config.json").read_text())
    assert config["architectures"] == ["T5ForConditionalGeneration"] and config["separate_lm_head"] is True
    model, _, _ = load_for_inference(tiny_model)
    assert isinstance(model, SeparateHeadT5) and has_separate_head(model)
    assert torch.equal(model.lm_head.weight, head) and torch.equal(
        model.get_input_embeddings().weight, shared
    )
    # others load it with the plain Auto class, untied as well (both matrices are in the file)
    other = AutoModelForSeq2SeqLM.from_pretrained(tiny_model)
    assert has_separate_head(other) and torch.equal(other.lm_head.weight, head)
    # a re-tie (as transformers does after loading or resizing) leaves the head alone
    model.tie_weights()
    assert has_separate_head(model) and torch.equal(model.lm_head.weight, head)
